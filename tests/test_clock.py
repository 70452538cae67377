"""The engine's clocks: a frame clock is exact, a wall clock moves forward."""

from __future__ import annotations

import time

import pytest

from engine.clock import FrameClock, WallClock


def test_frame_clock_is_exact():
    clock = FrameClock(fps=24)
    for _ in range(48):
        clock.advance()
    assert clock.now() == 2.0 and clock.frame == 48
    with pytest.raises(ValueError):
        FrameClock(0)


def test_wall_clock_moves_and_resets():
    clock = WallClock()
    time.sleep(0.02)
    assert clock.now() >= 0.02
    clock.reset()
    assert clock.now() < 0.02
