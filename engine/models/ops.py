"""Tensor operations of the StyleGAN2 synthesis network, in plain PyTorch.

The official implementation ships custom CUDA kernels (``bias_act``, ``upfirdn2d``) that are compiled at run
time, and falls back to slow reference code on the CPU. Everything here is ordinary PyTorch, so it runs on
any device without a compiler, and each function is written for the shapes the generator actually uses:

* ``fir_upsample_2x`` — zero-insertion upsampling by two followed by the FIR low-pass
  (``upfirdn2d.upsample2d`` of the official code), as one depthwise transposed convolution.
* ``fir_blur`` — the FIR filter alone, as a depthwise convolution (what follows a transposed convolution).
* ``upsample_conv2d`` — the official ``conv2d_resample(up=2)``: a stride-2 transposed convolution that skips
  the inserted zeros (run as four small forward convolutions, one per output phase), then the FIR filter.
* ``bias_lrelu_clamp`` — bias, leaky ReLU, gain and clamp in as few memory passes as possible.

    >>> import torch
    >>> k = fir_kernel(make_fir_taps([1, 3, 3, 1]), 3, 4.0, torch.float32, torch.device("cpu"))
    >>> fir_upsample_2x(torch.ones(1, 3, 4, 4), k).shape
    torch.Size([1, 3, 8, 8])

All of them are depthwise or dense convolutions, so oneDNN (CPU) and cuDNN (CUDA) run them in the dtype
and memory format of their input; the official reference path (zero insertion, padding copies, separate
bias/activation passes) spends more time moving memory than computing on a CPU.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

LRELU_SLOPE = 0.2
LRELU_GAIN = math.sqrt(2.0)  # the official "def_gain" of lrelu: keeps activations at unit variance


def make_fir_taps(taps: Sequence[float]) -> tuple[float, ...]:
    """Normalise 1-D FIR taps to sum to one (``setup_filter(normalize=True)``, before its outer product)."""
    values = [float(t) for t in taps]
    if not values or any(not math.isfinite(t) for t in values):
        raise ValueError(f"FIR taps must be a non-empty list of finite numbers, got {list(taps)!r}")
    total = sum(values)
    if total == 0.0:
        raise ValueError(f"FIR taps must not sum to zero, got {values!r}")
    return tuple(t / total for t in values)


def fir_filter_2d(taps: tuple[float, ...]) -> torch.Tensor:
    """The 2-D filter the official code stores as ``resample_filter``: the outer product of the 1-D taps."""
    f = torch.tensor(taps, dtype=torch.float32)
    return torch.outer(f, f)


def fir_kernel(taps: tuple[float, ...], channels: int, gain: float, dtype: torch.dtype, device: torch.device,
               memory_format: torch.memory_format = torch.contiguous_format) -> torch.Tensor:
    """Depthwise weight [channels, 1, n, n] of the separable FIR filter, scaled by ``gain``.

    The filter is stored flipped, so that convolution (PyTorch's cross-correlation) applies it the way the
    official ``upfirdn2d(flip_filter=False)`` does; the usual symmetric filters are unchanged by the flip.
    """
    f = torch.tensor(taps[::-1], dtype=torch.float64)
    k = (torch.outer(f, f) * gain).to(dtype=dtype, device=device)
    return k.reshape(1, 1, len(taps), len(taps)).repeat(channels, 1, 1, 1).contiguous(memory_format=memory_format)


def fir_blur(x: torch.Tensor, kernel: torch.Tensor, padding: int, bias: torch.Tensor | None = None) -> torch.Tensor:
    """Depthwise FIR filter (``kernel`` from :func:`fir_kernel`) with symmetric zero padding, plus a bias."""
    return F.conv2d(x, kernel, bias=bias, padding=padding, groups=x.shape[1])


def fir_upsample_2x(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Upsample by two with the FIR low-pass (``upfirdn2d.upsample2d``: insert zeros, pad, filter, gain 4).

    A depthwise stride-2 transposed convolution does exactly that without materialising the zeros. With the
    official padding for an even filter of n taps (``n/2`` before, ``n/2 - 1`` after) the output is exactly
    twice the input size; ``kernel`` must come from :func:`fir_kernel` with gain 4.
    """
    n = kernel.shape[-1]  # the transposed conv wants the flipped filter, which is what fir_kernel stores
    return F.conv_transpose2d(x, kernel, stride=2, padding=(n - 2) // 2, groups=x.shape[1])


# The four output phases of a stride-2 transposed 3×3 convolution: (output rows, output cols, kernel rows,
# kernel cols, conv padding). Kernel taps are listed in correlation order: the zero-padded neighbour before a
# sample meets tap 2, the sample itself tap 0; odd outputs see only the middle tap.
PHASES: tuple[tuple[slice, slice, list[int], list[int], tuple[int, int]], ...] = (
    (slice(0, None, 2), slice(0, None, 2), [2, 0], [2, 0], (1, 1)),
    (slice(0, None, 2), slice(1, None, 2), [2, 0], [1], (1, 0)),
    (slice(1, None, 2), slice(0, None, 2), [1], [2, 0], (0, 1)),
    (slice(1, None, 2), slice(1, None, 2), [1], [1], (0, 0)),
)


def phase_kernels(weight: torch.Tensor) -> list[torch.Tensor]:
    """Split a 3×3 kernel [out, in, 3, 3] into the four phase kernels (2×2, 2×1, 1×2, 1×1)."""
    if weight.shape[-2:] != (3, 3):
        raise ValueError(f"expected a 3x3 kernel, got {list(weight.shape)}")
    return [weight[:, :, rows][:, :, :, cols] for _, _, rows, cols, _ in PHASES]


def transposed_conv3x3_stride2(x: torch.Tensor, kernels: list[torch.Tensor], groups: int = 1) -> torch.Tensor:
    """``conv_transpose2d(x, weight.transpose(0, 1), stride=2)`` for a 3×3 ``weight``, from its
    :func:`phase_kernels`; the output is [N, groups·out, 2H+1, 2W+1].

    Each output parity (even/odd row × even/odd column) only ever sees some of the kernel taps: 2×2, 2×1,
    1×2 and 1×1 of them. Running those four as ordinary convolutions does exactly the transposed
    convolution's multiply-adds (it skips the same zeros), through the convolution libraries' fast forward
    kernels (2–3× faster than their transposed path in bf16 on a CPU); the phases are then interleaved.
    """
    n, _, h, w = x.shape
    fmt = torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format
    y = torch.empty((n, kernels[0].shape[0], 2 * h + 1, 2 * w + 1), dtype=x.dtype, device=x.device,
                    memory_format=fmt)
    for (rows, cols, _, _, padding), kernel in zip(PHASES, kernels):
        y[:, :, rows, cols] = F.conv2d(x, kernel, padding=padding, groups=groups)
    return y


def upsample_conv2d(x: torch.Tensor, kernels: list[torch.Tensor], fir: torch.Tensor, groups: int = 1,
                    bias: torch.Tensor | None = None) -> torch.Tensor:
    """A 3×3 convolution at twice the resolution of ``x`` (``conv2d_resample(up=2, padding=1)``).

    ``kernels`` are the :func:`phase_kernels` of the regular conv weight [groups·out, in, 3, 3]. The stride-2 transposed convolution only
    touches the real input samples (a quarter of the work of convolving the zero-inserted image); the FIR
    filter after it (``fir``: :func:`fir_kernel` with gain 4) removes the aliasing and adds the bias. With the
    official padding bookkeeping the output matches the official code to rounding.
    """
    k, n = 3, fir.shape[-1]
    p0 = k // 2 + (n + 1) // 2 - (k - 1)
    p1 = k // 2 + (n - 2) // 2 - (k - 2)
    if p0 != p1 or p0 < 0:
        raise ValueError(f"unsupported kernel/filter sizes k={k}, n={n} (asymmetric padding {p0}, {p1})")
    y = transposed_conv3x3_stride2(x, kernels, groups)
    return fir_blur(y, fir, padding=p0, bias=bias)


def bias_lrelu_clamp(x: torch.Tensor, bias: torch.Tensor | None, gain: float, clamp: float | None) -> torch.Tensor:
    """``clamp(lrelu(x + bias) * gain)`` in place (the official ``bias_act`` with act='lrelu').

    Leaky ReLU is positively homogeneous, so the gain is applied after it exactly as the official code does;
    the in-place ops keep this to three memory passes at most.
    """
    if bias is not None:
        x = x.add_(bias.reshape(1, -1, 1, 1) if x.ndim == 4 else bias)
    x = F.leaky_relu_(x, LRELU_SLOPE)
    if gain != 1.0:
        x = x.mul_(gain)
    if clamp is not None:
        x = x.clamp_(-clamp, clamp)
    return x


def normalize_2nd_moment(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Scale each row of ``x`` to unit mean square (the official input normalisation of the mapping net)."""
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()
