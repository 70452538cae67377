"""The embedded default model: a StyleGAN2 generator shaped, not trained, into fluid ink — and the recipe for it.

No trained weights can ship with the engine, and training one on two CPU cores is not practical (DESIGN.md §3).
The default is therefore the real architecture from a fixed seed, shaped by the deterministic steps below,
and stored once as ``default.safetensors`` beside this file (package data; weights in float16, the
generator's config and its tone curve in the header). ``load_generator("default")`` reads that file through
the same loader as any user's converted model; :func:`build_default_generator` is how it was made, and
``python tools/make_default_model.py`` makes it again (a few seconds; the test suite checks the shipped file
against a fresh build).

Why a seeded StyleGAN2 looks like a defocused lava lamp, and what each step changes:

1. **Architecture** (:data:`DEFAULT_CONFIG`): 256×256 RGB, z = w = 128, 4 mapping layers, 16–128 channels,
   the official ``skip`` generator. Small enough for 30+ frames/s in fp32 on two CPU cores.
2. **Saturating layers** (:data:`CONV_CLAMP`, :data:`KERNEL_DC`). Each layer of a random network is close to
   linear, and the up-sampling between resolutions blurs, so every scale ends up as soft blobs. The official
   ``conv_clamp`` (clamping every layer's output) is set low, at 0.5, and every 3×3 kernel is given a strong
   constant part (70 % of it: a per-filter constant plus 30 % of the seeded kernel). Demodulation normalises a
   kernel for uncorrelated inputs, so on the smooth fields a network carries, a kernel with a big constant part
   has a gain of about three: every layer drives its features into the clamp again. Blur followed by a
   threshold, at every resolution, is what makes marbling, reaction–diffusion and ink patterns: shapes with
   sharp edges and calm insides, re-sharpened at each scale instead of smeared.
3. **Scales** (:data:`TORGB_EXPONENT`): each toRGB layer is scaled by ``(resolution / 4) ** 0.5``, so the fine
   resolutions, which now carry edges rather than grain, are heard.
4. **Texture** (:data:`NOISE_STRENGTH`): a little noise at 64–256 px; through the saturating layers it becomes
   pigment-like speckle where a shape is near its threshold and nothing where it is not.
5. **Colour** (:data:`COLOUR_AXES`, :data:`COLOUR_SPREAD`): the three output channels are whitened over seeded
   samples (truncation 0.7) and mapped onto luminance and two colour-opponent axes, luminance carrying most of
   the variance, as in photographs; baked into all toRGB weights, since the image is linear in them. Then the
   mean is brought to :data:`COLOUR_OFFSET` (slightly warm) through the toRGB biases, in a few passes because
   the clamp makes the output a little non-linear in them.
6. **Calibration**: ``w_avg`` is the mean W of :data:`CALIBRATION_SAMPLES` seeded z (what training would
   track), so truncation pulls towards the model's own centre. The output is shown through the soft tone curve
   (``tanh``: the clamps keep it within about ±2, and clipping would posterise it).

Measured with ``python -m bench.look`` (16 seeds, psi 0.7, 256², medians), against scikit-image's ten
photographs and the old seeded default, in that order: spectral slope -2.94 (-2.67, -3.45), fine-edge ratio
0.25 (0.40, 0.06), border ratio 0.78 (0.77, 0.32), diversity 0.39 (0.35, 0.26), colourfulness 90 (39 with
three grey photographs, 126), gradient kurtosis 11.3 (21.7, 8.4), coherence 0.57 (0.74, 0.91).
"""

from __future__ import annotations

import os

import torch

from engine.models.config import GeneratorConfig
from engine.models.networks import Generator, SynthesisLayer
from engine.models.tone import ToneMap

DEFAULT_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "default.safetensors")
DEFAULT_TONE: ToneMap = "soft"

DEFAULT_SEED = 20261122            # the network's weights
KERNEL_SEED = DEFAULT_SEED + 1     # the kernels' constant parts
CONV_CLAMP = 0.5
KERNEL_DC = 0.7
TORGB_EXPONENT = 0.5
NOISE_STRENGTH = {64: 0.05, 128: 0.1, 256: 0.04}           # by resolution; none below 64
COLOUR_AXES = ((0.577, 0.577, 0.577),                      # luminance
               (0.7, 0.0, -0.7),                           # warm / cool
               (0.35, -0.7, 0.35))                         # magenta / green
COLOUR_SPREAD = (0.8, 0.3, 0.22)                           # standard deviation along each axis (tone input)
COLOUR_OFFSET = (0.1, 0.02, -0.1)                          # the mean colour (tone input): slightly warm
CALIBRATION_SEED = 7
CALIBRATION_SAMPLES = 64
COLOUR_SAMPLES = 16
COLOUR_PSI = 0.7
MEAN_PASSES = 5

DEFAULT_CONFIG = GeneratorConfig(
    z_dim=128, c_dim=0, w_dim=128,
    img_resolution=256, img_channels=3,
    mapping_layers=4,
    channel_base=4096, channel_max=128,
    num_fp16_res=4, conv_clamp=CONV_CLAMP,
    architecture="skip",
)


def build_default_generator() -> Generator:
    """Make the default model from its recipe (see the module docstring); float32, a few seconds.
    The global random state is left as it was."""
    cpu_rng_state = torch.random.get_rng_state()
    try:
        torch.manual_seed(DEFAULT_SEED)
        G = Generator(DEFAULT_CONFIG)
    finally:
        torch.random.set_rng_state(cpu_rng_state)
    kernels = torch.Generator().manual_seed(KERNEL_SEED)
    with torch.no_grad():
        for module in G.modules():
            if isinstance(module, SynthesisLayer):
                out_channels, in_channels = module.weight.shape[:2]
                constant = torch.randn([out_channels, in_channels, 1, 1], generator=kernels)
                module.weight.copy_(KERNEL_DC * constant + (1 - KERNEL_DC) * module.weight)
                if module.use_noise:
                    module.noise_strength.fill_(NOISE_STRENGTH.get(module.resolution, 0.0))
        for res in G.synthesis.block_resolutions:
            G.synthesis.block(res).torgb.weight.mul_((res / 4) ** TORGB_EXPONENT)
        _calibrate(G)
    G.tone_map = DEFAULT_TONE
    return G


def _calibrate(G: Generator) -> None:
    """w_avg from seeded samples; then the colour transform and the mean colour (see the module docstring)."""
    z = torch.randn([CALIBRATION_SAMPLES, G.z_dim], generator=torch.Generator().manual_seed(CALIBRATION_SEED))
    with torch.inference_mode():
        ws = G.mapping(z, None)
    G.mapping.w_avg.copy_(ws[:, 0].mean(dim=0))
    ws = G.mapping.truncate(ws[:COLOUR_SAMPLES], COLOUR_PSI)
    torgbs = [G.synthesis.block(res).torgb for res in G.synthesis.block_resolutions]

    with torch.inference_mode():
        pixels = G.synthesis(ws, noise_mode="const").permute(1, 0, 2, 3).reshape(3, -1)
    values, vectors = torch.linalg.eigh(torch.cov(pixels))
    order = values.argsort(descending=True)                  # the strongest component becomes luminance
    whiten = torch.diag(values[order].clamp_min(1e-8).rsqrt()) @ vectors[:, order].T
    whiten = whiten * torch.where(whiten.sum(dim=1, keepdim=True) < 0, -1.0, 1.0)   # each its brighter sign
    transform = torch.tensor(COLOUR_AXES).T * torch.tensor(COLOUR_SPREAD) @ whiten
    for torgb in torgbs:
        torgb.weight.copy_(torch.einsum("oc,cikl->oikl", transform, torgb.weight))
        torgb.bias.copy_(transform @ torgb.bias)

    target = torch.tensor(COLOUR_OFFSET)
    for _ in range(MEAN_PASSES):                             # the clamps make the mean a little non-linear
        with torch.inference_mode():
            mean = G.synthesis(ws, noise_mode="const").mean(dim=[0, 2, 3])
        for torgb in torgbs:
            torgb.bias.add_((target - mean) / len(torgbs))

