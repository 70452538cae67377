"""Camera features: what a visitor in front of the camera does, as ``camera.*`` sources.

:class:`CameraFeatures` works on a small grayscale copy of each frame (64 pixels wide: cheap, and blind to
sensor noise) and measures:

- ``camera.motion``: motion energy, the mean absolute difference from the previous frame, through an adaptive
  range (as the audio features: a min and max relaxing with a half-life), 0..1;
- ``camera.presence``: how much of the picture differs from the empty scene, learned over the first
  ``learn`` seconds (the room before anyone walks in) and then updated very slowly where nothing moves;
- ``camera.brightness``: mean luminance, 0..1;
- ``camera.x``, ``camera.y``: the centre of the motion (0..1, y down, as the camera sees it; mirrored when
  the picture is), held where it was while nothing moves.

    features = CameraFeatures()
    values = features.process(frame, time)       # {"motion": 0.4, "presence": 0.1, ...}
"""

from __future__ import annotations

import math

import cv2
import numpy as np

WIDTH = 64                  # the analysis copy's width
NOISE = 4.0                 # grey levels of difference below which a pixel counts as unchanged
MIN_MOTION_SPAN = 2.0       # grey levels: the adaptive range of motion never shrinks below this


class CameraFeatures:
    def __init__(self,
                 learn: float = 3.0,              # seconds of empty room learned as the background
                 adapt: float = 30.0,             # half-life (s) of motion's adaptive range
                 background_half_life: float = 120.0,   # how slowly the still background follows the room
                 mirror: bool = True,
                 ) -> None:
        self.learn, self.adapt, self.background_half_life, self.mirror = learn, adapt, background_half_life, mirror
        self._previous: np.ndarray | None = None
        self._background: np.ndarray | None = None
        self._learned = 0
        self._start: float | None = None
        self._last: float | None = None
        self._low: float | None = None
        self._high: float | None = None
        self.x, self.y = 0.5, 0.5

    def process(self, frame: np.ndarray, time: float) -> dict[str, float]:
        """One BGR (or gray) uint8 frame at ``time`` (seconds) -> the features."""
        gray = frame if frame.ndim == 2 else cv2.cvtColor(frame[..., :3], cv2.COLOR_BGR2GRAY)
        h, w = gray.shape
        small = cv2.resize(gray, (WIDTH, max(1, round(WIDTH * h / max(w, 1)))), interpolation=cv2.INTER_AREA)
        small = cv2.GaussianBlur(small.astype(np.float32), (0, 0), 1.0)
        if self.mirror:
            small = small[:, ::-1]
        dt = 0.0 if self._last is None else max(0.0, time - self._last)
        self._last = time
        if self._start is None:
            self._start = time
        brightness = float(small.mean()) / 255.0
        moving = np.zeros_like(small)
        if self._previous is not None and self._previous.shape == small.shape:
            moving = np.abs(small - self._previous)
        self._previous = small
        energy = float(moving.mean())
        motion = self._scale(energy, dt)
        mask = np.maximum(moving - NOISE, 0.0)
        if mask.sum() > mask.size * 0.05:               # enough moves to place it
            ys, xs = np.mgrid[0:small.shape[0], 0:small.shape[1]]
            self.x = float((mask * xs).sum() / mask.sum()) / max(1, small.shape[1] - 1)
            self.y = float((mask * ys).sum() / mask.sum()) / max(1, small.shape[0] - 1)
        presence = self._presence(small, moving, time, dt)
        return {"motion": motion, "presence": presence, "brightness": brightness, "x": self.x, "y": self.y}

    def _scale(self, energy: float, dt: float) -> float:
        if self._low is None or self._high is None:
            self._low = self._high = energy
        elif dt > 0:
            k = -math.expm1(-dt * math.log(2) / self.adapt)
            self._low, self._high = self._low + (energy - self._low) * k, self._high + (energy - self._high) * k
        self._low, self._high = min(self._low, energy), max(self._high, energy)
        span = max(self._high - self._low, MIN_MOTION_SPAN)
        return min(1.0, max(0.0, (energy - self._low) / span))

    def _presence(self, small: np.ndarray, moving: np.ndarray, time: float, dt: float) -> float:
        assert self._start is not None
        if self._background is None or self._background.shape != small.shape:
            self._background, self._learned = small.copy(), 1
            return 0.0
        if time - self._start <= self.learn:               # the empty room: averaged as it comes
            self._learned += 1
            self._background += (small - self._background) / self._learned
            return 0.0
        differs = np.abs(small - self._background) > 3 * NOISE
        still = moving < NOISE
        if dt > 0:                                          # light changes over a day: follow where it is still
            k = -math.expm1(-dt * math.log(2) / self.background_half_life)
            self._background[still] += (small[still] - self._background[still]) * k
        return float(differs.mean())

    def relearn(self) -> None:
        """Learn the empty scene again from the next frames (the ``baseline`` command)."""
        self._background, self._start = None, None
