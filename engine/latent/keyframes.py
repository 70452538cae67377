"""Keyframes of a latent walk: where they come from and how they become latents.

A keyframe is a seed (z drawn exactly as the official tools draw it: ``np.random.RandomState(seed).randn``),
optionally with a class label for conditional models, or a saved latent from a ``.npy``/``.npz`` file:

* ``projected_w.npz`` as the official projector writes it: key ``w``, shape [1, num_ws, w_dim];
* any ``.npz`` with a ``w``/``ws`` (W) or ``z`` (Z) array, one or many rows (many rows = many keyframes);
* a ``.npy`` array: [N, num_ws, w_dim] holds per-layer ws (N = 1 for one keyframe); [w_dim] or [N, w_dim]
  holds one w per keyframe, used on every layer — or one z per keyframe if the keyframe says ``space="z"``
  (a bare vector cannot tell Z from W when z_dim == w_dim, as in most models).

Every keyframe resolves to an untruncated W [num_ws, w_dim] (and its z when it has one, for slerp walks).
Latent files are untrusted input, read once each by :mod:`engine.latent.files`.

Keyframes themselves are plain data (:mod:`engine.latent.spec`, no torch).
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence

import numpy as np
import torch

from engine.latent.files import LatentFileError, read_latents
from engine.latent.spec import MAX_KEYFRAMES, Keyframe, LatentSpace
from engine.models.networks import Generator

__all__ = ["Keyframe", "LatentFileError", "LatentSpace", "MAX_KEYFRAMES", "ResolvedKeyframe", "check_keyframe",
           "keyframes_from_file", "resolve_keyframe", "resolve_keyframes", "seed_to_z"]

_MAPPING_BATCH = 256            # seeds mapped per call when a walk is resolved


@dataclasses.dataclass(frozen=True)
class ResolvedKeyframe:
    """A keyframe as latents: untruncated ws [num_ws, w_dim] and, if it came from Z, its z [z_dim].

    ``ws`` of a seed or of a one-vector row is an expanded view of one w (all layers share it), so a
    10,000-keyframe walk costs 10,000 w vectors, not 10,000 × num_ws.
    """

    ws: torch.Tensor
    z: torch.Tensor | None
    c: torch.Tensor | None


def keyframes_from_file(path: str, space: LatentSpace = "w", origin: str | None = None) -> list[Keyframe]:
    """One keyframe per row of a latent file (a projected_w.npz gives one); the file is read once."""
    return [Keyframe(path=path, space=space, row=i, origin=origin) for i in range(read_latents(path, space).rows)]


def seed_to_z(seed: int, z_dim: int) -> np.ndarray:
    """The official tools' z for a seed: ``RandomState(seed).randn(1, z_dim)`` (float64)."""
    return np.random.RandomState(seed).randn(1, z_dim)[0]


def check_keyframe(kf: Keyframe, G: Generator) -> None:
    """Whether a keyframe can be resolved for ``G``, without running the network: its class fits the model,
    and a latent file row has the model's shape. Raises ValueError (LatentFileError for files) saying why."""
    _class_vector(kf, G)
    if kf.path is None:
        return
    latents = read_latents(kf.path, kf.space)
    array, where = latents.array, f"{kf.origin + ': ' if kf.origin else ''}{kf.path}"
    if not 0 <= kf.row < latents.rows:
        raise LatentFileError(f"{where}: row {kf.row} asked for, the file has {latents.rows}")
    width = G.z_dim if latents.space == "z" else G.w_dim
    if latents.space == "w" and array.ndim == 3:
        if array.shape[1:] != (G.num_ws, G.w_dim):
            raise LatentFileError(f"{where}: ws of shape {list(array.shape[1:])}, this model needs "
                                  f"[{G.num_ws}, {G.w_dim}]")
    elif array.shape[-1] != width:
        name = "z_dim" if latents.space == "z" else "w_dim"
        raise LatentFileError(f"{where}: {latents.space} vectors have {array.shape[-1]} values, this model's "
                              f"{name} is {width}")


def resolve_keyframe(kf: Keyframe, G: Generator) -> ResolvedKeyframe:
    """Turn one keyframe into latents for ``G`` (mapping runs here, in float32, untruncated)."""
    return resolve_keyframes([kf], G)[0]


def resolve_keyframes(keyframes: Sequence[Keyframe], G: Generator) -> list[ResolvedKeyframe]:
    """Resolve many keyframes at once: every z (seeds and Z rows) goes through the mapping network in
    batches, and each latent file is read once. Errors name the keyframe (and where it was written)."""
    if len(keyframes) > MAX_KEYFRAMES:
        raise ValueError(f"a walk holds at most {MAX_KEYFRAMES} keyframes, got {len(keyframes)}")
    device = G.device
    resolved: list[ResolvedKeyframe | None] = [None] * len(keyframes)
    to_map: list[tuple[int, np.ndarray, torch.Tensor | None]] = []     # (index, z, c)
    for i, kf in enumerate(keyframes):
        check_keyframe(kf, G)
        c = _class_vector(kf, G)
        if kf.seed is not None:
            to_map.append((i, seed_to_z(kf.seed, G.z_dim), c))
            continue
        assert kf.path is not None
        latents = read_latents(kf.path, kf.space)
        array = latents.array
        if latents.space == "z":
            to_map.append((i, array.reshape(-1, G.z_dim)[kf.row], c))
        elif array.ndim == 3:  # [N, num_ws, w_dim]
            resolved[i] = ResolvedKeyframe(ws=_shared(array[kf.row]).to(device), z=None, c=c)
        else:  # one w per row, shared by every layer
            w = _shared(array.reshape(-1, G.w_dim)[kf.row]).to(device)
            resolved[i] = ResolvedKeyframe(ws=w.expand(G.num_ws, -1), z=None, c=c)
    for start in range(0, len(to_map), _MAPPING_BATCH):
        batch = to_map[start:start + _MAPPING_BATCH]
        z = torch.from_numpy(np.stack([item[1] for item in batch])).to(device=device, dtype=torch.float32)
        cs = [item[2] for item in batch if item[2] is not None]
        c = torch.stack(cs) if G.c_dim else None   # conditional models: every keyframe has its class
        with torch.inference_mode():
            w = G.mapping(z, c)[:, 0].clone()  # untruncated: every layer holds the same w
        for k, (i, _, ci) in enumerate(batch):
            resolved[i] = ResolvedKeyframe(ws=w[k].expand(G.num_ws, -1), z=z[k], c=ci)
    return [r for r in resolved if r is not None]


def _shared(row: np.ndarray) -> torch.Tensor:
    """A tensor over a row of a cached latent array, without a copy: every walk over a file shares its
    memory. The array is read-only and nothing writes to keyframe latents (torch warns about the former)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return torch.from_numpy(row)


def _class_vector(kf: Keyframe, G: Generator) -> torch.Tensor | None:
    if G.c_dim == 0:
        if kf.class_index is not None:
            raise ValueError(f"{kf.describe()}: this model is unconditional; a class label makes no sense")
        return None
    if kf.class_index is None:
        raise ValueError(f"{kf.describe()}: this model is conditional ({G.c_dim} classes): give a class")
    if not 0 <= kf.class_index < G.c_dim:
        raise ValueError(f"{kf.describe()}: class must be in [0, {G.c_dim}), got {kf.class_index}")
    c = torch.zeros(G.c_dim, device=G.device)
    c[kf.class_index] = 1.0
    return c
