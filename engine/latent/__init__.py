"""Latent walks: keyframes (seeds, classes, saved latents), interpolation, and the walker.

The names are loaded on first use, so ``from engine.latent.spec import Keyframe`` (plain data) never pulls in
torch; ``from engine.latent import LatentWalker`` does.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "EASINGS": "spec", "Easing": "spec", "INTERPOLATIONS": "spec", "Interpolation": "spec", "Keyframe": "spec",
    "ease": "interpolate", "LatentFileError": "files", "keyframes_from_file": "keyframes", "seed_to_z": "keyframes",
    "LatentWalker": "walker", "StyleMix": "walker", "WalkFrame": "walker", "WalkSettings": "walker",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'engine.latent' has no attribute {name!r}")
    return getattr(importlib.import_module(f"engine.latent.{_WHERE[name]}"), name)
