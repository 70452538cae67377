"""Generator behaviour beyond the fixture: configs, precision, noise modes, batching, validation."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from engine.models import ConfigError, Generator, GeneratorConfig
from engine.models.tone import to_uint8_hwc

SMALL = GeneratorConfig(z_dim=16, c_dim=0, w_dim=16, img_resolution=32, img_channels=3, mapping_layers=2,
                        channel_base=512, channel_max=32, num_fp16_res=2, conv_clamp=256.0)


@pytest.fixture(scope="module")
def G() -> Generator:
    torch.manual_seed(1)
    G = Generator(SMALL)
    with torch.no_grad():
        for name, p in G.named_parameters():
            if name.endswith("noise_strength"):
                p.fill_(0.3)
    return G


def test_config_from_stylegan3_repo_kwargs():
    """The StyleGAN3 repository's StyleGAN2 Generator takes synthesis arguments flat."""
    cfg = GeneratorConfig.from_official_kwargs(dict(
        z_dim=512, c_dim=0, w_dim=512, img_resolution=256, img_channels=3, mapping_kwargs=dict(num_layers=2),
        channel_base=16384, channel_max=512, num_fp16_res=4, conv_clamp=256, fp16_channels_last=False))
    assert cfg.mapping_layers == 2 and cfg.channel_base == 16384 and cfg.conv_clamp == 256.0
    assert cfg.num_ws == 14 and cfg.fp16_resolution == 32


def test_config_round_trips_through_official_kwargs_and_json():
    assert GeneratorConfig.from_official_kwargs(SMALL.to_official_kwargs()) == SMALL
    assert GeneratorConfig.from_dict(SMALL.to_dict()) == SMALL


@pytest.mark.parametrize("kwargs,match", [
    (dict(img_resolution=48), "power of two"),
    (dict(architecture="unet"), "architecture"),
    (dict(channel_base=2), "zero channels"),
    (dict(conv_clamp=-1.0), "conv_clamp"),
])
def test_bad_configs(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        dataclasses.replace(SMALL, **kwargs)


def test_unknown_official_argument_is_named():
    with pytest.raises(ConfigError, match="magic"):
        GeneratorConfig.from_official_kwargs({**SMALL.to_official_kwargs(), "synthesis_kwargs": {"magic": 1}})


def test_noise_modes(G):
    ws = G.mapping(torch.randn(1, 16), None)
    const = G.synthesis(ws, noise_mode="const")
    assert torch.equal(const, G.synthesis(ws, noise_mode="const"))
    assert not torch.allclose(const, G.synthesis(ws, noise_mode="none"))
    gen = torch.Generator()
    a = G.synthesis(ws, noise_mode="random", noise_generator=gen.manual_seed(5))
    b = G.synthesis(ws, noise_mode="random", noise_generator=gen.manual_seed(5))
    c = G.synthesis(ws, noise_mode="random", noise_generator=gen.manual_seed(6))
    assert torch.equal(a, b) and not torch.allclose(a, c)
    with pytest.raises(ValueError, match="noise_mode"):
        G.synthesis(ws, noise_mode="loud")


def test_batch_equals_single_frames(G):
    ws = G.mapping(torch.randn(3, 16), None, truncation_psi=0.8)
    batch = G.synthesis(ws)
    single = torch.cat([G.synthesis(ws[i:i + 1]) for i in range(3)])
    assert torch.allclose(batch, single, atol=1e-5)


@pytest.mark.parametrize("modulation", ["weights", "activations"])
def test_both_modulation_formulations_agree(G, modulation):
    ws = G.mapping(torch.randn(2, 16), None)
    reference = G.synthesis(ws)
    try:
        assert torch.allclose(G.set_modulation(modulation).synthesis(ws), reference, atol=1e-5)
    finally:
        G.set_modulation("auto")


def test_bf16_reduced_blocks_only(G):
    ws = G.mapping(torch.randn(1, 16), None)
    reference = G.synthesis(ws)
    try:
        fast = G.set_precision("bf16").synthesis(ws)
    finally:
        G.set_precision("fp32")
    assert fast.dtype == torch.float32
    mse = float((fast - reference).square().mean())
    assert 0 < mse and 10 * torch.log10(torch.tensor(4.0 / mse)) > 35


def test_weight_caches_follow_new_weights(G):
    """Loading new weights must invalidate the cached weight layouts."""
    torch.manual_seed(3)
    H = Generator(SMALL)
    ws = H.mapping(torch.randn(1, 16), None)
    before = H.synthesis(ws)
    H.load_state_dict(G.state_dict())
    assert torch.allclose(H.synthesis(ws), G.synthesis(ws), atol=1e-6)
    assert not torch.allclose(before, H.synthesis(ws))


def test_input_validation(G):
    with pytest.raises(ValueError, match=r"z must have shape \[N, 16\]"):
        G.mapping(torch.randn(1, 3), None)
    with pytest.raises(ValueError, match="ws must have shape"):
        G.synthesis(torch.randn(1, 2, 16))
    with pytest.raises(ValueError, match="no w_avg|psi"):
        Generator(dataclasses.replace(SMALL, w_avg_beta=None)).mapping(torch.randn(1, 16), None, truncation_psi=0.5)


def test_tone_maps():
    x = torch.tensor([-3.0, -1.0, 0.0, 1.0, 3.0]).reshape(1, 1, 1, 5).repeat(1, 3, 1, 1)
    clip = to_uint8_hwc(x, "clip")[0, 0, :, 0].tolist()
    soft = to_uint8_hwc(x, "soft")[0, 0, :, 0].tolist()
    assert clip == [0, 0, 128, 255, 255]
    assert soft[0] < soft[1] < soft[2] < soft[3] < soft[4] and 0 < soft[0] and soft[4] < 255
