"""The camera's pix2pix model in a process of its own, beside the StyleGAN generator: the newest frame wins.

A real pix2pix generator takes 76–440 ms a frame on two CPU cores (bench/camera.py). Run on the camera's
thread it would hold the features back and share the engine's process with GL; here it runs behind the frame
producers' transport (:class:`engine.shared_process.SharedProcess`, the one the StyleGAN process worker uses)
in a spawned child with its own torch threads (one by default, so the walk keeps its cores). The camera thread
only *offers* it the newest pre-processed image through shared memory: if the model is busy, the offer replaces
the one waiting, so the model always works on the latest frame and never builds a backlog. Results come back
through shared memory as they are ready.

    model = ModelProcess("latest_net_G.pth", {"batchnorm": "frame"}, side=256)
    model.offer(image, sequence)           # RGB uint8 [256, 256, 3], from the camera thread; never waits
    result = model.poll()                  # (RGB uint8, the sequence it came from) or None

A model that cannot load is reported once and not tried again (the layer shows the pre-processed camera); a
child that dies is reported and started again, after a pause that grows while it keeps dying
(:data:`engine.shared_process.RESTART_PAUSES`). Offline renders run the model in-line instead, for
repeatability.
"""

from __future__ import annotations

import logging
import struct
import threading
from typing import Any

import numpy as np

from engine.shared_process import ProblemKind, SharedProcess

log = logging.getLogger(__name__)

MAX_SIDE = 2048
_SHAPE = struct.Struct("<ii")                 # an offered image's height and width, before its pixels


class ModelProcess:
    """The camera's side (see the module docstring): ``offer`` and ``poll`` from the camera thread."""

    def __init__(self, path: str, options: dict[str, Any] | None = None, side: int = 256, threads: int = 1) -> None:
        if not 16 <= side <= MAX_SIDE:
            raise ValueError(f"side must be 16..{MAX_SIDE}, got {side}")
        self.path, self.options, self.side, self.threads = path, dict(options or {}), side, threads
        self.problem: str | None = None
        self.running: str | None = None          # how the child runs the model, once it is ready
        self.frames = 0
        self.model_ms = 0.0
        self._result: tuple[np.ndarray, int] | None = None
        self._lock = threading.Lock()
        self._process = SharedProcess(
            _Pix2PixJob, (path, self.options, side, threads), request_bytes=_SHAPE.size + side * side * 3,
            result_bytes=side * side * 3, name="camera-model", on_ready=self._ready, on_result=self._frame,
            on_problem=self._problem, retry_failed_start=False).start()

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def offer(self, image: np.ndarray, sequence: int) -> None:
        """The newest image for the model, written to its request slot (replacing any it has not taken)."""
        if image.ndim != 3 or image.shape[2] != 3 or max(image.shape[:2]) > self.side:
            raise ValueError(f"expected an [H, W, 3] image of at most {self.side}², got {list(image.shape)}")
        if self._process.failed:
            return
        pixels = np.ascontiguousarray(image, np.uint8)
        self._process.submit(_SHAPE.pack(*pixels.shape[:2]) + pixels.tobytes(), tag=sequence)

    def poll(self) -> tuple[np.ndarray, int] | None:
        """The newest result: (RGB uint8, the sequence of the camera frame it came from), or None yet."""
        with self._lock:
            return self._result

    def status(self) -> str:
        if self.problem:
            return f"model: {self.problem if len(self.problem) <= 160 else '…' + self.problem[-159:]}"
        if self.running is None:
            return "model: loading"
        return f"pix2pix {self.frames} frames ({self.model_ms:.0f} ms each, {self.running}, own process)"

    def close(self) -> None:
        self._process.stop()

    # the transport's reader thread
    def _ready(self, info: tuple[Any, ...]) -> None:
        self.running, self.problem = str(info[0]), None
        log.info("camera model %s: %s, in its own process", self.path, self.running)

    def _frame(self, rgb: np.ndarray, sequence: int, tag: int, meta: tuple[Any, ...], seconds: float) -> None:
        with self._lock:
            self._result = (rgb, tag)
        self.problem = None
        self.frames, self.model_ms = self.frames + 1, seconds * 1000

    def _problem(self, message: str, kind: ProblemKind) -> None:
        if kind == "fatal":
            log.error("camera model: %s; the camera layer shows the pre-processed image", message)
        elif message != self.problem:
            log.warning("camera model: %s", message)
        self.problem = message
        if kind != "error":                          # it could not load, or its process is gone
            self.running = None


class _Pix2PixJob:
    """Runs in the model's process: the checkpoint loaded there, one camera image in, one image out."""

    def __init__(self, path: str, options: dict[str, Any], side: int, threads: int) -> None:
        import torch

        from engine.models.pix2pix import Pix2PixRunner, load_pix2pix
        torch.set_num_threads(max(1, threads))
        self.runner = Pix2PixRunner(load_pix2pix(path, **options), side=side)
        self.info = (self.runner.path,)

    def __call__(self, payload: bytes) -> tuple[np.ndarray, tuple[Any, ...]]:
        height, width = _SHAPE.unpack_from(payload, 0)
        image = np.frombuffer(payload, np.uint8, offset=_SHAPE.size).reshape(height, width, 3).copy()
        return self.runner.image(image), ()
