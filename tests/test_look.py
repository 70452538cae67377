"""The look measures (engine/look.py) on images whose answer is known: blur steepens the spectrum and drowns
the fine edges, a flat frame shows in the border ratio, grain is Gaussian and incoherent, straight edges are
coherent and heavy-tailed, grey has no colour, and identical images have no diversity."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from engine import look

RNG = np.random.default_rng(0)


def to_image(y: np.ndarray, rgb=(1.0, 1.0, 1.0)) -> np.ndarray:
    y = (y - y.min()) / max(float(np.ptp(y)), 1e-9)
    return (np.clip(y[..., None] * np.array(rgb), 0, 1) * 255).round().astype(np.uint8)


def pink(beta: float, side: int = 256) -> np.ndarray:
    """Noise with power ∝ f^-beta."""
    f = np.fft.fftfreq(side)
    radius = np.sqrt(f[None] ** 2 + f[:, None] ** 2)
    radius[0, 0] = 1
    spectrum = np.fft.fft2(RNG.standard_normal((side, side))) * radius ** (-beta / 2)
    return np.real(np.fft.ifft2(spectrum))


def test_the_spectral_slope_reads_the_power_law_and_blur_steepens_it():
    assert look.spectral_slope(to_image(pink(2.0))) == pytest.approx(-2.0, abs=0.25)
    assert look.spectral_slope(to_image(pink(3.0))) == pytest.approx(-3.0, abs=0.25)
    sharp = pink(2.0)
    assert look.spectral_slope(to_image(ndimage.gaussian_filter(sharp, 3))) < -4


def test_blur_drowns_the_fine_edges():
    squares = np.kron(RNG.integers(0, 2, (16, 16)), np.ones((16, 16))).astype(float)
    sharp = look.edge_ratio(to_image(squares))
    assert sharp > 0.3 and look.edge_ratio(to_image(ndimage.gaussian_filter(squares, 6))) < sharp / 3


def test_a_flat_frame_shows_in_the_border_ratio():
    texture = pink(1.5)
    framed = texture.copy()
    framed[:12], framed[-12:], framed[:, :12], framed[:, -12:] = 0, 0, 0, 0
    framed[:12] = framed[-12:] = framed[:, :12] = framed[:, -12:] = texture.mean()
    assert look.border_ratio(to_image(texture)) > 0.7
    assert look.border_ratio(to_image(framed)) < 0.05


def test_grain_is_gaussian_and_incoherent_edges_are_heavy_tailed_and_coherent():
    grain = to_image(RNG.standard_normal((256, 256)))
    assert look.gradient_kurtosis(grain) == pytest.approx(3.0, abs=0.3)
    assert look.coherence(grain) < 0.35
    stripes = to_image((np.arange(256)[None, :] // 32 % 2).repeat(256, axis=0).astype(float))
    assert look.coherence(stripes) > 0.95
    assert look.gradient_kurtosis(stripes) > 10                # calm, then an edge: heavy tails


def test_colourfulness_is_zero_for_grey_and_high_for_pure_primaries():
    assert look.colourfulness(to_image(pink(2.0))) == pytest.approx(0.0, abs=1e-9)
    primaries = np.zeros((64, 64, 3), np.uint8)
    primaries[:32, :, 0] = 255
    primaries[32:, :, 2] = 255
    assert look.colourfulness(primaries) > 110


def test_diversity_and_the_step_change():
    a, b = to_image(pink(2.0)), to_image(pink(2.0))
    assert look.diversity(np.stack([a, a, a])) == 0.0
    assert look.diversity(np.stack([a, b])) > 0.1
    assert look.step_change(np.stack([a, a, b])) == pytest.approx(look.rms_distance(a, b) / 2)


def test_the_floor_names_what_fails():
    figures = {name: 0.0 for name in look.FLOOR}
    lines = look.failures(figures)
    assert any(line.startswith("edge_ratio 0") for line in lines)
    assert look.failures({"spectral_slope": -2.4, "edge_ratio": 0.38, "border_ratio": 0.85, "diversity": 0.4,
                          "colourfulness": 66, "gradient_kurtosis": 17.6, "coherence": 0.74}) == []


def test_bad_images_are_refused_in_one_line():
    with pytest.raises(ValueError, match="RGB uint8"):
        look.measure(np.zeros((4, 32, 32), np.float32))
    with pytest.raises(ValueError, match="at least two"):
        look.diversity(np.zeros((1, 32, 32, 3), np.uint8))
