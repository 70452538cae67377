"""Write network pickles in the official StyleGAN2-ADA format, for tests (no NVIDIA code involved).

The official ``torch_utils.persistence`` pickles every network module as a call of
``torch_utils.persistence._reconstruct_persistent_obj(meta)``. Here a stand-in module of that name is
registered in ``sys.modules`` only while pickling, so the bytes name the same globals an official snapshot
names; the test then loads the file with no such module present, as a user's machine would.
"""

from __future__ import annotations

import collections
import contextlib
import pickle
import sys
import types
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from engine.models.networks import Generator


class _Persistent:
    def __init__(self, meta: dict[str, Any]) -> None:
        self.meta = meta

    def __reduce__(self) -> tuple[Any, ...]:
        return (_reconstruct_persistent_obj, (self.meta,))


def _reconstruct_persistent_obj(meta: dict[str, Any]) -> Any:  # pragma: no cover - never called by our loader
    raise AssertionError("the official reconstructor must never run in tests")


class EasyDict(dict):  # type: ignore[type-arg]
    pass


@contextlib.contextmanager
def official_modules() -> Iterator[None]:
    """Make ``torch_utils.persistence`` and ``dnnlib.util`` importable names while pickling."""
    names = ("torch_utils", "torch_utils.persistence", "dnnlib", "dnnlib.util")
    saved = {n: sys.modules.get(n) for n in names}
    persistence = types.ModuleType("torch_utils.persistence")
    persistence._reconstruct_persistent_obj = _reconstruct_persistent_obj  # type: ignore[attr-defined]
    util = types.ModuleType("dnnlib.util")
    util.EasyDict = EasyDict  # type: ignore[attr-defined]
    _reconstruct_persistent_obj.__module__, EasyDict.__module__ = "torch_utils.persistence", "dnnlib.util"
    EasyDict.__qualname__ = "EasyDict"
    sys.modules.update({"torch_utils": types.ModuleType("torch_utils"), "torch_utils.persistence": persistence,
                        "dnnlib": types.ModuleType("dnnlib"), "dnnlib.util": util})
    try:
        yield
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def record(module: torch.nn.Module, init_kwargs: dict[str, Any] | None = None, module_src: str = "# omitted",
           class_name: str | None = None) -> _Persistent:
    """An official-style persistent record of ``module`` and its children."""
    state: dict[str, Any] = {
        "training": False,
        "_parameters": collections.OrderedDict((k, v.detach().clone()) for k, v in module._parameters.items()),
        "_buffers": collections.OrderedDict((k, v.detach().clone()) for k, v in module._buffers.items()),
        "_non_persistent_buffers_set": set(),
        "_modules": collections.OrderedDict((k, record(v)) for k, v in module._modules.items()),
        "_init_args": (),
        "_init_kwargs": EasyDict(init_kwargs or {}),
    }
    for key, value in vars(module).items():  # plain attributes (gains, flags) as the official state has them
        if not key.startswith("_") and isinstance(value, (bool, int, float, str)):
            state[key] = np.float64(value) if isinstance(value, float) else value
    return _Persistent({"type": "class", "version": 6, "module_src": module_src,
                        "class_name": class_name or type(module).__name__, "state": state})


def generator_pickle_bytes(G: Generator, module_src: str = "# omitted", class_name: str | None = None,
                           extra: dict[str, Any] | None = None) -> bytes:
    """A snapshot dict like the official training loop writes, with G_ema = G (memoised)."""
    with official_modules():
        g = record(G, G.config.to_official_kwargs(), module_src=module_src, class_name=class_name)
        snapshot = {"training_set_kwargs": None, "G": g, "D": None, "G_ema": g, "augment_pipe": None}
        snapshot.update(extra or {})
        return pickle.dumps(snapshot, protocol=4)
