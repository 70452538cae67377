"""Chroma keyframes: twelve latents, one per pitch class, weighted by what the music is playing.

The audio analysis gives ``audio.chroma.c`` … ``audio.chroma.b`` (each frame's loudest pitch class reads 1).
:class:`ChromaKeyframes` turns them into weights (sharpened by a power, so the dominant pitch leads and a
chord blends its notes), mixes the twelve keyframes' W with them, and pulls the walk's W towards that mix by
``mix`` (the ``react.chroma`` parameter: cues fade it, a fader moves it). A chord change then moves the
picture between the twelve images; silence leaves the walk alone.

    chroma = ChromaKeyframes(G, seeds=tuple(range(12)))
    ws = chroma.apply(ws, weights=chroma.weights(readings), mix=0.7, psi=0.7)
"""

from __future__ import annotations

import numpy as np
import torch

from engine.latent.keyframes import Keyframe, resolve_keyframes
from engine.models.networks import Generator

PITCH_CLASSES = ("c", "cs", "d", "ds", "e", "f", "fs", "g", "gs", "a", "as", "b")
SHARPNESS = 4.0          # weights ∝ chroma ** SHARPNESS


class ChromaKeyframes:
    """Twelve seeds' W (untruncated; the frame's truncation is applied to the mix)."""

    def __init__(self, G: Generator, seeds: tuple[int, ...]) -> None:
        if len(seeds) != 12:
            raise ValueError(f"chroma keyframes: expected 12 seeds (c, c#, … b), got {len(seeds)}")
        self.G = G
        self.seeds = tuple(seeds)
        points = resolve_keyframes([Keyframe(seed=s) for s in seeds], G)
        self.ws = torch.stack([p.ws for p in points]).to(torch.float32)     # [12, num_ws, w_dim]

    @staticmethod
    def weights(readings: list[float | None]) -> np.ndarray | None:
        """Twelve readings (None: not heard) as weights summing to 1; None when there is nothing to follow."""
        values = np.array([0.0 if r is None else min(max(float(r), 0.0), 1.0) for r in readings])
        if values.shape != (12,) or not np.isfinite(values).all() or values.max() <= 1e-3:
            return None
        sharpened = values ** SHARPNESS
        return sharpened / sharpened.sum()

    def apply(self, ws: torch.Tensor, weights: np.ndarray, mix: float, psi: float,
              cutoff: int | None = None) -> torch.Tensor:
        """``ws`` [1, num_ws, w_dim] pulled by ``mix`` (0..1) towards the weighted, truncated keyframes."""
        if mix <= 0:
            return ws
        w = torch.from_numpy(weights.astype(np.float32)).to(self.ws.device)
        target = torch.einsum("k,kld->ld", w, self.ws)[None]
        if self.G.mapping.has_w_avg:
            target = self.G.mapping.truncate(target, psi, cutoff)
        target = target.to(device=ws.device, dtype=ws.dtype)
        return ws + min(mix, 1.0) * (target - ws)
