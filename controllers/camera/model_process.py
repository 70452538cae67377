"""The camera's pix2pix model in a process of its own, beside the StyleGAN generator: the newest frame wins.

A real pix2pix generator takes 76–440 ms a frame on two CPU cores (bench/camera.py). Run on the camera's
thread it would hold the features back and share the engine's process with GL; here it runs in a spawned
child with its own torch threads (one by default, so the walk keeps its cores), and the camera thread only
*offers* it the newest pre-processed image: if the model is busy, the offer replaces the one waiting, so the
model always works on the latest frame and never builds a backlog. Results come back as they are ready.

    model = ModelProcess("latest_net_G.pth", {"batchnorm": "frame"}, side=256)
    model.offer(image, sequence)           # RGB uint8 [256, 256, 3], from the camera thread; never waits
    result = model.poll()                  # (RGB uint8, the sequence it came from) or None

A child that fails to load is reported (the layer shows the pre-processed camera); one that dies is started
again after :data:`RESTART_SECONDS`. Offline renders run the model in-line instead, for repeatability.
"""

from __future__ import annotations

import logging
import multiprocessing
import time
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

RESTART_SECONDS = 5.0
MAX_SIDE = 2048


def run(connection: Any, path: str, options: dict[str, Any], side: int, threads: int) -> None:
    """The child's main: load, say how it runs, then one image in, one image out."""
    import torch

    from engine.models.pix2pix import Pix2PixRunner, load_pix2pix
    torch.set_num_threads(threads)
    try:
        runner = Pix2PixRunner(load_pix2pix(path, **options), side=side)
    except Exception as exc:                    # Pix2PixError and anything else: reported, then the child ends
        text = str(exc).strip().splitlines()
        try:
            connection.send(("error", (text[0] if text else type(exc).__name__)[:300]))
        except (OSError, BrokenPipeError):
            pass
        return
    try:
        connection.send(("ready", runner.path))
    except (OSError, BrokenPipeError):
        return
    while True:
        try:
            message = connection.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        sequence, shape, data = message
        started = time.perf_counter()
        out = runner.image(np.frombuffer(data, np.uint8).reshape(shape).copy())
        try:
            connection.send(("frame", sequence, out.shape, out.tobytes(), (time.perf_counter() - started) * 1000))
        except (OSError, BrokenPipeError):      # the engine closed its end: done
            return


class ModelProcess:
    """The parent's side (see the module docstring). All methods are for one thread: the camera's."""

    def __init__(self, path: str, options: dict[str, Any] | None = None, side: int = 256, threads: int = 1) -> None:
        self.path, self.options, self.side, self.threads = path, dict(options or {}), side, threads
        self.problem: str | None = None
        self.running: str | None = None          # how the child runs the model, once it is ready
        self.frames = 0
        self.model_ms = 0.0
        self._process: Any = None
        self._connection: Any = None
        self._busy = False
        self._waiting: tuple[np.ndarray, int] | None = None
        self._result: tuple[np.ndarray, int] | None = None
        self._died_at: float | None = None
        self._failed = False                     # it could not load: no restarts
        self._start()

    def _start(self) -> None:
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe(duplex=True)
        self._process = context.Process(target=run, args=(child, self.path, self.options, self.side, self.threads),
                                        name="latentstage-camera-model", daemon=True)
        self._process.start()
        child.close()
        self._connection, self._busy, self.running = parent, True, None   # busy until it says ready

    def offer(self, image: np.ndarray, sequence: int) -> None:
        """The newest image for the model: sent now if it is idle, else it waits (replacing any older one)."""
        if image.ndim != 3 or max(image.shape[:2]) > MAX_SIDE:
            raise ValueError(f"expected an [H, W, 3] image of at most {MAX_SIDE}², got {list(image.shape)}")
        self._waiting = (image, sequence)
        self.poll()

    def poll(self) -> tuple[np.ndarray, int] | None:
        """Take what the child sent; send the waiting image if it is idle; the newest result (or None)."""
        if self._failed:
            return self._result
        if self._process is None or not self._process.is_alive():
            self._restart()
            return self._result
        try:
            while self._connection.poll():
                message = self._connection.recv()
                if message[0] == "ready":
                    self.running, self._busy = str(message[1]), False
                    self.problem = None
                    log.info("camera model %s: %s, in its own process", self.path, self.running)
                elif message[0] == "error":
                    self.problem, self._failed = str(message[1]), True
                    log.error("camera model: %s; the camera layer shows the pre-processed image", self.problem)
                    return self._result
                elif message[0] == "frame":
                    _, sequence, shape, data, ms = message
                    self._result = (np.frombuffer(data, np.uint8).reshape(shape), int(sequence))
                    self.frames, self.model_ms, self._busy = self.frames + 1, float(ms), False
            if not self._busy and self._waiting is not None:
                image, sequence = self._waiting
                self._waiting = None
                self._connection.send((sequence, image.shape, np.ascontiguousarray(image, np.uint8).tobytes()))
                self._busy = True
        except (EOFError, OSError, BrokenPipeError):
            self._restart()
        return self._result

    def _restart(self) -> None:
        """A child that died is reported, and started again after RESTART_SECONDS."""
        now = time.monotonic()
        if self._died_at is None:
            self._died_at = now
            self.problem = "the model's process stopped; starting it again"
            log.warning("camera model: %s", self.problem)
            self._close_child()
        elif now - self._died_at >= RESTART_SECONDS:
            self._died_at = None
            self._start()

    def status(self) -> str:
        if self.problem:
            return f"model: {self.problem if len(self.problem) <= 160 else '…' + self.problem[-159:]}"
        if self.running is None:
            return "model: loading"
        return f"pix2pix {self.frames} frames ({self.model_ms:.0f} ms each, {self.running}, own process)"

    def _close_child(self) -> None:
        if self._connection is not None:
            try:
                self._connection.send(None)
            except (OSError, BrokenPipeError):
                pass
            self._connection.close()
            self._connection = None
        if self._process is not None:
            self._process.join(1.0)
            if self._process.is_alive():
                self._process.terminate()
                self._process.join(2.0)
            self._process = None

    def close(self) -> None:
        self._failed = True
        self._close_child()
