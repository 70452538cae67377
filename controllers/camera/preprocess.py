"""Camera pre-processing: what installations do to a webcam frame before (or instead of) a pix2pix model.

:class:`Preprocess` turns a BGR camera frame into the square RGB image a model takes, in this order, each
step off unless asked for: centre crop to a square (or fill/fit), resize to ``size``, mirror, grayscale, blur
(Gaussian, ``blur`` = sigma in pixels of the output), posterise (``levels`` per channel), "Learning to
See"-style down-then-up scaling (``pixelate``: the factor it shrinks by), and edges (Canny, with its two
thresholds; white lines on black, as edges2cats was trained on).

    prep = Preprocess(size=256, edges=(60, 160))
    image = prep(frame)                          # [256, 256, 3] uint8 RGB

All of it is OpenCV on the CPU, a few milliseconds at 256² (bench/camera.py measures it).
"""

from __future__ import annotations

import dataclasses
import math

import cv2
import numpy as np

MAX_SIZE = 2048


@dataclasses.dataclass(frozen=True)
class Preprocess:
    size: int = 256                              # the square side the model takes
    fit: str = "crop"                            # crop (centre square) | fit (letterbox) | stretch
    mirror: bool = True                          # a webcam is a mirror for the person in front of it
    grayscale: bool = False
    blur: float = 0.0                            # Gaussian sigma, output pixels (0: none)
    levels: int = 0                              # posterise to this many levels per channel (0: none)
    pixelate: int = 1                            # shrink by this factor and scale back up (1: none)
    edges: tuple[float, float] | None = None     # Canny thresholds (low, high); None: no edges

    def __post_init__(self) -> None:
        if not (isinstance(self.size, int) and 16 <= self.size <= MAX_SIZE):
            raise ValueError(f"size must be 16..{MAX_SIZE} pixels, got {self.size!r}")
        if self.fit not in ("crop", "fit", "stretch"):
            raise ValueError(f"fit must be crop, fit or stretch, got {self.fit!r}")
        if not (math.isfinite(self.blur) and 0 <= self.blur <= 50):
            raise ValueError(f"blur must be 0..50 pixels, got {self.blur!r}")
        if not (isinstance(self.levels, int) and (self.levels == 0 or 2 <= self.levels <= 64)):
            raise ValueError(f"levels must be 0 (off) or 2..64, got {self.levels!r}")
        if not (isinstance(self.pixelate, int) and 1 <= self.pixelate <= self.size // 2):
            raise ValueError(f"pixelate must be 1..{self.size // 2}, got {self.pixelate!r}")
        if self.edges is not None:
            low, high = self.edges
            if not (math.isfinite(low) and math.isfinite(high) and 0 <= low < high <= 2000):
                raise ValueError(f"edges must be [low, high] thresholds with 0 <= low < high <= 2000, got "
                                 f"{self.edges!r}")

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """A BGR (or gray) uint8 camera frame -> [size, size, 3] uint8 RGB."""
        if frame.ndim == 2:
            frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
        if frame.ndim != 3 or frame.shape[2] not in (3, 4) or frame.dtype != np.uint8 or min(frame.shape[:2]) < 2:
            raise ValueError(f"expected an [H, W, 3] uint8 frame, got {list(frame.shape)} {frame.dtype}")
        image = square(frame[..., :3], self.size, self.fit)
        if self.mirror:
            image = image[:, ::-1]
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        if self.grayscale:
            image = cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
        if self.blur > 0:
            image = cv2.GaussianBlur(image, (0, 0), self.blur)
        if self.levels:
            step = 255.0 / (self.levels - 1)
            image = (np.round(image / step) * step).clip(0, 255).astype(np.uint8)
        if self.pixelate > 1:
            small = max(1, self.size // self.pixelate)
            image = cv2.resize(cv2.resize(image, (small, small), interpolation=cv2.INTER_AREA),
                               (self.size, self.size), interpolation=cv2.INTER_NEAREST)
        if self.edges is not None:
            lines = cv2.Canny(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), *self.edges)
            image = cv2.cvtColor(lines, cv2.COLOR_GRAY2RGB)
        return np.ascontiguousarray(image)


def square(frame: np.ndarray, side: int, fit: str = "crop") -> np.ndarray:
    """``frame`` made [side, side]: the centre square (crop), letterboxed (fit) or squeezed (stretch)."""
    h, w = frame.shape[:2]
    if fit == "crop":
        s = min(h, w)
        y, x = (h - s) // 2, (w - s) // 2
        frame = frame[y:y + s, x:x + s]
    elif fit == "fit":
        s = max(h, w)
        padded = np.zeros((s, s, frame.shape[2]), frame.dtype)
        y, x = (s - h) // 2, (s - w) // 2
        padded[y:y + h, x:x + w] = frame
        frame = padded
    shrinking = frame.shape[0] * frame.shape[1] > side * side
    return cv2.resize(frame, (side, side), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
