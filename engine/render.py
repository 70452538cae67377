"""Offline rendering: frames on a frame clock, into a video file or PNG sequence.

Frame ``i`` shows walk time ``i / fps`` — never the wall clock — so a render is a pure function of its
settings: render twice, get the same frames. Generation and encoding overlap: the generator runs on the
calling thread and hands finished frames to a writer thread through a small bounded queue, and the encoder
itself (ffmpeg) is another process. A slow encoder therefore costs nothing until the queue fills.

    stats = render_walk(walker, "walk.mp4", RenderSettings(fps=30, duration=10))
    stats.frames, round(stats.frames_per_second, 1)   # (300, 41.7)
"""

from __future__ import annotations

import dataclasses
import logging
import math
import queue
import threading
import time
from collections.abc import Callable

import numpy as np

from engine.generate import NonFiniteFrame
from engine.latent.walker import LatentWalker
from engine.video import FrameSink, OutputError, open_sink

log = logging.getLogger(__name__)
_END = object()
MAX_RENDER_FRAMES = 10_000_000      # about 3.9 days at 30 fps; beyond that a command-line typo, not a render


class RenderError(Exception):
    """A render that had to stop; the message names the frame and what was wrong (one line)."""


@dataclasses.dataclass(frozen=True)
class RenderSettings:
    fps: float = 30.0                           # frames per second of the output
    duration: float | None = None               # seconds; None = one pass of the walk
    frames: int | None = None                   # exact frame count (overrides duration)
    size: tuple[int, int] | None = None         # output (width, height); None = the model's resolution
    crf: int = 18                               # x264 quality for video outputs (lower = better, bigger)
    queue_frames: int = 8                       # frames buffered between generator and encoder

    def frame_count(self, walk_duration: float) -> int:
        if self.frames is not None:
            count = self.frames
        else:
            seconds = self.duration if self.duration is not None else walk_duration
            count = max(1, math.ceil(seconds * self.fps - 1e-9)) if math.isfinite(seconds * self.fps) else -1
        if not 1 <= count <= MAX_RENDER_FRAMES:
            raise RenderError(f"a render of {count if count > 0 else 'unbounded'} frames; at most "
                              f"{MAX_RENDER_FRAMES} (about {MAX_RENDER_FRAMES / self.fps / 86400:.1f} days at "
                              f"{self.fps:g} fps)")
        return count


@dataclasses.dataclass(frozen=True)
class RenderStats:
    frames: int
    seconds: float
    generate_seconds: float

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else float("inf")


class _WriterThread(threading.Thread):
    """Writes frames from a bounded queue into a sink; remembers the first error instead of dying silently."""

    def __init__(self, sink: FrameSink, depth: int) -> None:
        super().__init__(name="render-writer", daemon=True)
        self.sink = sink
        self.frames: queue.Queue[object] = queue.Queue(maxsize=max(1, depth))
        self.error: BaseException | None = None

    def run(self) -> None:
        while True:
            item = self.frames.get()
            if item is _END:
                return
            if self.error is None:
                try:
                    self.sink.write(item)  # type: ignore[arg-type]
                except OutputError as exc:  # reported by the render loop on its next put
                    self.error = exc
                except Exception as exc:  # a sink's own failure (cv2, a full disk): one line with the path
                    message = str(exc).splitlines()[0] if str(exc) else ""
                    self.error = OutputError(f"{self.sink.path}: writing frame {self.sink.frames_written} failed "
                                             f"({type(exc).__name__}: {message[:160]})")

    def put(self, frame: np.ndarray) -> None:
        if self.error is not None:
            raise self.error
        self.frames.put(frame)


def render_frames(produce: Callable[[int, float], np.ndarray], total: int, output: str | FrameSink,
                  size: tuple[int, int], settings: RenderSettings,
                  progress: Callable[[int], None] | None = None) -> RenderStats:
    """The render loop: ``produce(i, t)`` makes frame ``i`` (t = i / fps) on this thread, a writer thread
    encodes. ``output`` is a path or a sink from :func:`open_sink` (which this closes)."""
    sink = open_sink(output, settings.fps, size, settings.crf) if isinstance(output, str) else output
    if sink.size != size:
        sink.close()
        raise ValueError(f"the sink is {sink.size}, the render is {size}")
    writer = _WriterThread(sink, settings.queue_frames)
    writer.start()
    start = time.perf_counter()
    generating = 0.0
    try:
        for i in range(total):
            t0 = time.perf_counter()
            try:
                frame = produce(i, i / settings.fps)
            except NonFiniteFrame as exc:  # the frame guard: never a black or garbage frame in a video
                raise RenderError(f"frame {i} (t = {i / settings.fps:.3f} s): {exc}; stopped with {i} frames "
                                  f"written to {sink.path}") from None
            except (RenderError, OutputError):
                raise
            except Exception as exc:  # offline is deterministic: say which frame, keep the trace for -v
                log.debug("frame %d failed", i, exc_info=True)
                message = str(exc).splitlines()[0] if str(exc) else ""
                raise RenderError(f"frame {i} (t = {i / settings.fps:.3f} s): {type(exc).__name__}: {message[:200]}; "
                                  f"stopped with {i} frames written to {sink.path} (-v shows where)") from None
            generating += time.perf_counter() - t0
            writer.put(frame)
            if progress is not None:
                progress(i + 1)
    finally:
        writer.frames.put(_END)
        writer.join()
        sink.close()
    if writer.error is not None:
        raise writer.error
    return RenderStats(frames=total, seconds=time.perf_counter() - start, generate_seconds=generating)


def render_walk(walker: LatentWalker, output: str | FrameSink, settings: RenderSettings,
                progress: Callable[[int], None] | None = None, fit: str | None = None,
                chain: tuple[str, ...] | None = None) -> RenderStats:
    """Render ``walker`` to ``output`` (a path, or a sink from :func:`open_sink`, which this closes) through
    the session's one frame step, so ``fit`` and the effect ``chain`` (the session's defaults when None)
    behave as they do live.

    ``progress(n)`` is called after each frame with the number of frames done.
    """
    from engine.session import Session, SessionConfig
    return Session.from_parts(walker.G, walker=walker, config=SessionConfig(fit=fit, chain=chain)).render(
        output, settings, progress=progress)
