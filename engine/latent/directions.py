"""Latent directions: knobs that move the picture along something the model itself encodes.

A direction is a unit vector in W (``[w_dim]``, or one per layer ``[num_ws, w_dim]``) with the spread σ of W
along it and the layers it acts on. Turning its knob to α adds ``α·σ·d`` to the W of those layers, after
truncation: ``w' = w + Σ αᵢ·σᵢ·dᵢ``. Because α is in units of σ, ±1 means "one typical step" on every model.

Where directions come from:

- **SeFa** (Shen and Zhou, "Closed-Form Factorization of Latent Semantics in GANs", CVPR 2021): the style
  affine weights of the chosen convolution layers (toRGB layers excluded), transposed to [w_dim, channels] and
  concatenated, each column normalised to unit length; the directions are the eigenvectors of A·Aᵀ by falling
  eigenvalue. No sampling, milliseconds for a 1024² model.
- **GANSpace** (Härkönen et al., "GANSpace: Discovering Interpretable GAN Controls", NeurIPS 2020): principal
  components of sampled W (seeded), each applied to a layer range (``coarse``, ``middle``, ``fine``, ``a:b``).
- Files (InterFaceGAN boundaries, a learned SVM normal, an exported set): :mod:`engine.latent.direction_files`.

    >>> import torch
    >>> from engine.models import load_generator
    >>> G = load_generator(device="cpu", precision="fp32")          # the embedded default model
    >>> found = sefa(G, count=4)
    >>> found.names, found.vectors.shape
    (('sefa0', 'sefa1', 'sefa2', 'sefa3'), (4, 128))
    >>> ws = G.mapping(torch.zeros(1, G.z_dim), None)
    >>> moved = found.apply(ws, {"sefa0": 2.0})                    # two σ along the strongest direction
    >>> bool(torch.allclose(moved - ws, 2.0 * found.sigma[0] * torch.from_numpy(found.vectors[0]), atol=1e-5))
    True
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import re
import tempfile
import zipfile
from collections.abc import Mapping, Sequence

import numpy as np
import torch

from engine.models.networks import FullyConnectedLayer, Generator

log = logging.getLogger(__name__)

LAYER_NAMES: tuple[str, ...] = ("all", "coarse", "middle", "fine")
SPREAD_SAMPLES = 4096           # seeded W samples that measure σ along each direction
GANSPACE_SAMPLES = 20_000       # seeded W samples for the principal components
MAX_DIRECTIONS = 64


def layer_range(text: str, num_ws: int) -> tuple[int, int]:
    """A layer range of a model with ``num_ws`` W layers: ``all``, ``coarse`` (4²–8²: layers 0–3), ``middle``
    (16²–32²: 4–7), ``fine`` (64² up: 8–), or ``a:b`` (layers a … b-1). ValueError if it is empty here.

    >>> layer_range("middle", 18), layer_range("2:5", 18), layer_range("all", 14)
    ((4, 8), (2, 5), (0, 14))
    """
    named = {"all": (0, num_ws), "coarse": (0, 4), "middle": (4, 8), "fine": (8, num_ws)}
    if text in named:
        start, stop = named[text]
    else:
        match = re.fullmatch(r"(\d{1,3}):(\d{1,3})", text)
        if match is None:
            raise ValueError(f"layers: expected one of {', '.join(LAYER_NAMES)} or a:b, got {text[:20]!r}")
        start, stop = int(match[1]), int(match[2])
    start, stop = min(start, num_ws), min(stop, num_ws)
    if start >= stop:
        raise ValueError(f"layers {text}: no layer of this model's {num_ws} is in that range")
    return start, stop


def conv_affines(G: Generator) -> list[tuple[int, FullyConnectedLayer]]:
    """(W layer index, style affine) of every modulated convolution, in order; toRGB layers left out."""
    found: list[tuple[int, FullyConnectedLayer]] = []
    index = 0
    for resolution in G.synthesis.block_resolutions:
        block = G.synthesis.block(resolution)
        convs = [block.conv1] if block.in_channels == 0 else [block.conv0, block.conv1]
        for conv in convs:
            found.append((index, conv.affine))
            index += 1
    return found


@dataclasses.dataclass(frozen=True)
class DirectionSet:
    """Named directions with their spread and layer ranges (see the module docstring)."""

    names: tuple[str, ...]
    vectors: np.ndarray                     # float32 [K, w_dim] or [K, num_ws, w_dim], unit length per layer
    sigma: np.ndarray                       # float32 [K]: the spread of W along each
    layers: tuple[tuple[int, int], ...]     # per direction: the W layers it acts on
    source: str = ""                        # where they came from (for --list-params and messages)

    def __post_init__(self) -> None:
        k = len(self.names)
        if not (self.vectors.shape[0] == k == self.sigma.shape[0] == len(self.layers)) or k > MAX_DIRECTIONS:
            raise ValueError(f"a direction set needs as many names, vectors, spreads and layer ranges "
                             f"(at most {MAX_DIRECTIONS}), got {k}, {self.vectors.shape[0]}, {self.sigma.shape[0]}, "
                             f"{len(self.layers)}")

    def __len__(self) -> int:
        return len(self.names)

    def select(self, indices: Sequence[int], names: Sequence[str] | None = None,
               layers: Sequence[tuple[int, int]] | None = None) -> DirectionSet:
        """Some of the directions, renamed and re-ranged if given."""
        idx = list(indices)
        return DirectionSet(tuple(names) if names is not None else tuple(self.names[i] for i in idx),
                            self.vectors[idx], self.sigma[idx],
                            tuple(layers) if layers is not None else tuple(self.layers[i] for i in idx), self.source)

    def joined(self, other: DirectionSet, num_ws: int) -> DirectionSet:
        """Both sets in one (a name in both: ``other``'s wins); per-layer vectors where either has them."""
        keep = [i for i, name in enumerate(self.names) if name not in other.names]
        mine = self.select(keep)
        if mine.vectors.ndim != other.vectors.ndim:
            widen = (lambda v: v if v.ndim == 3 else np.repeat(v[:, None, :], num_ws, axis=1))
            vectors = np.concatenate([widen(mine.vectors), widen(other.vectors)])
        else:
            vectors = np.concatenate([mine.vectors, other.vectors])
        return DirectionSet(mine.names + other.names, vectors, np.concatenate([mine.sigma, other.sigma]),
                            mine.layers + other.layers, source=self.source or other.source)

    def apply(self, ws: torch.Tensor, alphas: Mapping[str, float]) -> torch.Tensor:
        """``ws`` [N, num_ws, w_dim] moved by ``alphas`` (name → α in units of σ); a new tensor, on ws's
        device. Names not in the set and α = 0 cost nothing."""
        moved: torch.Tensor | None = None
        for i, name in enumerate(self.names):
            alpha = alphas.get(name, 0.0)
            if alpha == 0.0:
                continue
            if moved is None:
                moved = ws.clone()
            start, stop = self.layers[i]
            step = torch.from_numpy(self.vectors[i]).to(ws.device, ws.dtype) * float(alpha * self.sigma[i])
            moved[:, start:stop] += step if step.ndim == 1 else step[start:stop]
        return ws if moved is None else moved


def _w_samples(G: Generator, count: int, seed: int) -> np.ndarray:
    """``count`` seeded W (no truncation), float64 [count, w_dim]."""
    rng = np.random.RandomState(seed)
    out = []
    with torch.no_grad():
        for start in range(0, count, 2048):
            z = torch.from_numpy(rng.randn(min(2048, count - start), G.z_dim)).float().to(G.device)
            c = torch.zeros(z.shape[0], G.c_dim, device=G.device) if G.c_dim else None
            out.append(G.mapping(z, c, truncation_psi=1.0)[:, 0].double().cpu().numpy())
    return np.concatenate(out)


def spread(G: Generator, vectors: np.ndarray, samples: int = SPREAD_SAMPLES, seed: int = 1) -> np.ndarray:
    """σ of seeded W along each direction ([K, w_dim]; a per-layer direction uses its mean over layers)."""
    flat = vectors if vectors.ndim == 2 else vectors.mean(axis=1)
    norms = np.linalg.norm(flat, axis=1, keepdims=True)
    unit = flat / np.where(norms > 0, norms, 1.0)
    projected = _w_samples(G, samples, seed) @ unit.T.astype(np.float64)
    return projected.std(axis=0).astype(np.float32)


def sefa(G: Generator, layers: str = "all", count: int = 8) -> DirectionSet:
    """The ``count`` strongest SeFa directions of the convolutions in ``layers`` (see the module)."""
    start, stop = layer_range(layers, G.num_ws)
    chosen = [affine for index, affine in conv_affines(G) if start <= index < stop]
    if not chosen:
        raise ValueError(f"layers {layers}: no modulated convolution of this model is in that range")
    weight = np.concatenate([a.weight.detach().double().cpu().numpy().T for a in chosen], axis=1)
    weight /= np.linalg.norm(weight, axis=0, keepdims=True)
    values, vectors = np.linalg.eigh(weight @ weight.T)            # symmetric: real, orthonormal
    order = np.argsort(values)[::-1][:min(count, MAX_DIRECTIONS, G.w_dim)]
    directions = vectors[:, order].T.astype(np.float32)
    return DirectionSet(tuple(f"sefa{i}" for i in range(len(order))), directions, spread(G, directions),
                        tuple((start, stop) for _ in order), source=f"SeFa, layers {layers}")


def ganspace(G: Generator, count: int = 8, samples: int = GANSPACE_SAMPLES, seed: int = 0,
             layers: str = "all") -> DirectionSet:
    """The first ``count`` principal components of ``samples`` seeded W, each acting on ``layers``."""
    start, stop = layer_range(layers, G.num_ws)
    components, sigma = _principal_components(G, samples, seed)
    k = min(count, MAX_DIRECTIONS, components.shape[0])
    directions, sigma = components[:k], sigma[:k]
    return DirectionSet(tuple(f"pca{i}" for i in range(k)), directions, sigma, tuple((start, stop) for _ in range(k)),
                        source=f"GANSpace, {samples} samples, seed {seed}, layers {layers}")


def _principal_components(G: Generator, samples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The first MAX_DIRECTIONS components of seeded W and the spread along each (float32), from the cache
    (keyed by the model's hash, in $XDG_CACHE_HOME/latentstage/directions) or computed and cached."""
    path = os.path.join(cache_folder(), f"{model_key(G)}-ganspace-{samples}-{seed}.npz")
    try:
        with np.load(path, allow_pickle=False) as cached:
            components, sigma = cached["components"], cached["sigma"]
        if components.ndim == 2 and components.shape[1] == G.w_dim and sigma.shape == components.shape[:1] \
                and np.isfinite(components).all() and np.isfinite(sigma).all():
            return components.astype(np.float32), sigma.astype(np.float32)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        pass                                        # not cached yet (or a damaged cache): compute it
    w = _w_samples(G, samples, seed)
    centred = w - w.mean(axis=0, keepdims=True)
    _, singular, vectors = np.linalg.svd(centred, full_matrices=False)
    components = vectors[:MAX_DIRECTIONS].astype(np.float32)
    sigma = (singular[:MAX_DIRECTIONS] / np.sqrt(max(samples - 1, 1))).astype(np.float32)
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".npz")
        with os.fdopen(fd, "wb") as f:
            np.savez(f, components=components, sigma=sigma)
        os.replace(temporary, path)
    except OSError as exc:                          # a read-only home: compute it again next time
        log.warning("directions not cached (%s): %s", path, exc.strerror or exc)
    return components, sigma


def cache_folder() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "latentstage", "directions")


def model_key(G: Generator) -> str:
    """A hash of what directions depend on (the mapping network and the style affines), for caches."""
    digest = hashlib.sha256()
    for name, tensor in sorted(G.state_dict().items()):
        if name.startswith("mapping.") or ".affine." in name:
            digest.update(name.encode())
            digest.update(tensor.detach().float().cpu().numpy().tobytes())
    return digest.hexdigest()[:24]
