"""The generator in its own process: on a CPU-only machine, torch and software GL no longer share one GIL.

:class:`ProcessWorker` offers what :class:`~engine.worker.GeneratorWorker` offers (``request``, ``frames``,
``status``, ``start``, ``stop``), so the live loop cannot tell them apart. Behind it is the frame producers'
transport, :class:`engine.shared_process.SharedProcess`:

* a child process (``spawn``: nothing of the parent's state, GL or threads is inherited) loads the model
  itself and runs the generator with its own thread budget;
* a request is plain numpy W (with the walk time and the noise settings) written into a shared-memory slot;
  the newest request wins, and a request never waits for a frame;
* frames come back through shared-memory slots and are copied out by a reader thread;
* a child that dies (a crash, the out-of-memory killer, a kill) is reported in the status (the HUD shows it)
  and started again, with a growing pause while it keeps dying; the last good frame stays on screen.

    worker = ProcessWorker(G, model="ffhq.pkl", device="cpu", precision="fp32", threads=1).start()
    worker.request(walker.frame_at(t))          # every display frame, never blocks
    frame = worker.frames.latest()
    worker.stop()
"""

from __future__ import annotations

import logging
import struct
import threading
import time
from typing import Any

import numpy as np

from engine.latent.walker import WalkFrame
from engine.logs import Throttle
from engine.models.config import NOISE_MODES
from engine.shared_process import ProblemKind, SharedProcess, Skipped
from engine.worker import FrameQueue, GeneratedFrame, WorkerStatus

log = logging.getLogger(__name__)
_throttle = Throttle(log)

# A request's payload: the walk time, the noise mode and the noise seed, then W as float32.
_REQUEST = struct.Struct("<diq")


class ProcessWorker:
    """The generator worker that runs the generator in a child process (see the module docstring)."""

    def __init__(self, G: Any, model: str, device: str = "cpu", precision: str = "fp32", threads: int = 1) -> None:
        self.model, self.device, self.precision, self.threads = model, device, precision, threads
        self.num_ws, self.w_dim, self.resolution = G.num_ws, G.w_dim, G.img_resolution
        self.frames = FrameQueue(2)
        self.status = WorkerStatus(resolution=G.img_resolution, device=device, precision=precision)
        self._posted: dict[int, float] = {}
        self._posted_lock = threading.Lock()
        self._process = SharedProcess(
            _GeneratorJob, (model, device, precision, threads, self.num_ws, self.w_dim),
            request_bytes=_REQUEST.size + self.num_ws * self.w_dim * 4,
            result_bytes=self.resolution * self.resolution * 3, name="generator",
            on_ready=self._ready, on_result=self._frame, on_problem=self._problem)
        self._running = False

    def start(self) -> ProcessWorker:
        self._running = True
        self._process.start()
        return self

    @property
    def alive(self) -> bool:
        return self._running

    @property
    def ready(self) -> threading.Event:
        return self._process.ready

    @property
    def restarts(self) -> int:
        return self._process.restarts

    @property
    def pid(self) -> int | None:
        """The generator process's id (None when none runs): for benchmarks that watch its memory."""
        return self._process.pid

    @property
    def shared_memory_names(self) -> tuple[str, str]:
        return self._process.names

    def request(self, frame: WalkFrame) -> int:
        """Ask for a frame: the W goes into the request slot (the newest wins). Never waits for the child,
        whatever state it is in (busy, hung, dead)."""
        ws = np.ascontiguousarray(frame.ws.detach().to("cpu").numpy().reshape(self.num_ws, self.w_dim),
                                  dtype=np.float32)
        payload = _REQUEST.pack(float(frame.t), NOISE_MODES.index(frame.noise_mode),
                                int(frame.noise_seed) % (2 ** 63)) + ws.tobytes()
        with self._posted_lock:                  # the sequence and its posting time, as one step
            sequence = self._process.submit(payload)
            if len(self._posted) > 64:
                self._posted.clear()
            self._posted[sequence] = time.perf_counter()
        return sequence

    def stop(self, timeout: float = 10.0) -> None:
        """End the child, the reader thread, and the shared memory."""
        self._running = False
        self._process.stop(timeout)

    # the reader thread's handlers
    def _ready(self, info: tuple[Any, ...]) -> None:
        self.status.resolution, self.status.device, self.status.precision = info

    def _frame(self, rgb: np.ndarray, sequence: int, tag: int, meta: tuple[Any, ...], seconds: float) -> None:
        if rgb.shape != (self.resolution, self.resolution, 3) or rgb.dtype != np.uint8:
            self._problem(f"a frame of {rgb.dtype} {list(rgb.shape)}; expected {self.resolution}² RGB", "error")
            return
        with self._posted_lock:
            posted = self._posted.get(sequence, time.perf_counter())
        self.status.frames += 1
        self.status.last_frame_seconds = seconds
        self.frames.put(GeneratedFrame(rgb=rgb, stamp=float(meta[0]), sequence=sequence,
                                       latency=time.perf_counter() - posted))

    def _problem(self, message: str, kind: ProblemKind) -> None:
        self.status.errors += 1
        self.status.last_error = message.splitlines()[0] if message else "error"
        self.status.last_error_at = time.perf_counter()
        _throttle.error("generator process", "generator: %s", self.status.last_error)


class _GeneratorJob:
    """Runs in the generator process: the model loaded there, one W in, one frame out."""

    def __init__(self, model: str, device: str, precision: str, threads: int, num_ws: int, w_dim: int) -> None:
        import torch

        from engine.generate import FrameSynthesizer
        from engine.models import load_generator
        torch.set_num_threads(max(1, threads))
        G = load_generator(model, device=device, precision=precision)
        self.synthesizer = FrameSynthesizer(G)
        self.num_ws, self.w_dim = num_ws, w_dim
        self.info = (G.img_resolution, G.device.type, G.precision)

    def __call__(self, payload: bytes) -> tuple[np.ndarray, tuple[Any, ...]]:
        import torch

        from engine.generate import NonFiniteFrame
        t, noise, seed = _REQUEST.unpack_from(payload, 0)
        ws = np.frombuffer(payload, np.float32, offset=_REQUEST.size).reshape(1, self.num_ws, self.w_dim)
        frame = WalkFrame(t=t, ws=torch.from_numpy(ws.copy()), noise_mode=NOISE_MODES[noise],  # type: ignore[arg-type]
                          noise_seed=seed)
        try:
            return self.synthesizer.render(frame), (t,)
        except NonFiniteFrame as exc:
            raise Skipped(f"frame skipped: {exc}") from exc
