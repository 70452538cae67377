"""Walks: keyframes are hit exactly, paths are continuous (also across the loop seam), and deterministic."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.latent import Keyframe, LatentWalker, StyleMix, WalkSettings, ease, seed_to_z
from engine.latent.interpolate import EASINGS, slerp

SEEDS = (3, 14, 15, 92)


def walk(G, **kwargs) -> LatentWalker:
    settings = dict(keyframes=tuple(Keyframe(seed=s) for s in SEEDS), seconds_per_keyframe=2.0)
    settings.update(kwargs)
    return LatentWalker(G, WalkSettings(**settings))


def test_seed_z_is_the_official_one():
    assert np.array_equal(seed_to_z(42, 8), np.random.RandomState(42).randn(1, 8)[0])


@pytest.mark.parametrize("interpolation", ["linear", "slerp", "cubic"])
def test_passes_through_every_keyframe(default_generator, interpolation):
    w = walk(default_generator, interpolation=interpolation, truncation_psi=1.0)
    for i, point in enumerate(w.points):
        assert torch.allclose(w.ws_at(i * 2.0)[0], point.ws, atol=1e-5), f"keyframe {i}"


@pytest.mark.parametrize("interpolation", ["linear", "slerp", "cubic"])
@pytest.mark.parametrize("easing", EASINGS)
def test_continuous_at_keyframes_and_at_the_loop_seam(default_generator, interpolation, easing):
    w = walk(default_generator, interpolation=interpolation, easing=easing)
    eps = 1e-4
    scale = float((w.ws_at(1.0) - w.ws_at(1.0 + 0.05)).abs().max())  # typical change over 0.05 s
    for t in (2.0, 4.0, 6.0, 8.0):  # 8.0 is the seam: the last keyframe back to the first
        jump = float((w.ws_at(t - eps) - w.ws_at(t + eps)).abs().max())
        assert jump < scale * 0.05, f"jump {jump} at t={t}"
    assert torch.allclose(w.ws_at(0.0), w.ws_at(8.0), atol=1e-6)  # the loop closes


def kink(w: LatentWalker, t: float, h: float = 1e-3) -> float:
    """Relative change of the one-sided slopes at t (0 for a smooth path, up to ~2 for a sharp turn)."""
    before = (w.ws_at(t) - w.ws_at(t - h)) / h
    after = (w.ws_at(t + h) - w.ws_at(t)) / h
    return float((before - after).abs().max()) / float(before.abs().max())


def test_cubic_has_no_kink_at_keyframes_or_the_seam(default_generator):
    """Catmull-Rom velocity is continuous; a linear walk turns sharply at the same places (the test can fail)."""
    cubic, linear = walk(default_generator, interpolation="cubic"), walk(default_generator, interpolation="linear")
    for t in (4.0, 8.0):  # an interior keyframe and the seam
        assert kink(cubic, t) < 0.02
        assert kink(linear, t) > 0.2


def test_deterministic(default_generator):
    a, b = walk(default_generator), walk(default_generator)
    for t in np.linspace(0, 20, 17):
        assert torch.equal(a.ws_at(float(t)), b.ws_at(float(t)))


def test_no_loop_holds_the_last_keyframe(default_generator):
    w = walk(default_generator, loop=False, truncation_psi=1.0)
    assert w.settings.duration == 6.0
    assert torch.allclose(w.ws_at(6.0)[0], w.points[-1].ws, atol=1e-5) and torch.equal(w.ws_at(100.0), w.ws_at(6.0))
    assert torch.equal(w.ws_at(-3.0), w.ws_at(0.0))


def test_truncation_and_cutoff(default_generator):
    G = default_generator
    w = walk(G, truncation_psi=0.5, truncation_cutoff=4)
    raw = w.raw_ws_at(1.3)
    ws = w.ws_at(1.3)[0]
    assert torch.allclose(ws[:4], G.mapping.w_avg + 0.5 * (raw[:4] - G.mapping.w_avg), atol=1e-6)
    assert torch.equal(ws[4:], raw[4:])
    assert torch.allclose(w.ws_at(1.3, truncation_psi=0.0)[0, :4], G.mapping.w_avg.expand(4, -1), atol=1e-6)


def test_style_mixing_replaces_a_layer_range(default_generator):
    w = walk(default_generator, truncation_psi=1.0, style_mix=StyleMix(Keyframe(seed=7), start=6, end=10))
    mix = LatentWalker(default_generator, WalkSettings(keyframes=(Keyframe(seed=7),), truncation_psi=1.0))
    ws = w.ws_at(3.0)[0]
    assert torch.equal(ws[6:10], mix.ws_at(0.0)[0, 6:10])
    assert torch.equal(ws[:6], w.raw_ws_at(3.0)[:6])


def test_bad_style_mix_range(default_generator):
    with pytest.raises(ValueError, match="style mix layers"):
        walk(default_generator, style_mix=StyleMix(Keyframe(seed=7), start=10, end=99))


def test_random_noise_seed_follows_time(default_generator):
    w = walk(default_generator, noise_mode="random", noise_seed=3)
    assert w.frame_at(1.0).noise_seed == w.frame_at(1.0).noise_seed != w.frame_at(1.5).noise_seed


@pytest.mark.parametrize("easing", EASINGS)
def test_easings_fix_the_ends_and_rise(easing):
    values = [ease(u, easing) for u in np.linspace(0, 1, 21)]
    assert values[0] == 0.0 and abs(values[-1] - 1.0) < 1e-12
    assert all(b >= a for a, b in zip(values, values[1:]))


def test_slerp_keeps_the_norm_of_equal_norm_vectors():
    a = torch.tensor([1.0, 0.0, 0.0]) * 3
    b = torch.tensor([0.0, 1.0, 0.0]) * 3
    assert abs(float(slerp(a, b, 0.37).norm()) - 3.0) < 1e-5


def test_bad_settings():
    with pytest.raises(ValueError, match="at least one keyframe"):
        WalkSettings(keyframes=())
    with pytest.raises(ValueError, match="seconds_per_keyframe"):
        WalkSettings(keyframes=(Keyframe(seed=1),), seconds_per_keyframe=0)
    with pytest.raises(ValueError, match="interpolation"):
        WalkSettings(keyframes=(Keyframe(seed=1),), interpolation="bezier")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="exactly one"):
        Keyframe()
