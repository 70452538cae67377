"""From generator output (float, about [-1, 1]) to displayable 8-bit RGB.

Trained StyleGAN2 models stay inside [-1, 1] and are shown the official way: ``x * 127.5 + 128`` clipped
(``"clip"``). Untrained or exotic models overshoot; clipping them gives flat, posterised blobs, so they are
shown through a soft curve instead (``"soft"``: ``tanh``, linear near zero, never reaching the limits).

    >>> import torch
    >>> to_uint8_hwc(torch.zeros(1, 3, 2, 2), "clip")[0, 0, 0].tolist()
    [128, 128, 128]
"""

from __future__ import annotations

from typing import Literal

import torch

ToneMap = Literal["clip", "soft"]
TONE_MAPS: tuple[str, ...] = ("clip", "soft")


def tone_map(images: torch.Tensor, mode: ToneMap) -> torch.Tensor:
    """Map generator output to [-1, 1] (float32)."""
    if mode == "clip":
        return images.to(torch.float32).clamp(-1.0, 1.0)
    if mode == "soft":
        return torch.tanh(images.to(torch.float32))
    raise ValueError(f"tone map must be one of {TONE_MAPS}, got {mode!r}")


def to_uint8_hwc(images: torch.Tensor, mode: ToneMap) -> torch.Tensor:
    """[N, C, H, W] float → [N, H, W, C] uint8 on the same device (one copy to the host per frame at most)."""
    if images.ndim != 4:
        raise ValueError(f"images must be [N, C, H, W], got {list(images.shape)}")
    x = tone_map(images, mode).mul_(127.5).add_(128.0).clamp_(0.0, 255.0)
    return x.to(torch.uint8).permute(0, 2, 3, 1).contiguous()
