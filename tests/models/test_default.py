"""The embedded default model: no download, deterministic, and a picture worth showing."""

from __future__ import annotations

import torch

from engine.latent import Keyframe, LatentWalker, WalkSettings
from engine.generate import FrameSynthesizer
from engine.models import load_generator
from engine.models.default import DEFAULT_CONFIG, build_default_generator


def test_is_a_real_256_stylegan2(default_generator):
    G = default_generator
    assert (G.img_resolution, G.img_channels, G.z_dim, G.w_dim) == (256, 3, 128, 128)
    assert G.config == DEFAULT_CONFIG and G.tone_map == "soft"


def test_bit_identical_on_every_build(default_generator):
    again = build_default_generator()
    for (name, a), (_, b) in zip(default_generator.state_dict().items(), again.state_dict().items()):
        assert torch.equal(a, b), name


def test_building_it_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    build_default_generator()
    assert torch.equal(torch.rand(3), expected)


def test_frames_have_colour_and_structure(default_generator):
    walker = LatentWalker(default_generator, WalkSettings(keyframes=(Keyframe(seed=0), Keyframe(seed=1))))
    frame = FrameSynthesizer(default_generator).render(walker.frame_at(0.0)).astype(float)
    assert frame.shape == (256, 256, 3)
    assert 40 < frame.mean() < 215                  # neither black nor white
    assert frame.std(axis=(0, 1)).min() > 15        # every channel varies across the picture
    assert abs(frame[:, :128].mean() - frame[:, 128:].mean()) > 1 or frame.std() > 30  # not flat


def test_loads_by_name_with_bf16():
    G = load_generator("default", device="cpu", precision="bf16")
    assert G.precision == "bf16"
