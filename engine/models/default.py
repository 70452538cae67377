"""The embedded default model: a seeded StyleGAN2 generator that needs no download.

No trained weights can ship with the engine, and training one on a CPU is not practical (see DESIGN.md). So
the default model is an untrained StyleGAN2 — the real architecture, built from a fixed seed — shaped by a few
deterministic, documented steps into something worth looking at on a wall:

1. **Architecture** (:data:`DEFAULT_CONFIG`): 256×256 RGB, z = w = 128, 4 mapping layers, 16–128 channels,
   the official ``skip`` generator with conv clamping and fp16/bf16 on the top four resolutions. Small enough
   to run a live loop on a two-core CPU (bf16: ≈20+ frames/s where the CPU has native bf16).
2. **Initialisation**: the official one (unit-normal weights under equalised learning rate, style biases at
   1, zero conv biases) from ``torch.manual_seed(DEFAULT_SEED)``; noise strengths are set to a small value so
   the noise inputs add grain, as they do in trained models.
3. **Colour pyramid**: each toRGB layer is scaled by ``(4 / resolution) ** PYRAMID_EXPONENT``, so coarse
   resolutions carry most of the image (soft colour fields) and fine ones add texture, as in trained models.
4. **Calibration**: ``w_avg`` is the mean W of :data:`CALIBRATION_SAMPLES` seeded z (what training would track),
   so truncation pulls towards the model's own centre; the output is then centred and scaled (baked into the
   last toRGB bias and all toRGB weights) so that untruncated frames have zero mean and a spread of
   :data:`OUTPUT_SPREAD` per channel; random networks overshoot [-1, 1], so the engine shows them through a soft tone curve
   (``Generator.tone_map = "soft"``) rather than clipping.

Everything is a pure function of the constants below: the same model on every machine, bit for bit on one.
"""

from __future__ import annotations

import torch

from engine.models.config import GeneratorConfig
from engine.models.networks import Generator, SynthesisLayer

DEFAULT_SEED = 20261122
PYRAMID_EXPONENT = 0.5
NOISE_STRENGTH = 0.02
CALIBRATION_SAMPLES = 64
IMAGE_CALIBRATION_SAMPLES = 8
OUTPUT_SPREAD = 0.75
CALIBRATION_SEED = 7

DEFAULT_CONFIG = GeneratorConfig(
    z_dim=128, c_dim=0, w_dim=128,
    img_resolution=256, img_channels=3,
    mapping_layers=4,
    channel_base=4096, channel_max=128,
    num_fp16_res=4, conv_clamp=256.0,
    architecture="skip",
)


def build_default_generator() -> Generator:
    """Build the default model (≈1 s on a CPU); see the module docstring for what it is."""
    cpu_rng_state = torch.random.get_rng_state()
    try:
        torch.manual_seed(DEFAULT_SEED)
        G = Generator(DEFAULT_CONFIG)
    finally:
        torch.random.set_rng_state(cpu_rng_state)
    with torch.no_grad():
        for module in G.modules():
            if isinstance(module, SynthesisLayer) and module.use_noise:
                module.noise_strength.fill_(NOISE_STRENGTH)
        for res in G.synthesis.block_resolutions:
            G.synthesis.block(res).torgb.weight.mul_((4 / res) ** PYRAMID_EXPONENT)
        _calibrate(G)
    G.tone_map = "soft"
    return G


def _calibrate(G: Generator) -> None:
    """Set w_avg to the mean W, then normalise the output colours (both from seeded samples)."""
    gen = torch.Generator().manual_seed(CALIBRATION_SEED)
    z = torch.randn([CALIBRATION_SAMPLES, G.z_dim], generator=gen)
    with torch.inference_mode():
        ws = G.mapping(z, None)
    G.mapping.w_avg.copy_(ws[:, 0].mean(dim=0))
    with torch.inference_mode():
        images = G.synthesis(ws[:IMAGE_CALIBRATION_SAMPLES])
    mean = images.mean(dim=[0, 2, 3])
    std = images.std(dim=[0, 2, 3]).clamp_min(1e-6) / OUTPUT_SPREAD
    last = G.synthesis.block(G.img_resolution).torgb
    # image = Σ_blocks torgb_b(x) (upsampled); scaling every toRGB by 1/std scales the image by 1/std, and
    # subtracting mean/std from the last bias centres it. The conv clamp (256) is far from these values.
    for res in G.synthesis.block_resolutions:
        torgb = G.synthesis.block(res).torgb
        torgb.weight.div_(std.reshape(-1, 1, 1, 1))
        torgb.bias.div_(std)
    last.bias.sub_(mean / std)
