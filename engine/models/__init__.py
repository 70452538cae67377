"""StyleGAN2 generator networks and the loaders that build them from model files; pix2pix/CycleGAN generators.

The names are loaded on first use, so the torch-free parts (``engine.models.config``) can be imported by
themselves (the command line's parser, show validation).
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {"ConfigError": "config", "GeneratorConfig": "config", "DEFAULT_MODEL": "load", "load_generator": "load",
          "save_generator": "load", "Generator": "networks", "ModelFileError": "pickle_reader",
          "load_pix2pix": "pix2pix", "Pix2PixError": "pix2pix"}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'engine.models' has no attribute {name!r}")
    return getattr(importlib.import_module(f"engine.models.{_WHERE[name]}"), name)
