"""Projection: an artist's image becomes a keyframe (the W that makes the model draw something close to it).

An optimiser over W (or W+, one W per layer) from the average W, as the official StyleGAN2 projector does:
Adam with a learning rate that ramps up over the first 5% and down (cosine) over the last 25%, Gaussian noise
on W in the first quarter of the steps (scaled by W's spread, fading quadratically) so it does not settle in the
first valley. Unlike the official projector, the model's constant noise images are left as they are: the engine
draws every keyframe with them, so a W found with other noise would not look the same on stage.

The loss compares the picture as the engine shows it (after the model's tone map: a model whose output
overshoots [-1, 1] is clipped on stage, and a loss on the raw output chases values nobody sees): a pixel term
plus a multi-scale one (L1 over a Laplacian pyramid, so edges and broad colour both
count) — no network weights are needed — and, when the user gives VGG16 weights as a plain state dict, a
perceptual distance (:mod:`engine.latent.perceptual`; the official one ships as TorchScript, which carries code,
and is never loaded).

    result = project(G, target, steps=500)         # target: [H, W, 3] uint8 RGB, any size
    save_projection("projected_w.npz", result)     # w [1, num_ws, w_dim]: the official tools read it
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from engine.latent.perceptual import Vgg16
from engine.models.networks import Generator
from engine.models.tone import tone_map

INITIAL_LR = 0.1
LR_RAMP_UP, LR_RAMP_DOWN = 0.05, 0.25      # shares of the steps
NOISE_RAMP = 0.25                          # W noise fades out over the first quarter of the steps (the official
                                           # three quarters left a 600-step run no time to settle: 24 dB vs 62 dB)
INITIAL_NOISE = 0.05                       # of W's spread
PYRAMID_LEVELS = 4
MAX_STEPS = 100_000


@dataclasses.dataclass(frozen=True)
class Projection:
    w: np.ndarray                  # float32 [1, num_ws, w_dim]
    image: np.ndarray              # uint8 [H, W, 3]: what the model draws from w
    loss: float
    psnr: float                    # of the result against the (resized) target, dB
    steps: int


def prepare_target(image: np.ndarray, resolution: int) -> torch.Tensor:
    """An RGB uint8 image (any size), centre-cropped to a square and resized: [1, 3, R, R] in [-1, 1]."""
    if image.ndim != 3 or image.shape[2] not in (3, 4) or image.dtype != np.uint8:
        raise ValueError(f"expected an RGB image [H, W, 3] of bytes, got {image.dtype} {list(image.shape)}")
    h, w = image.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    square = np.ascontiguousarray(image[top:top + side, left:left + side, :3])
    resized = cv2.resize(square, (resolution, resolution), interpolation=cv2.INTER_AREA if side > resolution
                         else cv2.INTER_CUBIC)
    return torch.from_numpy(resized).permute(2, 0, 1)[None].float().div(127.5).sub(1.0)


def laplacian_pyramid_l1(a: torch.Tensor, b: torch.Tensor, levels: int = PYRAMID_LEVELS) -> torch.Tensor:
    """Mean L1 difference of two images' Laplacian pyramids (band by band, then the coarsest blur)."""
    total = a.new_zeros(())
    for _ in range(levels):
        if min(a.shape[-2:]) < 4:
            break
        da, db = F.avg_pool2d(a, 2), F.avg_pool2d(b, 2)
        ua, ub = F.interpolate(da, size=a.shape[-2:], mode="bilinear", align_corners=False), \
            F.interpolate(db, size=b.shape[-2:], mode="bilinear", align_corners=False)
        total = total + ((a - ua) - (b - ub)).abs().mean()
        a, b = da, db
    return total + (a - b).abs().mean()


def project(G: Generator, target: np.ndarray, steps: int = 500, space: str = "w", seed: int = 0,
            w_samples: int = 10_000, on_step: Callable[[int, float, torch.Tensor], None] | None = None,
            perceptual: Vgg16 | None = None) -> Projection:
    """The W (``space="w"``, one W for every layer) or W+ (``"w+"``) whose image is closest to ``target``;
    with ``perceptual`` (engine.latent.perceptual) its VGG16 distance joins the loss."""
    if space not in ("w", "w+"):
        raise ValueError(f"space must be w or w+, got {space!r}")
    if not 1 <= steps <= MAX_STEPS:
        raise ValueError(f"steps must be 1..{MAX_STEPS}, got {steps}")
    device = G.device
    goal = prepare_target(target, G.img_resolution).to(device)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        z = torch.randn(w_samples, G.z_dim, generator=generator).to(device)
        c = torch.zeros(w_samples, G.c_dim, device=device) if G.c_dim else None
        samples = G.mapping(z, c, truncation_psi=1.0)[:, :1]                     # [N, 1, w_dim]
        w_avg = samples.mean(dim=0, keepdim=True)
        w_std = float(((samples - w_avg).square().sum() / w_samples).sqrt())
    layers = G.num_ws if space == "w+" else 1
    w_opt = w_avg.repeat(1, layers, 1).clone().requires_grad_(True)
    grads = [p.requires_grad for p in G.parameters()]
    for parameter in G.parameters():
        parameter.requires_grad_(False)
    optimiser = torch.optim.Adam([w_opt], betas=(0.9, 0.999), lr=INITIAL_LR)
    loss_value = math.inf
    try:
        for step in range(steps):
            t = step / max(steps - 1, 1)
            noise_scale = w_std * INITIAL_NOISE * max(0.0, 1.0 - t / NOISE_RAMP) ** 2
            lr = INITIAL_LR * _lr_ramp(t)
            for group in optimiser.param_groups:
                group["lr"] = lr
            w_noise = torch.randn(w_opt.shape, generator=generator).to(device) * noise_scale
            ws = (w_opt + w_noise).expand(1, G.num_ws, G.w_dim) if layers == 1 else w_opt + w_noise
            image = tone_map(G.synthesis(ws, noise_mode="const"), G.tone_map)  # as the engine shows it
            loss = (image - goal).square().mean() + laplacian_pyramid_l1(image, goal)
            if perceptual is not None:
                loss = loss + perceptual.distance(image, goal)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            loss_value = float(loss.detach())
            if on_step is not None:
                on_step(step, loss_value, image.detach())
        with torch.no_grad():
            final = w_opt.detach().expand(1, G.num_ws, G.w_dim).clone() if layers == 1 else w_opt.detach().clone()
            image = tone_map(G.synthesis(final, noise_mode="const"), G.tone_map)
            mse = float((image - goal).square().mean())
    finally:
        for parameter, flag in zip(G.parameters(), grads):                     # the model is left as it was
            parameter.requires_grad_(flag)
    picture = image.clamp(-1, 1).add(1).mul(127.5).round().to(torch.uint8)[0].permute(1, 2, 0).cpu().numpy()
    psnr = 10 * math.log10(4.0 / max(mse, 1e-12))                              # the range [-1, 1] spans 2
    return Projection(final.cpu().numpy().astype(np.float32), picture, loss_value, psnr, steps)


def _lr_ramp(t: float) -> float:
    """The official schedule: up over the first 5%, a cosine down over the last 25%."""
    down = min(1.0, (1.0 - t) / LR_RAMP_DOWN)
    down = 0.5 - 0.5 * math.cos(down * math.pi)
    return down * min(1.0, t / LR_RAMP_UP)


def save_projection(path: str, projection: Projection) -> None:
    """An .npz with ``w`` [1, num_ws, w_dim] (the official projector's format), usable as a keyframe."""
    np.savez(path, w=projection.w)
