"""The benchmark baseline: StyleGAN2 synthesis the way the official code computes it on a CPU.

Written from the published algorithm, not copied: fp32, NCHW, eager; per-sample modulated weights in a
grouped convolution (the official "fused modconv"); ``upfirdn2d`` as its reference implementation does it
(zero insertion by reshape + pad, explicit padding copy, a dense 2-D depthwise filter); ``bias_act`` as
separate bias / leaky ReLU / gain / clamp passes. It reads the weights of one of our Generators, so its output
is a second, independent check of ours (they agree to ~1e-5) as well as the speed baseline.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from engine.models.networks import Generator, SynthesisLayer, ToRGBLayer


def upfirdn2d(x: torch.Tensor, f: torch.Tensor, up: int, pad: tuple[int, int, int, int], gain: float) -> torch.Tensor:
    n, c, h, w = x.shape
    if up > 1:
        x = x.reshape(n, c, h, 1, w, 1)
        x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])
        x = x.reshape(n, c, h * up, w * up)
    x = F.pad(x, list(pad))
    kernel = (f * gain).flip([0, 1])[None, None].repeat(c, 1, 1, 1).to(x.dtype)
    return F.conv2d(x, kernel, groups=c)


def bias_act(x: torch.Tensor, b: torch.Tensor, lrelu: bool, gain: float, clamp: float | None) -> torch.Tensor:
    x = x + b.reshape(1, -1, 1, 1)
    if lrelu:
        x = F.leaky_relu(x, 0.2)
    if gain != 1:
        x = x * gain
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return x


def modulated_conv(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, up: int, padding: int,
                   f: torch.Tensor, demodulate: bool) -> torch.Tensor:
    n, in_ch, h, w_ = x.shape
    out_ch, _, k, _ = weight.shape
    w = weight.unsqueeze(0) * styles.reshape(n, 1, -1, 1, 1)
    if demodulate:
        d = (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()
        w = w * d.reshape(n, -1, 1, 1, 1)
    x = x.reshape(1, -1, h, w_)
    if up == 2:
        w = w.transpose(1, 2).reshape(n * in_ch, out_ch, k, k)
        x = F.conv_transpose2d(x, w, stride=2, groups=n)
        x = upfirdn2d(x, f, up=1, pad=(1, 1, 1, 1), gain=4.0)
    else:
        x = F.conv2d(x, w.reshape(n * out_ch, in_ch, k, k), padding=padding, groups=n)
    return x.reshape(n, -1, *x.shape[2:])


def layer(mod: SynthesisLayer, x: torch.Tensor, w: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
    styles = mod.affine(w)
    x = modulated_conv(x, mod.weight, styles, mod.up, mod.padding, mod.resample_filter, demodulate=True)
    if mod.use_noise:
        x = x + mod.noise_const * mod.noise_strength
    clamp = mod.conv_clamp * gain if mod.conv_clamp is not None else None
    return bias_act(x, mod.bias, lrelu=True, gain=math.sqrt(2) * gain, clamp=clamp)


def torgb(mod: ToRGBLayer, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    styles = mod.affine(w) * mod.weight_gain
    x = modulated_conv(x, mod.weight, styles, 1, 0, torch.empty(0), demodulate=False)
    return bias_act(x, mod.bias, lrelu=False, gain=1.0, clamp=mod.conv_clamp)


@torch.inference_mode()
def reference_synthesis(G: Generator, ws: torch.Tensor) -> torch.Tensor:
    """Images [N, C, H, W] from ws, official-style (skip architecture)."""
    assert G.config.architecture == "skip", "the baseline implements the skip architecture (all official configs)"
    x = img = None
    w_idx = 0
    for res in G.synthesis.block_resolutions:
        block = getattr(G.synthesis, f"b{res}")
        bws = ws.narrow(1, w_idx, block.num_conv + block.num_torgb).unbind(1)
        w_idx += block.num_conv
        if block.in_channels == 0:
            x = block.const.unsqueeze(0).repeat(ws.shape[0], 1, 1, 1)
            x = layer(block.conv1, x, bws[0])
        else:
            x = layer(block.conv0, x, bws[0])
            x = layer(block.conv1, x, bws[1])
        if img is not None:
            img = upfirdn2d(img, block.resample_filter, up=2, pad=(2, 1, 2, 1), gain=4.0)
        y = torgb(block.torgb, x, bws[-1])
        img = y if img is None else img + y
    assert img is not None
    return img
