"""Tensor operations of the StyleGAN2 synthesis network, in plain PyTorch.

The official implementation ships custom CUDA kernels (``bias_act``, ``upfirdn2d``) that are compiled at run
time, and falls back to slow reference code on the CPU. Everything here is ordinary PyTorch, so it runs on
any device without a compiler, and each function is written for the shapes the generator actually uses:

* ``fir_upsample_2x`` — zero-insertion upsampling by two followed by a separable FIR low-pass
  (``upfirdn2d.upsample2d`` of the official code), done as two 1-D passes of strided slicing.
* ``fir_blur`` — the FIR filter alone, with explicit padding (what follows a transposed convolution).
* ``upsample_conv2d`` — the official ``conv2d_resample(up=2)``: a stride-2 transposed convolution that skips
  the inserted zeros, then the FIR filter.
* ``bias_lrelu_clamp`` — bias, leaky ReLU, gain and clamp in as few memory passes as possible.

    >>> import torch
    >>> f = make_fir_taps([1, 3, 3, 1])
    >>> fir_upsample_2x(torch.ones(1, 3, 4, 4), f).shape
    torch.Size([1, 3, 8, 8])

All functions keep the dtype and memory format of their input.
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


def _fir_1d(x: torch.Tensor, taps: tuple[float, ...], dim: int, gain: float) -> torch.Tensor:
    """Correlate ``x`` with ``taps`` along ``dim`` (valid mode), scaling by ``gain``.

    The filters are symmetric, so correlation and convolution agree; for asymmetric taps this matches the
    official ``flip_filter=False`` convention (the filter is applied flipped, i.e. a true convolution).
    """
    n = len(taps)
    length = x.shape[dim] - n + 1
    flipped = taps[::-1]
    out = x.narrow(dim, 0, length) * (flipped[0] * gain)
    for k in range(1, n):
        out.add_(x.narrow(dim, k, length), alpha=flipped[k] * gain)
    return out


def fir_blur(x: torch.Tensor, taps: tuple[float, ...], pad: tuple[int, int, int, int], gain: float = 1.0) -> torch.Tensor:
    """Separable FIR filter with zero padding ``(left, right, top, bottom)``; output keeps x's memory format."""
    x = F.pad(x, pad)
    g = math.sqrt(gain)
    x = _fir_1d(x, taps, dim=3, gain=g)
    return _fir_1d(x, taps, dim=2, gain=g)


def _zero_insert_2x(x: torch.Tensor) -> torch.Tensor:
    """[N, C, H, W] → [N, C, 2H, 2W] with the inputs at even positions and zeros between them."""
    n, c, h, w = x.shape
    out = x.new_zeros((n, c, h, 2, w, 2))
    out[:, :, :, 0, :, 0] = x
    return out.reshape(n, c, 2 * h, 2 * w)


def fir_upsample_2x(x: torch.Tensor, taps: tuple[float, ...]) -> torch.Tensor:
    """Upsample by two: insert zeros, pad, low-pass with gain 4 (``upfirdn2d.upsample2d``).

    Uses the official padding for an even filter of length n: ``(n + 1) // 2`` before and ``(n - 2) // 2``
    after (for [1, 3, 3, 1]: 2 and 1), so the output is exactly twice the input size.
    """
    n = len(taps)
    pad0, pad1 = (n + 1) // 2, (n - 2) // 2
    memory_format = torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) and x.shape[1] > 1 else torch.contiguous_format
    up = _zero_insert_2x(x)
    return fir_blur(up, taps, (pad0, pad1, pad0, pad1), gain=4.0).contiguous(memory_format=memory_format)


def upsample_conv2d(x: torch.Tensor, weight: torch.Tensor, taps: tuple[float, ...]) -> torch.Tensor:
    """A k×k convolution at twice the resolution of ``x`` (``conv2d_resample(up=2, padding=k//2)``).

    ``weight`` is [out, in, k, k]. The stride-2 transposed convolution only touches the real input samples
    (a quarter of the work of convolving the zero-inserted image), and the FIR filter after it removes the
    aliasing. Padding follows the official code so outputs match it to rounding.
    """
    k = weight.shape[-1]
    n = len(taps)
    # Official padding bookkeeping for up=2, padding=k//2, then the transposed conv consumes k-1 / k-2.
    p0 = k // 2 + (n + 1) // 2 - (k - 1)
    p1 = k // 2 + (n - 2) // 2 - (k - 2)
    crop = max(min(-p0, -p1), 0)
    y = F.conv_transpose2d(x, weight.transpose(0, 1), stride=2, padding=crop)
    return fir_blur(y, taps, (p0 + crop, p1 + crop, p0 + crop, p1 + crop), gain=4.0)


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
