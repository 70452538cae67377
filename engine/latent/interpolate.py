"""Interpolation between latents: easing curves, lerp, slerp and Catmull-Rom splines.

All functions are pure and work on torch tensors of any shape (the interpolation runs over the leading
"keyframe" axis or between two tensors), so they serve W [num_ws, w_dim] as well as Z [z_dim].

    >>> import torch
    >>> a, b = torch.zeros(3), torch.ones(3)
    >>> lerp(a, b, ease(0.5, "smooth")).tolist()
    [0.5, 0.5, 0.5]
"""

from __future__ import annotations

import math

import torch

from engine.latent.spec import EASINGS, Easing


def ease(u: float, easing: Easing) -> float:
    """Map segment progress ``u`` in [0, 1] through an easing curve (all fix 0 and 1).

    ``linear`` keeps constant speed; ``smooth`` (cubic smoothstep) and ``smoother`` (quintic) slow down into
    and out of every keyframe; ``sine`` is a half-cosine ease-in-out.
    """
    u = min(max(u, 0.0), 1.0)
    if easing == "linear":
        return u
    if easing == "smooth":
        return u * u * (3.0 - 2.0 * u)
    if easing == "smoother":
        return u * u * u * (u * (u * 6.0 - 15.0) + 10.0)
    if easing == "sine":
        return 0.5 - 0.5 * math.cos(math.pi * u)
    raise ValueError(f"easing must be one of {EASINGS}, got {easing!r}")


def lerp(a: torch.Tensor, b: torch.Tensor, u: float) -> torch.Tensor:
    """Straight line from a (u = 0) to b (u = 1): the natural path in W, where StyleGAN is near-linear."""
    return a + (b - a) * u


def slerp(a: torch.Tensor, b: torch.Tensor, u: float, eps: float = 1e-7) -> torch.Tensor:
    """Spherical interpolation along the last axis: keeps the norm of Gaussian Z samples, unlike lerp.

    Falls back to lerp when a and b are (anti)parallel, where the great circle is undefined.
    """
    a64, b64 = a.to(torch.float64), b.to(torch.float64)
    na, nb = a64.norm(dim=-1, keepdim=True), b64.norm(dim=-1, keepdim=True)
    cos = ((a64 / na.clamp_min(eps)) * (b64 / nb.clamp_min(eps))).sum(dim=-1, keepdim=True).clamp(-1.0, 1.0)
    omega = torch.arccos(cos)
    sin = torch.sin(omega)
    if bool((sin.abs() < 1e-6).any()):
        return lerp(a, b, u)
    out = (torch.sin((1.0 - u) * omega) / sin) * a64 + (torch.sin(u * omega) / sin) * b64
    return out.to(a.dtype)


def catmull_rom(p0: torch.Tensor, p1: torch.Tensor, p2: torch.Tensor, p3: torch.Tensor, u: float) -> torch.Tensor:
    """Uniform Catmull-Rom segment from p1 (u = 0) to p2 (u = 1), with p0 and p3 as neighbours.

    Passes through every keyframe with a continuous velocity (C¹), so a walk through keyframes has no
    kinks; on a closed loop the neighbours wrap around and the seam is as smooth as every other keyframe.
    """
    u2, u3 = u * u, u * u * u
    return 0.5 * ((2.0 * p1) + (-p0 + p2) * u + (2.0 * p0 - 5.0 * p1 + 4.0 * p2 - p3) * u2
                  + (-p0 + 3.0 * p1 - 3.0 * p2 + p3) * u3)
