"""What a walk is made of, as plain data: keyframes and the names and bounds of walk settings.

Nothing here needs torch, so a show file can be validated (``launch.py SHOW --check``) without loading the
machine-learning stack; :mod:`engine.latent.keyframes` turns keyframes into latents for a model.

    >>> Keyframe.from_seed(42)
    Keyframe(seed=42, class_index=None, path=None, space='w', row=0, origin=None)
"""

from __future__ import annotations

import dataclasses
from typing import Literal

LatentSpace = Literal["w", "z"]
Interpolation = Literal["linear", "slerp", "cubic"]
INTERPOLATIONS: tuple[str, ...] = ("linear", "slerp", "cubic")
Easing = Literal["linear", "smooth", "smoother", "sine"]
EASINGS: tuple[str, ...] = ("linear", "smooth", "smoother", "sine")
SECONDS_PER_KEYFRAME = (0.01, 1e6)      # shorter is a strobe, longer is a still; outside this, time math degrades
PSI_RANGE = (-1.0, 2.0)                 # truncation beyond this leaves the space the model was trained on
MAX_KEYFRAMES = 10_000                  # keyframes in one walk


@dataclasses.dataclass(frozen=True)
class Keyframe:
    """One stop of a walk: a seed (with optional class) or a row of a saved latent file."""

    seed: int | None = None                 # z = RandomState(seed).randn(z_dim)
    class_index: int | None = None          # label for conditional models (one-hot)
    path: str | None = None                 # .npy / .npz latent file
    space: LatentSpace = "w"                # how to read a bare vector in a .npy file
    row: int = 0                            # which row of a multi-row latent file
    origin: str | None = dataclasses.field(default=None, compare=False)  # "file:line:column" it was written at

    def __post_init__(self) -> None:
        if (self.seed is None) == (self.path is None):
            raise ValueError("a keyframe needs exactly one of seed or path")
        if self.seed is not None and (isinstance(self.seed, bool) or not 0 <= self.seed < 2 ** 32):
            raise ValueError(f"seed must be in [0, 2**32), got {self.seed}")
        if self.space not in ("w", "z"):
            raise ValueError(f"space must be 'w' or 'z', got {self.space!r}")
        if self.class_index is not None and not 0 <= self.class_index < 2 ** 31:
            raise ValueError(f"class must be a non-negative integer, got {self.class_index}")

    @classmethod
    def from_seed(cls, seed: int, class_index: int | None = None) -> Keyframe:
        return cls(seed=seed, class_index=class_index)

    def describe(self) -> str:
        where = f"{self.origin}: " if self.origin else ""
        if self.seed is not None:
            return where + f"seed {self.seed}" + (f" class {self.class_index}" if self.class_index is not None else "")
        return where + f"{self.path}[{self.row}]"
