"""The StyleGAN2 generator (Karras et al. 2020), written for inference in plain PyTorch.

The parameter and buffer names are those of the official StyleGAN2-ADA networks, so a state dict read from an
official pickle loads one to one, and outputs match the official code to rounding (fp32). The module tree:

    Generator
    ├── mapping: MappingNetwork        z, c → ws [N, num_ws, w_dim]    (fc0…, embed, w_avg)
    └── synthesis: SynthesisNetwork    ws → image [N, C, H, W]
        └── b4, b8, …: SynthesisBlock  (const | conv0 ↑2) → conv1 → torgb (+ skip for resnet)
            └── SynthesisLayer / ToRGBLayer / Conv2dLayer, each with an ``affine`` FullyConnectedLayer

What is different from the official code, and why:

* **No custom CUDA ops.** Up-sampling and activations are plain PyTorch (``ops.py``): nothing to compile.
* **Two exact formulations of modulation, chosen per layer.** StyleGAN2 scales the conv weight by each
  sample's styles and renormalises it (demodulation). Either we do exactly that (one modulated weight per
  sample, built directly in channels_last order, one grouped conv), or — by linearity — we scale the
  *activations* by the styles, convolve with the fixed weight (cast and cached once), and scale the result.
  Each layer takes whichever touches less memory: low resolutions have big weights and small activations,
  high resolutions the opposite. Demodulation coefficients come from ``styles² @ Σ_k weight²`` with the sum
  precomputed, so no per-frame pass over the weight is needed for them. Bias and gain ride in the conv.
* **Precision is a run-time choice** (:meth:`Generator.set_precision`): ``fp32`` everywhere; ``fp16`` (CUDA)
  or ``bf16`` (CPUs with native bf16) in the blocks the official config marks for fp16, in channels_last,
  with the official fp16 overflow guards. Outputs are always float32.

    >>> G = Generator(GeneratorConfig(z_dim=8, c_dim=0, w_dim=8, img_resolution=8, img_channels=3,
    ...                               channel_base=64, channel_max=8))
    >>> ws = G.mapping(torch.randn(2, 8), None, truncation_psi=0.7)
    >>> G.synthesis(ws, noise_mode="const").shape
    torch.Size([2, 3, 8, 8])
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

import torch
from torch import nn
import torch.nn.functional as F

from engine.models import ops
from engine.models.config import NOISE_MODES, GeneratorConfig, NoiseMode
from engine.models.tone import ToneMap

Modulation = Literal["auto", "weights", "activations"]
MODULATIONS: tuple[str, ...] = ("auto", "weights", "activations")
Precision = Literal["fp32", "fp16", "bf16"]
PRECISIONS: tuple[str, ...] = ("fp32", "fp16", "bf16")
_DTYPES: dict[str, torch.dtype] = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


class FullyConnectedLayer(nn.Module):
    """A dense layer with equalised learning rate: weights are stored unscaled and scaled at run time."""

    def __init__(self,
                 in_features: int,              # input width
                 out_features: int,             # output width
                 activation: str = "linear",    # 'linear' or 'lrelu'
                 lr_multiplier: float = 1.0,    # equalised learning-rate multiplier
                 bias_init: float = 0.0,        # initial bias (1 for the style affines: styles start near 1)
                 ) -> None:
        super().__init__()
        if activation not in ("linear", "lrelu"):
            raise ValueError(f"activation must be 'linear' or 'lrelu', got {activation!r}")
        self.activation = activation
        self.weight = nn.Parameter(torch.randn([out_features, in_features]) / lr_multiplier)
        self.bias = nn.Parameter(torch.full([out_features], float(bias_init)))
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight * self.weight_gain
        b = self.bias * self.bias_gain if self.bias_gain != 1 else self.bias
        if self.activation == "linear":
            return torch.addmm(b.unsqueeze(0), x, w.t())
        return ops.bias_lrelu_clamp(x.matmul(w.t()), b, ops.LRELU_GAIN, None)


class MappingNetwork(nn.Module):
    """z (and label c) → W, broadcast to ``num_ws`` copies, with truncation towards ``w_avg``."""

    w_avg: torch.Tensor  # buffer: the running mean of W that truncation pulls towards

    def __init__(self, cfg: GeneratorConfig, num_ws: int) -> None:
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = cfg.z_dim, cfg.c_dim, cfg.w_dim, num_ws
        embed_features = (cfg.embed_features or cfg.w_dim) if cfg.c_dim else 0
        layer_features = cfg.layer_features or cfg.w_dim
        features = [cfg.z_dim + embed_features] + [layer_features] * (cfg.mapping_layers - 1) + [cfg.w_dim]
        if cfg.c_dim:
            self.embed = FullyConnectedLayer(cfg.c_dim, embed_features)
        self.num_layers = cfg.mapping_layers
        for i in range(cfg.mapping_layers):
            setattr(self, f"fc{i}", FullyConnectedLayer(features[i], features[i + 1], activation="lrelu",
                                                        lr_multiplier=cfg.mapping_lr_multiplier))
        self.has_w_avg = cfg.w_avg_beta is not None
        if self.has_w_avg:
            self.register_buffer("w_avg", torch.zeros([cfg.w_dim]))

    def forward(self,
                z: torch.Tensor,                        # [N, z_dim]
                c: torch.Tensor | None = None,          # [N, c_dim] one-hot or soft labels; None if unconditional
                truncation_psi: float = 1.0,            # 1 = no truncation, 0 = the average W
                truncation_cutoff: int | None = None,   # truncate only the first `cutoff` ws (None = all)
                ) -> torch.Tensor:
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must have shape [N, {self.z_dim}], got {list(z.shape)}")
        x = ops.normalize_2nd_moment(z.to(torch.float32))
        if self.c_dim:
            if c is None or c.ndim != 2 or c.shape != (z.shape[0], self.c_dim):
                got = None if c is None else list(c.shape)
                raise ValueError(f"this generator is conditional: c must have shape [{z.shape[0]}, {self.c_dim}], got {got}")
            y = ops.normalize_2nd_moment(self.embed(c.to(torch.float32)))
            x = torch.cat([x, y], dim=1)
        for i in range(self.num_layers):
            x = self.get_submodule(f"fc{i}")(x)
        ws = x.unsqueeze(1).repeat([1, self.num_ws, 1])
        return self.truncate(ws, truncation_psi, truncation_cutoff)

    def truncate(self, ws: torch.Tensor, psi: float, cutoff: int | None = None) -> torch.Tensor:
        """Pull ws towards the average W: ``w_avg + psi * (w - w_avg)`` on the first ``cutoff`` layers."""
        if psi == 1:
            return ws
        if not self.has_w_avg:
            raise ValueError("this generator has no w_avg, so truncation_psi must be 1")
        if cutoff is None:
            return self.w_avg.lerp(ws, psi)
        ws = ws.clone()
        ws[:, :cutoff] = self.w_avg.lerp(ws[:, :cutoff], psi)
        return ws


class _FirCache:
    """The depthwise FIR kernels of one layer, built once per (channels, dtype, device, memory format)."""

    def __init__(self, taps: tuple[float, ...], gain: float) -> None:
        self.taps, self.gain = taps, gain
        self._kernels: dict[tuple[object, ...], torch.Tensor] = {}

    def get(self, x: torch.Tensor, channels: int) -> torch.Tensor:
        fmt = _memory_format(x)
        key = (channels, x.dtype, x.device, fmt)
        kernel = self._kernels.get(key)
        if kernel is None or (kernel.is_inference() and not torch.is_inference_mode_enabled()):   # see _DerivedWeight
            kernel = ops.fir_kernel(self.taps, channels, self.gain, x.dtype, x.device, fmt)
            self._kernels[key] = kernel
        return kernel


def _memory_format(x: torch.Tensor) -> torch.memory_format:
    if x.shape[1] > 1 and x.is_contiguous(memory_format=torch.channels_last):
        return torch.channels_last
    return torch.contiguous_format


class _DerivedWeight:
    """Forms of a conv weight that every frame needs, rebuilt only when the weight changes.

    * ``sq``: Σ_k weight² as [out, in], for the demodulation coefficients.
    * ``nhwc``: the weight as [out, k, k, in] (the memory order of a channels_last conv weight).
    * :meth:`static`: the unmodulated weight cast to a compute dtype (for modulating activations).
    The key includes the parameter's version counter, so loading new weights invalidates the cache.
    """

    def __init__(self, up: int = 1) -> None:
        self.up = up
        self._key: tuple[object, ...] = ()
        self.sq = torch.empty(0)
        self.nhwc: list[torch.Tensor] = []   # the kernel, or for up=2 its four phase kernels, as [out, kh, kw, in]
        self._static: dict[torch.dtype, tuple[list[torch.Tensor], torch.Tensor]] = {}

    def update(self, weight: torch.Tensor) -> _DerivedWeight:
        key = (weight.device, weight.data_ptr(), weight._version)
        # Forms made under inference_mode cannot join an autograd graph (a projection after live frames).
        stale = self.sq.is_inference() and not torch.is_inference_mode_enabled()
        if key != self._key or stale:
            w = weight.detach().to(torch.float32)
            self.sq = w.square().sum(dim=[2, 3])
            kernels = ops.phase_kernels(w) if self.up == 2 else [w]
            self.nhwc = [k.permute(0, 2, 3, 1).contiguous() for k in kernels]
            self._static.clear()
            self._key = key
        return self

    def static(self, dtype: torch.dtype) -> tuple[list[torch.Tensor], torch.Tensor]:
        """The unmodulated kernel(s) in ``dtype`` (channels_last), and the per-filter scale applied to them.

        For fp16 each output filter is scaled by ``1 / (sqrt(fan_in) · max|w|)`` (the official overflow
        guard); otherwise the scale is one.
        """
        cached = self._static.get(dtype)
        if cached is None:
            out_ch = self.nhwc[0].shape[0]
            scale = torch.ones(out_ch, device=self.nhwc[0].device)
            if dtype == torch.float16:
                fan_in = sum(k[0].numel() for k in self.nhwc)
                peak = torch.stack([k.abs().amax(dim=[1, 2, 3]) for k in self.nhwc]).amax(dim=0)
                scale = 1 / (math.sqrt(fan_in) * peak)
            kernels = [(k * scale.reshape(-1, 1, 1, 1)).to(dtype).permute(0, 3, 1, 2) for k in self.nhwc]
            cached = (kernels, scale)
            self._static[dtype] = cached
        return cached


def _modulate(derived: _DerivedWeight, scale: torch.Tensor, dtype: torch.dtype) -> list[torch.Tensor]:
    """Per-sample weights ``weight[o, i] · scale[n, o, i]`` as channels_last grouped-conv weights
    [N·out, in, kh, kw] (one, or the four phase kernels of an up-sampling layer).

    The product is formed in float32 (no overflow, whatever the compute dtype) directly in channels_last
    order, where the innermost dimension is long and contiguous, then cast to ``dtype``.
    """
    n, out_ch, in_ch = scale.shape
    factors = scale.reshape(n, out_ch, 1, 1, in_ch)
    kernels = []
    for k in derived.nhwc:
        w = (k.unsqueeze(0) * factors).reshape(-1, *k.shape[1:])  # [N·out, kh, kw, in]
        kernels.append(w.to(dtype).permute(0, 3, 1, 2))
    return kernels


def _grouped(x: torch.Tensor) -> torch.Tensor:
    """[N, C, H, W] → [1, N·C, H, W] for a grouped conv with one group per sample (a view when N == 1)."""
    return x if x.shape[0] == 1 else x.reshape(1, -1, *x.shape[2:])


class SynthesisLayer(nn.Module):
    """Modulated 3×3 convolution (optionally up-sampling ×2), noise, bias, leaky ReLU, clamp.

    Modulation and demodulation are folded into one weight per sample: with styles s (from W) and
    d[o] = (Σ_{i,k} (weight[o,i,k]·s[i])² + ε)^-½, the conv weight is ``weight·s·d·gain``. The sum needs only
    ``s² @ Σ_k weight²``, precomputed once, so a frame costs one pass over the weight and one convolution.
    """

    noise_const: torch.Tensor  # buffer: the fixed noise image of noise_mode="const"

    def __init__(self,
                 in_channels: int,              # input feature channels
                 out_channels: int,             # output feature channels
                 w_dim: int,                    # W dimensionality (input of the style affine)
                 resolution: int,               # output resolution
                 up: int = 1,                   # 1, or 2 to double the resolution
                 use_noise: bool = True,        # add per-pixel noise
                 resample_filter: tuple[float, ...] = (1, 3, 3, 1),  # 1-D FIR taps for up-sampling
                 conv_clamp: float | None = None,  # clamp of the output, None = off
                 kernel_size: int = 3,          # convolution kernel size
                 ) -> None:
        super().__init__()
        self.resolution, self.up, self.use_noise, self.conv_clamp = resolution, up, use_noise, conv_clamp
        taps = ops.make_fir_taps(resample_filter)
        self.register_buffer("resample_filter", ops.fir_filter_2d(taps))
        self.padding = kernel_size // 2
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        if use_noise:
            self.register_buffer("noise_const", torch.randn([resolution, resolution]))
            self.noise_strength = nn.Parameter(torch.zeros([]))
        self._fir = _FirCache(taps, gain=4.0)
        self._derived = _DerivedWeight(up)
        self.modulation: Modulation = "auto"

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: NoiseMode = "const", gain: float = 1.0,
                noise_generator: torch.Generator | None = None) -> torch.Tensor:
        n = x.shape[0]
        derived = self._derived.update(self.weight)
        styles = self.affine(w)  # [N, in]
        dcoefs = (styles.square() @ derived.sq.t() + 1e-8).rsqrt()  # [N, out]
        # lrelu(y·d + noise + b)·g == lrelu(y·d·g + noise·g + b·g) for g > 0: fold the gain into scale and bias.
        act_gain = ops.LRELU_GAIN * gain
        out_scale, bias = dcoefs * act_gain, self.bias * act_gain
        if self._modulate_activations(x):
            x = self._conv_modulating_activations(x, derived, styles, out_scale, bias)
        else:
            x = self._conv_modulating_weights(x, derived, styles, out_scale, bias)
        noise = self._noise(n, x, noise_mode, noise_generator)
        inplace = not (torch.is_grad_enabled() and (x.requires_grad or w.requires_grad))  # projection: autograd
        if noise is not None:
            noise = noise * act_gain
            x = x.add_(noise.to(x.dtype)) if inplace else x + noise.to(x.dtype)
        x = F.leaky_relu(x, ops.LRELU_SLOPE, inplace=inplace)
        if self.conv_clamp is not None:
            limit = self.conv_clamp * gain
            x = x.clamp_(-limit, limit) if inplace else x.clamp(-limit, limit)
        return x

    def _modulate_activations(self, x: torch.Tensor) -> bool:
        """Pick the cheaper of two exact formulations by the elements each one touches per sample."""
        if self.modulation != "auto":
            return self.modulation == "activations"
        out_ch, in_ch, kh, kw = self.weight.shape
        activation_elems = x[0].numel() + out_ch * self.resolution ** 2  # scale the input, then the output
        weight_elems = 2 * out_ch * in_ch * kh * kw  # modulate, then cast
        return activation_elems < weight_elems

    def _conv_modulating_weights(self, x: torch.Tensor, derived: _DerivedWeight, styles: torch.Tensor,
                                 out_scale: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """conv(x, weight·s·d): one per-sample weight (a grouped conv when N > 1); cheap at high resolution."""
        n = x.shape[0]
        scale = styles.unsqueeze(1) * out_scale.unsqueeze(2)  # [N, out, in]
        bias = bias.to(x.dtype).repeat(n)
        kernels = _modulate(derived, scale, x.dtype)
        if self.up == 2:
            y = ops.upsample_conv2d(_grouped(x), kernels, self._fir.get(x, bias.shape[0]), groups=n, bias=bias)
        else:
            y = F.conv2d(_grouped(x), kernels[0], bias=bias, padding=self.padding, groups=n)
        return y.reshape(n, -1, *y.shape[2:])

    def _conv_modulating_activations(self, x: torch.Tensor, derived: _DerivedWeight, styles: torch.Tensor,
                                     out_scale: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """conv(x·s, weight)·d with the fixed, cached weight; cheap at low resolution and for batches.

        In fp16 the official overflow guards apply: styles are divided by their maximum and each cached filter
        is normalised (``derived.static``); the output scale undoes both exactly.
        """
        n = x.shape[0]
        kernels, filter_scale = derived.static(x.dtype)
        if x.dtype == torch.float16:
            styles_max = styles.abs().amax(dim=1, keepdim=True)
            styles = styles / styles_max
            out_scale = out_scale * styles_max / filter_scale
        x = x * styles.to(x.dtype).reshape(n, -1, 1, 1)
        # (y + b/d)·d == y·d + b: for one sample the bias rides along in the convolution.
        conv_bias = (bias / out_scale[0]).to(x.dtype) if n == 1 else None
        if self.up == 2:
            y = ops.upsample_conv2d(x, kernels, self._fir.get(x, kernels[0].shape[0]), bias=conv_bias)
        else:
            y = F.conv2d(x, kernels[0], bias=conv_bias, padding=self.padding)
        y = y.mul_(out_scale.to(y.dtype).reshape(n, -1, 1, 1))
        return y if n == 1 else y.add_(bias.to(y.dtype).reshape(1, -1, 1, 1))

    def _noise(self, n: int, x: torch.Tensor, mode: NoiseMode, generator: torch.Generator | None
               ) -> torch.Tensor | None:
        if not self.use_noise or mode == "none":
            return None
        if mode == "const":
            return (self.noise_const * self.noise_strength).reshape(1, 1, self.resolution, self.resolution)
        shape = (n, 1, self.resolution, self.resolution)
        return torch.randn(shape, device=x.device, generator=generator) * self.noise_strength


class ToRGBLayer(nn.Module):
    """Modulated 1×1 convolution to image channels (no demodulation), bias, clamp; float32 output."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, conv_clamp: float | None = None) -> None:
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, 1, 1]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        self.weight_gain = 1 / math.sqrt(in_channels)
        self._derived = _DerivedWeight()

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        styles = self.affine(w) * self.weight_gain  # [N, in]
        scale = styles.unsqueeze(1).expand(n, self.weight.shape[0], -1)
        (weight,) = _modulate(self._derived.update(self.weight), scale, x.dtype)
        x = F.conv2d(_grouped(x), weight, groups=n).reshape(n, -1, *x.shape[2:])
        x = x.to(torch.float32).add_(self.bias.reshape(1, -1, 1, 1))
        if self.conv_clamp is not None:
            x = x.clamp_(-self.conv_clamp, self.conv_clamp)
        return x.contiguous()


class Conv2dLayer(nn.Module):
    """The resnet architecture's skip path: 1×1 convolution without bias, then FIR up-sampling ×2."""

    def __init__(self, in_channels: int, out_channels: int, resample_filter: tuple[float, ...]) -> None:
        super().__init__()
        taps = ops.make_fir_taps(resample_filter)
        self.register_buffer("resample_filter", ops.fir_filter_2d(taps))
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, 1, 1]))
        self.weight_gain = 1 / math.sqrt(in_channels)
        self._fir = _FirCache(taps, gain=4.0)

    def forward(self, x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        x = F.conv2d(x, (self.weight * (self.weight_gain * gain)).to(x.dtype))
        return ops.fir_upsample_2x(x, self._fir.get(x, x.shape[1]))


class SynthesisBlock(nn.Module):
    """One resolution of the synthesis network: two modulated convs and (skip/last) a toRGB output."""

    def __init__(self, cfg: GeneratorConfig, resolution: int) -> None:
        super().__init__()
        self.resolution = resolution
        self.in_channels = cfg.channels(resolution // 2) if resolution > 4 else 0
        out_channels = cfg.channels(resolution)
        self.architecture = cfg.architecture
        self.is_last = resolution == cfg.img_resolution
        taps = ops.make_fir_taps(cfg.resample_filter)
        self.register_buffer("resample_filter", ops.fir_filter_2d(taps))
        self._fir = _FirCache(taps, gain=4.0)
        def layer(in_channels: int, up: int = 1) -> SynthesisLayer:
            return SynthesisLayer(in_channels, out_channels, w_dim=cfg.w_dim, resolution=resolution, up=up,
                                  use_noise=cfg.use_noise, resample_filter=cfg.resample_filter,
                                  conv_clamp=cfg.conv_clamp)

        if self.in_channels == 0:
            self.const = nn.Parameter(torch.randn([out_channels, resolution, resolution]))
        else:
            self.conv0 = layer(self.in_channels, up=2)
        self.conv1 = layer(out_channels)
        self.num_conv = 1 if self.in_channels == 0 else 2
        self.has_torgb = self.is_last or cfg.architecture == "skip"
        self.num_torgb = int(self.has_torgb)
        if self.has_torgb:
            self.torgb = ToRGBLayer(out_channels, cfg.img_channels, cfg.w_dim, conv_clamp=cfg.conv_clamp)
        if self.in_channels != 0 and cfg.architecture == "resnet":
            self.skip = Conv2dLayer(self.in_channels, out_channels, cfg.resample_filter)

    def forward(self, x: torch.Tensor | None, img: torch.Tensor | None, ws: torch.Tensor, dtype: torch.dtype,
                noise_mode: NoiseMode, noise_generator: torch.Generator | None
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        fmt = torch.channels_last  # oneDNN and cuDNN convolutions are fastest on NHWC activations
        w_iter = iter(ws.unbind(dim=1))
        noise = dict(noise_mode=noise_mode, noise_generator=noise_generator)
        if self.in_channels == 0:
            x = self.const.to(dtype).unsqueeze(0).repeat([ws.shape[0], 1, 1, 1]).contiguous(memory_format=fmt)
            x = self.conv1(x, next(w_iter), **noise)
        else:
            assert x is not None and x.shape[1:] == (self.in_channels, self.resolution // 2, self.resolution // 2), \
                f"block {self.resolution}: unexpected input {None if x is None else list(x.shape)}"
            x = x.to(dtype).contiguous(memory_format=fmt)
            if self.architecture == "resnet":
                y = self.skip(x, gain=math.sqrt(0.5))
                x = self.conv0(x, next(w_iter), **noise)
                x = self.conv1(x, next(w_iter), gain=math.sqrt(0.5), **noise)
                x = y.add_(x)
            else:
                x = self.conv0(x, next(w_iter), **noise)
                x = self.conv1(x, next(w_iter), **noise)
        if img is not None:
            img = ops.fir_upsample_2x(img, self._fir.get(img, img.shape[1]))
        if self.has_torgb:
            y = self.torgb(x, next(w_iter))
            img = img.add_(y) if img is not None else y
        return x, img


class SynthesisNetwork(nn.Module):
    """ws [N, num_ws, w_dim] → image [N, img_channels, H, W] (float32, about [-1, 1] for trained models)."""

    def __init__(self, cfg: GeneratorConfig) -> None:
        super().__init__()
        self.w_dim, self.img_resolution, self.img_channels = cfg.w_dim, cfg.img_resolution, cfg.img_channels
        self.block_resolutions = list(cfg.block_resolutions)
        self.num_ws = cfg.num_ws
        for res in self.block_resolutions:
            setattr(self, f"b{res}", SynthesisBlock(cfg, res))
        self.precision: Precision = "fp32"
        self.reduced_resolution = cfg.fp16_resolution if cfg.num_fp16_res > 0 else cfg.img_resolution * 2

    def block(self, resolution: int) -> SynthesisBlock:
        """The block at ``resolution`` (named b4, b8, … as in the official state dicts)."""
        block = self.get_submodule(f"b{resolution}")
        assert isinstance(block, SynthesisBlock)
        return block

    def forward(self, ws: torch.Tensor, noise_mode: NoiseMode = "const",
                noise_generator: torch.Generator | None = None) -> torch.Tensor:
        if ws.ndim != 3 or ws.shape[1:] != (self.num_ws, self.w_dim):
            raise ValueError(f"ws must have shape [N, {self.num_ws}, {self.w_dim}], got {list(ws.shape)}")
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
        ws = ws.to(torch.float32)
        x: torch.Tensor | None = None
        img: torch.Tensor | None = None
        w_idx = 0
        for res in self.block_resolutions:
            block = self.block(res)
            block_ws = ws.narrow(1, w_idx, block.num_conv + block.num_torgb)
            w_idx += block.num_conv
            reduced = self.precision != "fp32" and res >= self.reduced_resolution
            dtype = _DTYPES[self.precision] if reduced else torch.float32
            x, img = block(x, img, block_ws, dtype, noise_mode, noise_generator)
        assert img is not None
        return img


class Generator(nn.Module):
    """The whole generator. Mapping and synthesis are separate calls, so walks can work in W space:

        ws = G.mapping(z, c, truncation_psi=0.7)      # [N, num_ws, w_dim]
        img = G.synthesis(ws, noise_mode="const")     # [N, 3, H, W], float32
    """

    def __init__(self, cfg: GeneratorConfig) -> None:
        super().__init__()
        self.config = cfg
        self.z_dim, self.c_dim, self.w_dim = cfg.z_dim, cfg.c_dim, cfg.w_dim
        self.img_resolution, self.img_channels = cfg.img_resolution, cfg.img_channels
        self.synthesis = SynthesisNetwork(cfg)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(cfg, self.num_ws)
        self.tone_map: ToneMap = "clip"  # how to show values outside [-1, 1]; see engine.models.tone
        self.eval().requires_grad_(False)

    @property
    def precision(self) -> Precision:
        return self.synthesis.precision

    @property
    def device(self) -> torch.device:
        return self.mapping.w_avg.device if self.mapping.has_w_avg else next(self.parameters()).device

    def set_precision(self, precision: Precision, reduced_from: int | None = None) -> Generator:
        """Choose the compute precision of the synthesis network.

        ``fp32`` runs everything in float32. ``fp16`` (CUDA only) and ``bf16`` run the blocks from resolution
        ``reduced_from`` up in that dtype with channels_last activations; by default those are the blocks the
        model's own ``num_fp16_res`` marks (the official policy), or the top four if it marks none.
        """
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        if precision == "fp16" and self.device.type != "cuda":
            raise ValueError("fp16 needs a CUDA device; on the CPU use 'fp32' or 'bf16'")
        cfg = self.config
        if reduced_from is None:
            policy = cfg if cfg.num_fp16_res > 0 else dataclasses.replace(cfg, num_fp16_res=4)
            reduced_from = policy.fp16_resolution
        self.synthesis.precision = precision
        self.synthesis.reduced_resolution = reduced_from
        return self

    def set_modulation(self, modulation: Modulation) -> Generator:
        """How the synthesis layers apply styles: ``"auto"`` (the default) picks per layer whichever of the
        two exact formulations touches less memory; ``"weights"`` always modulates the conv weights (the
        official fused path), ``"activations"`` always scales the activations around a fixed weight."""
        if modulation not in MODULATIONS:
            raise ValueError(f"modulation must be one of {MODULATIONS}, got {modulation!r}")
        for module in self.modules():
            if isinstance(module, SynthesisLayer):
                module.modulation = modulation
        return self

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None, truncation_psi: float = 1.0,
                truncation_cutoff: int | None = None, noise_mode: NoiseMode = "const") -> torch.Tensor:
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
        return self.synthesis(ws, noise_mode=noise_mode)
