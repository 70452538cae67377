"""Measures of a picture worth looking at: what tells structure from blur, blobs, grain and a flat frame.

Each takes RGB uint8 images ([H, W, 3], or a batch [N, H, W, 3]) and returns one number; :func:`measure`
gives them all for a set of frames, as ``bench/look.py`` prints them for any model and the default model's
tests check them. Luminance is Rec. 709 on values in 0..1. Medians over ten photographs that scikit-image
ships (three of them grey, hence their low colourfulness) and over sixteen seeds of the old seeded default
(at psi 0.7, 256²), as ``bench/look.py`` measured them:

==================  ==========================================================  ======  ===========
measure             what it is                                                  photos  old default
==================  ==========================================================  ======  ===========
spectral_slope      slope of log power over log frequency, 4..64 cycles         -2.67   -3.45 (blur)
edge_ratio          RMS neighbour-difference gradient / the image's std          0.40    0.06
border_ratio        variance in the 8-pixel border band / the whole's            0.77    0.32 (frame)
diversity           RMS distance between images at 32×32, RGB 0..1               0.35    0.26
colourfulness       Hasler and Süsstrunk's M, RGB 0..255                         39      126 (garish)
gradient_kurtosis   kurtosis of the Sobel gradients (Gaussian: 3)                21.7    8.4
coherence           structure tensor (σ 2), (λ1-λ2)/(λ1+λ2) weighted by λ1+λ2    0.74    0.91 (ramps)
==================  ==========================================================  ======  ===========

:data:`FLOOR` is what a default model must clear on sixteen seeds.

Edges and calm areas make gradients heavy-tailed (high kurtosis); grain makes them Gaussian (3) and its
structure tensor incoherent; smooth colour ramps are perfectly coherent. The frame-to-frame change of a walk
(:func:`step_change`) is the diversity measure between consecutive frames.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from scipy import ndimage

LUMA = np.array([0.2126, 0.7152, 0.0722], np.float64)
BORDER = 8
DIVERSITY_SIDE = 32
SLOPE_BAND = (4.0, 64.0)          # cycles per image
COHERENCE_SIGMA = 2.0


def _batch(images: np.ndarray) -> np.ndarray:
    array = np.asarray(images)
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4 or array.shape[-1] != 3 or array.dtype != np.uint8:
        raise ValueError(f"expected RGB uint8 images [N, H, W, 3], got {array.dtype} {list(array.shape)}")
    return array


def luminance(image: np.ndarray) -> np.ndarray:
    """Rec. 709 luminance of one RGB uint8 image, float64 in 0..1."""
    return (np.asarray(image, np.float64) / 255.0) @ LUMA


def spectral_slope(image: np.ndarray) -> float:
    """The slope of the radially averaged power spectrum (log-log) between 4 and 64 cycles per image, after a
    Hann window: about -2 for natural images, steeper for blur."""
    y = luminance(image)
    h, w = y.shape
    window = np.outer(np.hanning(h), np.hanning(w))
    power = np.abs(np.fft.fftshift(np.fft.fft2((y - y.mean()) * window))) ** 2
    fy, fx = np.meshgrid(np.arange(h) - h // 2, np.arange(w) - w // 2, indexing="ij")
    radius = np.sqrt(fx ** 2 * (h / w) ** 2 + fy ** 2)  # cycles per image along the height
    bins = np.arange(int(SLOPE_BAND[0]), int(SLOPE_BAND[1]) + 1)
    index = np.rint(radius).astype(int)
    sums = np.bincount(index.ravel(), power.ravel(), minlength=bins[-1] + 1)
    counts = np.bincount(index.ravel(), minlength=bins[-1] + 1)
    radial = sums[bins] / np.maximum(counts[bins], 1)
    keep = radial > 0
    if keep.sum() < 2:
        return float("nan")
    return float(np.polyfit(np.log(bins[keep]), np.log(radial[keep]), 1)[0])


def edge_ratio(image: np.ndarray) -> float:
    """The RMS length of the neighbour-difference gradient (horizontal and vertical differences together) over
    the image's standard deviation (luminance): how much of the picture's contrast sits at the finest scale."""
    y = luminance(image)
    std = y.std()
    if std < 1e-9:
        return 0.0
    dx, dy = np.diff(y, axis=1), np.diff(y, axis=0)
    return float(math.sqrt(np.mean(dx ** 2) + np.mean(dy ** 2)) / std)


def border_ratio(image: np.ndarray, band: int = BORDER) -> float:
    """Variance of luminance in the ``band``-pixel frame round the image over the whole image's: well below 1
    when every picture sits in a flat frame."""
    y = luminance(image)
    whole = y.var()
    if whole < 1e-12:
        return 1.0
    mask = np.zeros(y.shape, bool)
    mask[:band], mask[-band:], mask[:, :band], mask[:, -band:] = True, True, True, True
    return float(y[mask].var() / whole)


def colourfulness(image: np.ndarray) -> float:
    """Hasler and Süsstrunk's colourfulness (RGB 0..255): about 30 muted, 60 photographs, over 110 garish."""
    rgb = np.asarray(image, np.float64)
    rg = rgb[..., 0] - rgb[..., 1]
    yb = 0.5 * (rgb[..., 0] + rgb[..., 1]) - rgb[..., 2]
    return float(math.hypot(rg.std(), yb.std()) + 0.3 * math.hypot(rg.mean(), yb.mean()))


def _sobel(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = luminance(image)
    return ndimage.sobel(y, axis=1, mode="reflect"), ndimage.sobel(y, axis=0, mode="reflect")


def gradient_kurtosis(image: np.ndarray) -> float:
    """Kurtosis (not excess: a Gaussian gives 3) of the horizontal and vertical Sobel responses together."""
    gx, gy = _sobel(image)
    g = np.concatenate([gx.ravel(), gy.ravel()])
    g = g - g.mean()
    var = np.mean(g ** 2)
    return float(np.mean(g ** 4) / var ** 2) if var > 1e-18 else 0.0


def coherence(image: np.ndarray, sigma: float = COHERENCE_SIGMA) -> float:
    """Structure-tensor coherence (λ1 - λ2) / (λ1 + λ2) with the tensor smoothed at ``sigma``, weighted by the
    local energy λ1 + λ2: 1 for ramps and straight edges, near 0 for grain."""
    gx, gy = _sobel(image)
    jxx = ndimage.gaussian_filter(gx * gx, sigma)
    jyy = ndimage.gaussian_filter(gy * gy, sigma)
    jxy = ndimage.gaussian_filter(gx * gy, sigma)
    energy = jxx + jyy
    total = energy.sum()
    if total < 1e-18:
        return 0.0
    return float(np.sqrt((jxx - jyy) ** 2 + 4 * jxy ** 2).sum() / total)


def small(image: np.ndarray, side: int = DIVERSITY_SIDE) -> np.ndarray:
    """The image averaged down to ``side``² (area averaging), RGB float in 0..1."""
    rgb = np.asarray(image, np.float64) / 255.0
    h, w = rgb.shape[:2]
    fy, fx = h // side, w // side
    if fy < 1 or fx < 1:
        raise ValueError(f"an image of {h}x{w} is smaller than {side}x{side}")
    return rgb[:fy * side, :fx * side].reshape(side, fy, side, fx, 3).mean(axis=(1, 3))


def rms_distance(a: np.ndarray, b: np.ndarray) -> float:
    """RMS difference of two images at 32×32 (RGB 0..1)."""
    return float(np.sqrt(np.mean((small(a) - small(b)) ** 2)))


def diversity(images: np.ndarray) -> float:
    """Mean RMS distance at 32×32 between every pair of images: how different the seeds look."""
    batch = _batch(images)
    if len(batch) < 2:
        raise ValueError("diversity needs at least two images")
    reduced = [small(image) for image in batch]
    pairs = [float(np.sqrt(np.mean((a - b) ** 2))) for a, b in itertools.combinations(reduced, 2)]
    return float(np.mean(pairs))


def step_change(frames: np.ndarray) -> float:
    """Mean RMS distance at 32×32 between consecutive frames of a walk (to compare with the diversity)."""
    batch = _batch(frames)
    if len(batch) < 2:
        raise ValueError("a step change needs at least two frames")
    return float(np.mean([rms_distance(a, b) for a, b in zip(batch[:-1], batch[1:])]))


PER_IMAGE = {"spectral_slope": spectral_slope, "edge_ratio": edge_ratio, "border_ratio": border_ratio,
             "colourfulness": colourfulness, "gradient_kurtosis": gradient_kurtosis, "coherence": coherence}

# The floor a default model must clear (issue 14), as (low, high); None: no bound on that side.
FLOOR: dict[str, tuple[float | None, float | None]] = {
    "spectral_slope": (-3.1, -1.8), "edge_ratio": (0.18, None), "border_ratio": (0.75, None),
    "diversity": (0.30, None), "colourfulness": (30.0, 110.0), "gradient_kurtosis": (10.0, None),
    "coherence": (0.5, None)}


def measure(images: np.ndarray) -> dict[str, float]:
    """Every per-image measure as its median over the images, and the diversity between them."""
    batch = _batch(images)
    figures = {name: float(np.median([fn(image) for image in batch])) for name, fn in PER_IMAGE.items()}
    figures["diversity"] = diversity(batch) if len(batch) > 1 else float("nan")
    return figures


def failures(figures: dict[str, float], floor: dict[str, tuple[float | None, float | None]] = FLOOR) -> list[str]:
    """The measures outside the floor, one line each (empty: it clears the floor)."""
    lines = []
    for name, (low, high) in floor.items():
        value = figures.get(name, float("nan"))
        if not math.isfinite(value) or (low is not None and value < low) or (high is not None and value > high):
            bound = f"{low if low is not None else '-∞'}..{high if high is not None else '∞'}"
            lines.append(f"{name} {value:.3g}, expected {bound}")
    return lines
