"""Keyframes of a latent walk: where they come from and how they become latents.

A keyframe is a seed (z drawn exactly as the official tools draw it: ``np.random.RandomState(seed).randn``),
optionally with a class label for conditional models, or a saved latent from a ``.npy``/``.npz`` file:

* ``projected_w.npz`` as the official projector writes it: key ``w``, shape [1, num_ws, w_dim];
* any ``.npz`` with a ``w``/``ws`` (W) or ``z`` (Z) array, one or many rows (many rows = many keyframes);
* a ``.npy`` array: [N, num_ws, w_dim] holds per-layer ws (N = 1 for one keyframe); [w_dim] or [N, w_dim]
  holds one w per keyframe, used on every layer — or one z per keyframe if the keyframe says ``space="z"``
  (a bare vector cannot tell Z from W when z_dim == w_dim, as in most models).

Every keyframe resolves to an untruncated W [num_ws, w_dim] (and its z when it has one, for slerp walks).

    >>> Keyframe.from_seed(42)
    Keyframe(seed=42, class_index=None, path=None, space='w', row=0)
"""

from __future__ import annotations

import dataclasses
import os
from typing import Literal

import numpy as np
import torch

from engine.models.networks import Generator

LatentSpace = Literal["w", "z"]


class LatentFileError(ValueError):
    """A latent file that cannot be used; the message names the file and what was expected."""


@dataclasses.dataclass(frozen=True)
class Keyframe:
    """One stop of a walk: a seed (with optional class) or a row of a saved latent file."""

    seed: int | None = None                 # z = RandomState(seed).randn(z_dim)
    class_index: int | None = None          # label for conditional models (one-hot)
    path: str | None = None                 # .npy / .npz latent file
    space: LatentSpace = "w"                # how to read a bare vector in a .npy file
    row: int = 0                            # which row of a multi-row latent file

    def __post_init__(self) -> None:
        if (self.seed is None) == (self.path is None):
            raise ValueError("a keyframe needs exactly one of seed or path")
        if self.seed is not None and not (0 <= self.seed < 2 ** 32):
            raise ValueError(f"seed must be in [0, 2**32), got {self.seed}")
        if self.space not in ("w", "z"):
            raise ValueError(f"space must be 'w' or 'z', got {self.space!r}")

    @classmethod
    def from_seed(cls, seed: int, class_index: int | None = None) -> Keyframe:
        return cls(seed=seed, class_index=class_index)

    def describe(self) -> str:
        if self.seed is not None:
            return f"seed {self.seed}" + (f" class {self.class_index}" if self.class_index is not None else "")
        return f"{self.path}[{self.row}]"


@dataclasses.dataclass(frozen=True)
class ResolvedKeyframe:
    """A keyframe as latents: untruncated ws [num_ws, w_dim] and, if it came from Z, its z [z_dim]."""

    ws: torch.Tensor
    z: torch.Tensor | None
    c: torch.Tensor | None


def keyframes_from_file(path: str, space: LatentSpace = "w") -> list[Keyframe]:
    """One keyframe per row of a latent file (a projected_w.npz gives one)."""
    array, _ = _read_latent_array(path, space)
    rows = 1 if array.ndim == 1 else array.shape[0]
    return [Keyframe(path=path, space=space, row=i) for i in range(rows)]


def seed_to_z(seed: int, z_dim: int) -> np.ndarray:
    """The official tools' z for a seed: ``RandomState(seed).randn(1, z_dim)`` (float64)."""
    return np.random.RandomState(seed).randn(1, z_dim)[0]


def resolve_keyframe(kf: Keyframe, G: Generator) -> ResolvedKeyframe:
    """Turn a keyframe into latents for ``G`` (mapping runs once here, in float32, untruncated)."""
    device = G.device
    c = _class_vector(kf, G)
    if kf.seed is not None:
        z = torch.from_numpy(seed_to_z(kf.seed, G.z_dim)).to(device=device, dtype=torch.float32)
        return ResolvedKeyframe(ws=_map(G, z, c), z=z, c=c)
    assert kf.path is not None
    array, space = _read_latent_array(kf.path, kf.space)
    if space == "z":
        rows = array.reshape(-1, array.shape[-1])
        if rows.shape[-1] != G.z_dim:
            raise LatentFileError(f"{kf.path}: z vectors have {rows.shape[-1]} values, this model's z_dim is {G.z_dim}")
        z = torch.from_numpy(_row(rows, kf)).to(device=device, dtype=torch.float32)
        return ResolvedKeyframe(ws=_map(G, z, c), z=z, c=c)
    if array.ndim == 3:  # [N, num_ws, w_dim]
        if array.shape[1:] != (G.num_ws, G.w_dim):
            raise LatentFileError(f"{kf.path}: ws of shape {list(array.shape[1:])}, this model needs "
                                  f"[{G.num_ws}, {G.w_dim}]")
        ws = torch.from_numpy(_row(array, kf))
    else:  # one w per row, broadcast to every layer
        rows = array.reshape(-1, array.shape[-1])
        if rows.shape[-1] != G.w_dim:
            raise LatentFileError(f"{kf.path}: w vectors have {rows.shape[-1]} values, this model's w_dim is {G.w_dim}")
        ws = torch.from_numpy(_row(rows, kf)).unsqueeze(0).repeat(G.num_ws, 1)
    return ResolvedKeyframe(ws=ws.to(device=device, dtype=torch.float32), z=None, c=c)


def _map(G: Generator, z: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
    with torch.inference_mode():
        return G.mapping(z.unsqueeze(0), None if c is None else c.unsqueeze(0))[0].clone()


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


def _row(array: np.ndarray, kf: Keyframe) -> np.ndarray:
    if not 0 <= kf.row < array.shape[0]:
        raise LatentFileError(f"{kf.path}: row {kf.row} asked for, the file has {array.shape[0]}")
    return np.ascontiguousarray(array[kf.row], dtype=np.float32)


def _read_latent_array(path: str, space: LatentSpace) -> tuple[np.ndarray, LatentSpace]:
    """Read a latent array (never a pickle) and tell which space it lives in."""
    if not os.path.isfile(path):
        raise LatentFileError(f"{path}: no such latent file")
    try:
        if path.endswith(".npz"):
            with np.load(path, allow_pickle=False) as data:
                for key, key_space in (("w", "w"), ("ws", "w"), ("z", "z")):
                    if key in data.files:
                        array, space = data[key], key_space  # type: ignore[assignment]
                        break
                else:
                    raise LatentFileError(f"{path}: expected an array named 'w', 'ws' or 'z', found {data.files}")
        else:
            array = np.load(path, allow_pickle=False)
    except LatentFileError:
        raise
    except (ValueError, OSError, EOFError) as exc:
        raise LatentFileError(f"{path}: not a readable .npy/.npz latent file ({exc})") from None
    if not np.issubdtype(array.dtype, np.floating) or array.ndim == 0 or array.ndim > 3 or array.size == 0:
        raise LatentFileError(f"{path}: expected a float array of 1-3 dims, got {array.dtype} {list(array.shape)}")
    if not np.isfinite(array).all():
        raise LatentFileError(f"{path}: the latents contain NaN or infinity")
    if space == "z" and array.ndim == 3:
        raise LatentFileError(f"{path}: z latents must be [z_dim] or [N, z_dim], got {list(array.shape)}")
    return array, space
