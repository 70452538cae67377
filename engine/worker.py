"""The generator worker: runs the generator on its own thread, newest request wins, never raises.

The display loop must never wait for the generator (DESIGN.md, section 1). So the frame loop only *posts*
requests, and the worker keeps at most one pending: a request that arrives while a frame is being made
replaces the older pending one (a backlog would only add latency). Finished frames go into a
:class:`FrameQueue` of two that drops the oldest, and each carries the stamp of the request it answers, so the
compositor can blend the two latest frames by time.

    worker = GeneratorWorker(FrameSynthesizer(G)).start()
    worker.request(walker.frame_at(clock.now()))                  # every display frame
    frame = worker.frames.latest()                                # None until the first one
    worker.stop()

An exception while generating is logged and recorded in :attr:`GeneratorWorker.status` (for the HUD); the
worker goes on with the next request, and the last good frame stays where it is.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import threading
import time

import numpy as np

from engine.generate import FrameSynthesizer, NonFiniteFrame
from engine.latent.walker import WalkFrame
from engine.logs import Throttle

log = logging.getLogger(__name__)
_throttle = Throttle(log)


@dataclasses.dataclass(frozen=True)
class GeneratedFrame:
    """One generated image and what it answers."""

    rgb: np.ndarray             # [H, W, 3] uint8
    stamp: float                # walk time of the request (engine clock)
    sequence: int               # request number, increasing
    latency: float              # seconds from the request being posted to the frame being ready


class FrameQueue:
    """A thread-safe queue of the newest ``size`` frames: putting into a full queue drops the oldest."""

    def __init__(self, size: int = 2) -> None:
        if size < 1:
            raise ValueError(f"size must be >= 1, got {size}")
        self._frames: collections.deque[GeneratedFrame] = collections.deque(maxlen=size)
        self._lock = threading.Lock()
        self.dropped = 0

    def put(self, frame: GeneratedFrame) -> None:
        with self._lock:
            if len(self._frames) == self._frames.maxlen:
                self.dropped += 1
            self._frames.append(frame)

    def latest(self) -> GeneratedFrame | None:
        with self._lock:
            return self._frames[-1] if self._frames else None

    def snapshot(self) -> list[GeneratedFrame]:
        """The frames held, oldest first (for blending the two latest)."""
        with self._lock:
            return list(self._frames)


@dataclasses.dataclass
class WorkerStatus:
    """What the HUD and OSC status show about the generator."""

    frames: int = 0                     # frames generated since start
    errors: int = 0                     # generation attempts that raised
    superseded: int = 0                 # requests replaced before they were started
    last_error: str | None = None       # the most recent error, as one line
    last_error_at: float = 0.0          # time.perf_counter() of that error (the HUD shows recent ones)
    last_frame_seconds: float = 0.0     # generation time of the most recent frame
    resolution: int = 0                 # the generator's: what it makes (pixels a side), where, in what precision
    device: str = ""
    precision: str = ""

    def recent_error(self, within: float = 10.0) -> str | None:
        """The last error if it happened less than ``within`` seconds ago."""
        if self.last_error is not None and time.perf_counter() - self.last_error_at < within:
            return self.last_error
        return None


class GeneratorWorker:
    """Owns the generator thread. ``request`` never blocks for longer than a lock hand-over."""

    def __init__(self, synthesizer: FrameSynthesizer, frames: FrameQueue | None = None) -> None:
        self.synthesizer = synthesizer
        self.frames = frames or FrameQueue(2)
        self.status = _status_of(synthesizer)
        self._pending: tuple[WalkFrame, int, float] | None = None
        self._sequence = 0
        self._wake = threading.Condition()
        self._running = False
        self._thread: threading.Thread | None = None

    def start(self) -> GeneratorWorker:
        if self._thread is not None:
            raise RuntimeError("the generator worker is already running")
        self._running = True
        self._thread = threading.Thread(target=self._run, name="generator-worker", daemon=True)
        self._thread.start()
        return self

    def request(self, frame: WalkFrame) -> int:
        """Ask for a frame; replaces any request not yet started. Returns the request's sequence number."""
        with self._wake:
            self._sequence += 1
            if self._pending is not None:
                self.status.superseded += 1
            self._pending = (frame, self._sequence, time.perf_counter())
            self._wake.notify()
            return self._sequence

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the frame in progress (if any) and join the thread."""
        with self._wake:
            self._running = False
            self._wake.notify()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.error("the generator worker did not stop within %.1f s", timeout)
            self._thread = None

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        while True:
            with self._wake:
                while self._running and self._pending is None:
                    self._wake.wait()
                if not self._running:
                    return
                assert self._pending is not None
                frame, sequence, posted = self._pending
                self._pending = None
            started = time.perf_counter()
            try:
                rgb = self.synthesizer.render(frame)
            except NonFiniteFrame as exc:  # the frame guard: the last good frame stays on screen
                self._fail(f"frame skipped: {exc}", traceback=False)
                continue
            except Exception as exc:  # reported, never raised: the display keeps the last good frame
                self._fail(f"{type(exc).__name__}: {exc}", traceback=True)
                continue
            done = time.perf_counter()
            self.status.frames += 1
            self.status.last_frame_seconds = done - started
            self.frames.put(GeneratedFrame(rgb=rgb, stamp=frame.t, sequence=sequence, latency=done - posted))

    def _fail(self, message: str, traceback: bool) -> None:
        line = message.splitlines()[0] if message else "error"
        self.status.errors += 1
        self.status.last_error = line
        self.status.last_error_at = time.perf_counter()
        _throttle.error("generator", "generator: %s", line, exc_info=traceback)


class SyncWorker:
    """The producer of offline renders: each request is generated at once, on the calling thread, so every
    output frame shows exactly the W its frame asked for (no newest-wins, no blending). It offers the same
    ``request`` / ``frames`` / ``status`` as :class:`GeneratorWorker`, so the live loop's frame step runs
    offline unchanged; a failure is raised (an offline render stops at the frame that failed)."""

    def __init__(self, synthesizer: FrameSynthesizer) -> None:
        self.synthesizer = synthesizer
        self.frames = FrameQueue(2)
        self.status = _status_of(synthesizer)
        self._sequence = 0

    def start(self) -> SyncWorker:
        return self

    def stop(self, timeout: float = 0.0) -> None:
        pass

    @property
    def alive(self) -> bool:
        return True

    def request(self, frame: WalkFrame) -> int:
        self._sequence += 1
        started = time.perf_counter()
        rgb = self.synthesizer.render(frame)          # NonFiniteFrame and the rest propagate
        done = time.perf_counter()
        self.status.frames += 1
        self.status.last_frame_seconds = done - started
        self.frames.put(GeneratedFrame(rgb=rgb, stamp=frame.t, sequence=self._sequence, latency=0.0))
        return self._sequence


def _status_of(synthesizer: FrameSynthesizer) -> WorkerStatus:
    G = synthesizer.G
    return WorkerStatus(resolution=G.img_resolution, device=G.device.type, precision=G.precision)
