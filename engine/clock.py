"""One injectable clock for the engine: wall time for live runs, a frame clock for offline renders.

Everything that depends on time (walks, fades, effects) asks a clock, never ``time.time()`` directly, so the
same code runs live and renders deterministically:

    >>> clock = FrameClock(fps=30)
    >>> clock.advance(); clock.advance(); clock.now()
    0.06666666666666667
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the clock started."""
        ...


class WallClock:
    """Monotonic wall time since construction (or since :meth:`reset`)."""

    def __init__(self) -> None:
        self._start = time.perf_counter()

    def now(self) -> float:
        return time.perf_counter() - self._start

    def reset(self) -> None:
        self._start = time.perf_counter()


class FrameClock:
    """Time in whole frames: frame n is at n / fps, whatever the wall clock says."""

    def __init__(self, fps: float) -> None:
        if not fps > 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.fps = fps
        self.frame = 0

    def now(self) -> float:
        return self.frame / self.fps

    def advance(self) -> None:
        self.frame += 1
