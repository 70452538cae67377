"""Directions learned from labelled examples: "sunglasses / no sunglasses", "calm / stormy".

Two sets of latents — seeds, latent files, projected images, or frames labelled live — are separated by a
linear support vector machine (scikit-learn's ``LinearSVC``); the unit normal of its hyperplane points from
the negative examples to the positive ones, as InterFaceGAN's boundaries do, and works as a direction file.

    positive = gather_latents("12,40,77", G)                 # seeds (or .npy/.npz latent files, comma-separated)
    negative = gather_latents("3-9", G)
    learned = learn_direction(positive, negative)
    np.save("smile.npy", learned.normal)                     # [w_dim], unit length
    learned.accuracy                                         # held-out accuracy (or training, with few examples)
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import torch

from engine.latent.files import read_latents
from engine.models.networks import Generator

MIN_EXAMPLES = 3                # per side, to learn anything at all
MAX_EXAMPLES = 100_000          # per side
HOLD_OUT_FROM = 20              # with at least this many per side, a fifth is held out to measure accuracy
REGULARISATION = 0.01         # the SVM's C: measured on planted directions in 512-d W, 0.01 aligns best (0.975 vs 0.972)


@dataclasses.dataclass(frozen=True)
class LearnedDirection:
    normal: np.ndarray          # float32 [w_dim], unit length, from negative towards positive
    accuracy: float             # held-out when there were enough examples, else on the training set
    held_out: bool
    examples: tuple[int, int]   # (positive, negative)


def gather_latents(spec: str, G: Generator, psi: float = 1.0) -> np.ndarray:
    """W [N, w_dim] from ``spec``: seeds (``3,7,10-20``) or latent files (paths ending in .npy/.npz),
    comma-separated; W+ latents are averaged over their layers. ValueError naming the bad part."""
    rows: list[np.ndarray] = []
    seeds: list[int] = []
    for part in [p.strip() for p in spec.split(",") if p.strip()][:10_000]:
        if part.endswith((".npy", ".npz")) or os.path.sep in part:
            array = read_latents(part).array
            rows.append((array.reshape(1, -1) if array.ndim == 1 else array if array.ndim == 2 else
                         array.mean(axis=1)).astype(np.float64))
            continue
        low, _, high = part.partition("-")
        if not low.isdigit() or (high and not high.isdigit()):
            raise ValueError(f"{part[:40]!r}: expected a seed, a range A-B of seeds, or a .npy/.npz latent file")
        first, last = int(low), int(high or low)
        if last < first or last - first >= MAX_EXAMPLES or last >= 2 ** 32:
            raise ValueError(f"{part[:40]!r}: a range A-B with A <= B, at most {MAX_EXAMPLES} seeds, below 2^32")
        seeds.extend(range(first, last + 1))
    if seeds:
        with torch.no_grad():
            z = np.stack([np.random.RandomState(seed).randn(G.z_dim) for seed in seeds[:MAX_EXAMPLES]])
            c = torch.zeros(len(z), G.c_dim) if G.c_dim else None
            rows.append(G.mapping(torch.from_numpy(z).float().to(G.device), c, truncation_psi=psi)[:, 0]
                        .double().cpu().numpy())
    found = np.concatenate(rows) if rows else np.zeros((0, G.w_dim))
    if found.ndim != 2 or found.shape[1] != G.w_dim:
        raise ValueError(f"latents of width {found.shape[-1]} do not fit this model's W ({G.w_dim})")
    return found[:MAX_EXAMPLES]


def learn_direction(positive: np.ndarray, negative: np.ndarray, seed: int = 0) -> LearnedDirection:
    """The unit normal of a linear SVM between the two sets (ValueError with too few or unusable examples)."""
    from sklearn.svm import LinearSVC
    if len(positive) < MIN_EXAMPLES or len(negative) < MIN_EXAMPLES:
        raise ValueError(f"learning a direction needs at least {MIN_EXAMPLES} examples on each side, got "
                         f"{len(positive)} positive and {len(negative)} negative")
    x = np.concatenate([positive, negative]).astype(np.float64)
    if not np.isfinite(x).all():
        raise ValueError("the examples contain NaN or infinity")
    y = np.concatenate([np.ones(len(positive)), np.zeros(len(negative))])
    held_out = min(len(positive), len(negative)) >= HOLD_OUT_FROM
    order = np.random.RandomState(seed).permutation(len(x))
    test = order[: len(x) // 5] if held_out else order[:0]
    train = order[len(x) // 5:] if held_out else order
    mean = x[train].mean(axis=0)
    model = LinearSVC(C=REGULARISATION, max_iter=20_000, random_state=seed).fit(x[train] - mean, y[train])
    normal = model.coef_[0]
    length = float(np.linalg.norm(normal))
    if not length > 0:
        raise ValueError("the two sets cannot be told apart by any direction")
    checked = test if held_out else train
    accuracy = float((model.predict(x[checked] - mean) == y[checked]).mean())
    return LearnedDirection((normal / length).astype(np.float32), accuracy, held_out, (len(positive), len(negative)))
