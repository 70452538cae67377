"""Our generator against the official implementation's outputs on the same pickle (fp32, CPU, const noise)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.models import load_generator

TOL = 1e-4


@pytest.fixture(scope="module")
def G(tiny_pkl):
    return load_generator(tiny_pkl, device="cpu", precision="fp32")


def max_diff(a: torch.Tensor, b: np.ndarray) -> float:
    return float(np.abs(a.detach().cpu().numpy() - b).max())


def test_architecture_read_from_the_pickle(G, tiny_reference):
    assert (G.z_dim, G.c_dim, G.w_dim, G.img_resolution, G.num_ws) == (64, 0, 64, 32, int(tiny_reference["num_ws"]))
    assert max_diff(G.mapping.w_avg, tiny_reference["w_avg"]) == 0.0


@pytest.mark.parametrize("psi,key", [(1.0, "psi100"), (0.5, "psi050")])
def test_mapping_matches(G, tiny_reference, psi, key):
    z = torch.from_numpy(tiny_reference["z"])
    ws = G.mapping(z, None, truncation_psi=psi)
    assert ws.dtype == torch.float32 and ws.shape == (4, G.num_ws, G.w_dim)
    assert max_diff(ws, tiny_reference[f"ws_{key}"]) <= TOL


@pytest.mark.parametrize("modulation", ["auto", "weights", "activations"])
@pytest.mark.parametrize("key", ["psi100", "psi050"])
def test_images_match_batched_and_single(G, tiny_reference, modulation, key):
    G.set_modulation(modulation)
    try:
        ws = torch.from_numpy(tiny_reference[f"ws_{key}"])
        images = G.synthesis(ws, noise_mode="const")
        assert images.dtype == torch.float32 and images.shape == (4, 3, 32, 32)
        assert max_diff(images, tiny_reference[f"img_{key}"]) <= TOL
        for i in range(4):
            assert max_diff(G.synthesis(ws[i:i + 1]), tiny_reference[f"img_{key}"][i:i + 1]) <= TOL
    finally:
        G.set_modulation("auto")


def test_style_mixing_matches(G, tiny_reference):
    seeds, crossover = tiny_reference["mix_seeds"], int(tiny_reference["mix_crossover"])
    z = torch.from_numpy(tiny_reference["z"][seeds])
    ws = G.mapping(z, None)
    mixed = ws[:1].clone()
    mixed[:, crossover:] = ws[1:2, crossover:]
    assert max_diff(mixed, tiny_reference["mix_ws"]) <= TOL
    assert max_diff(G.synthesis(mixed), tiny_reference["mix_img"]) <= TOL


def test_every_block_matches(G, tiny_reference):
    """Block by block (styles, features, image): the first place a regression would show."""
    ws = G.mapping(torch.from_numpy(tiny_reference["z"][:1]), None)
    x = img = None
    w_idx = 0
    for res in G.synthesis.block_resolutions:
        block = getattr(G.synthesis, f"b{res}")
        block_ws = ws.narrow(1, w_idx, block.num_conv + block.num_torgb)
        layers = (["conv1"] if res == 4 else ["conv0", "conv1"]) + ["torgb"]
        for i, name in enumerate(layers):
            styles = getattr(block, name).affine(block_ws[:, i])
            assert max_diff(styles, tiny_reference[f"dbg_style_b{res}_{name}"]) <= TOL, f"b{res}.{name} styles"
        w_idx += block.num_conv
        x, img = block(x, img, block_ws, torch.float32, "const", None)
        assert max_diff(x, tiny_reference[f"dbg_b{res}_x"]) <= TOL, f"b{res} features"
        assert max_diff(img, tiny_reference[f"dbg_b{res}_img"]) <= TOL, f"b{res} image"


def test_whole_generator_call(G, tiny_reference):
    z = torch.from_numpy(tiny_reference["z"])
    assert max_diff(G(z, None, truncation_psi=0.5), tiny_reference["img_psi050"]) <= TOL


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float((a - b).square().mean())
    return 10 * np.log10(4.0 / mse)  # peak-to-peak range of [-1, 1] is 2


def test_bf16_fast_path_stays_close(G, tiny_reference):
    ws = torch.from_numpy(tiny_reference["ws_psi050"])
    reference = torch.from_numpy(tiny_reference["img_psi050"])
    G.set_precision("bf16")
    try:
        fast = G.synthesis(ws)
    finally:
        G.set_precision("fp32")
    assert fast.dtype == torch.float32
    assert psnr(fast, reference) >= 35.0


def test_fp16_is_refused_on_the_cpu(G):
    with pytest.raises(ValueError, match="CUDA"):
        G.set_precision("fp16")


@pytest.mark.parametrize("modulation", ["weights", "activations"])
def test_fp16_arithmetic_of_the_cuda_path(G, tiny_reference, modulation):
    """The CUDA path's fp16 blocks (with the official overflow guards), run here on the CPU.

    ``set_precision`` refuses fp16 on a CPU (slow on most), so the test sets the synthesis precision directly:
    the arithmetic is the same one CUDA runs, and without GPUs in CI this is where it stays covered.
    """
    ws = torch.from_numpy(tiny_reference["ws_psi050"])
    reference = torch.from_numpy(tiny_reference["img_psi050"])
    G.set_modulation(modulation)
    G.synthesis.precision, G.synthesis.reduced_resolution = "fp16", G.config.fp16_resolution
    try:
        batch, single = G.synthesis(ws), G.synthesis(ws[:1])
    finally:
        G.set_modulation("auto").set_precision("fp32")
    assert batch.dtype == torch.float32
    assert psnr(batch, reference) >= 45.0 and psnr(single, reference[:1]) >= 45.0
