"""Read official StyleGAN2-ADA / StyleGAN3-repo network pickles without executing anything from the file.

A network pickle is a ``dict`` (``G``, ``D``, ``G_ema``, ``augment_pipe``, ``training_set_kwargs``) whose networks
were written by NVIDIA's ``torch_utils.persistence``: each module is a call of
``_reconstruct_persistent_obj(meta)`` where ``meta`` holds the class *source code* and the module's ``__dict__``.
The official loader executes that source. We never do. A restricted :class:`pickle.Unpickler` resolves exactly
the globals listed in :data:`ALLOWED_GLOBALS`, each to a small function of ours that validates its arguments,
and turns every persistent object into an inert :class:`PersistentRecord` (class name + state). Anything else
(``os.system``, ``builtins.eval``, a TensorFlow-era class, …) stops the load with a :class:`ModelFileError`
that names the file and the global.

    >>> record = read_network_pickle("network-snapshot.pkl")["G_ema"]   # doctest: +SKIP
    >>> record.class_name, record.init_kwargs["img_resolution"]          # doctest: +SKIP
    ('Generator', 1024)
"""

from __future__ import annotations

import collections
import dataclasses
import io
import os
import pickle
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch


class ModelFileError(Exception):
    """A model file that cannot be loaded; the message names the file and what was found in it."""


class EasyDict(dict):  # type: ignore[type-arg]
    """Stand-in for ``dnnlib.util.EasyDict``: a plain dict (kwargs containers such as training_set_kwargs)."""


@dataclasses.dataclass
class PersistentRecord:
    """An official persistent network object, as data: its class name and its ``__dict__`` (never its code)."""

    class_name: str
    version: int
    state: dict[str, Any]

    def __setstate__(self, state: Any) -> None:
        raise pickle.UnpicklingError("a persistent object may not be given further state by the pickle")

    @property
    def init_kwargs(self) -> dict[str, Any]:
        return dict(self.state.get("_init_kwargs") or {})

    @property
    def init_args(self) -> tuple[Any, ...]:
        return tuple(self.state.get("_init_args") or ())

    @property
    def children(self) -> dict[str, PersistentRecord]:
        return {k: v for k, v in (self.state.get("_modules") or {}).items() if isinstance(v, PersistentRecord)}

    def named_tensors(self, prefix: str = "") -> Iterator[tuple[str, torch.Tensor]]:
        """Parameters and persistent buffers of this module and its children, with state-dict names."""
        skip = set(self.state.get("_non_persistent_buffers_set") or ())
        for group in ("_parameters", "_buffers"):
            for name, tensor in (self.state.get(group) or {}).items():
                if tensor is not None and name not in skip:
                    yield prefix + name, tensor
        for name, child in self.children.items():
            yield from child.named_tensors(prefix + name + ".")

    def walk(self) -> Iterator[PersistentRecord]:
        yield self
        for child in self.children.values():
            yield from child.walk()


# ------------------------------------------------------------------------------- the allowed constructors
def _reconstruct_persistent_obj(meta: Any) -> PersistentRecord:
    if not isinstance(meta, dict):
        raise pickle.UnpicklingError(f"persistent object metadata must be a dict, got {type(meta).__name__}")
    kind, class_name, state = meta.get("type"), meta.get("class_name"), meta.get("state")
    if kind != "class" or not isinstance(class_name, str) or not isinstance(state, dict):
        raise pickle.UnpicklingError(
            f"persistent object metadata must have type='class', a class_name and a state dict; "
            f"got type={kind!r}, class_name={class_name!r}")
    # meta["module_src"] is the class's Python source. It is deliberately never looked at.
    return PersistentRecord(class_name=class_name, version=int(meta.get("version", 0)), state=state)


def _check_hooks(hooks: Any) -> None:
    if hooks:
        raise pickle.UnpicklingError("tensors with backward hooks are not accepted in a model file")


def _rebuild_tensor_v2(storage: Any, storage_offset: Any, size: Any, stride: Any, requires_grad: Any,
                       backward_hooks: Any, metadata: Any = None) -> torch.Tensor:
    if not isinstance(storage, (torch.TypedStorage, torch.UntypedStorage)):
        raise pickle.UnpicklingError(f"tensor storage must be a torch storage, got {type(storage).__name__}")
    if not (isinstance(size, tuple) and isinstance(stride, tuple) and len(size) == len(stride)
            and all(isinstance(v, int) and v >= 0 for v in (storage_offset, *size, *stride))):
        raise pickle.UnpicklingError(f"bad tensor geometry: offset={storage_offset!r} size={size!r} stride={stride!r}")
    _check_hooks(backward_hooks)
    untyped = storage._untyped_storage if isinstance(storage, torch.TypedStorage) else storage
    dtype = storage.dtype if isinstance(storage, torch.TypedStorage) else torch.uint8
    numel = untyped.nbytes() // torch.empty((), dtype=dtype).element_size()
    last = storage_offset + sum((s - 1) * st for s, st in zip(size, stride)) if all(size) else storage_offset - 1
    if last >= numel:
        raise pickle.UnpicklingError(f"tensor of size {size} reaches element {last} of a storage of {numel}")
    return torch.empty((0,), dtype=dtype).set_(untyped, storage_offset, size, stride)


def _rebuild_parameter(data: Any, requires_grad: Any, backward_hooks: Any, *state: Any) -> torch.Tensor:
    if not isinstance(data, torch.Tensor):
        raise pickle.UnpicklingError(f"parameter data must be a tensor, got {type(data).__name__}")
    _check_hooks(backward_hooks)
    return data


def _load_storage_from_bytes(data: Any) -> Any:
    """Each storage is a legacy ``torch.save`` stream: read it with torch's own weights-only unpickler."""
    if not isinstance(data, bytes):
        raise pickle.UnpicklingError(f"storage data must be bytes, got {type(data).__name__}")
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad stream; all mean the same here
        raise pickle.UnpicklingError(f"unreadable tensor storage ({type(exc).__name__}: {exc})") from None


def _numpy_dtype(spec: Any, align: Any = False, copy: Any = False) -> np.dtype:  # type: ignore[type-arg]
    if not isinstance(spec, str):
        raise pickle.UnpicklingError(f"numpy dtype spec must be a string, got {type(spec).__name__}")
    dtype = np.dtype(spec)
    if dtype.kind not in "biuf":
        raise pickle.UnpicklingError(f"numpy dtype {spec!r} is not a plain number type")
    return dtype


def _numpy_scalar(dtype: Any, data: Any = None) -> Any:
    if not isinstance(dtype, np.dtype) or dtype.kind not in "biuf" or not isinstance(data, bytes) \
            or len(data) != dtype.itemsize:
        raise pickle.UnpicklingError(f"bad numpy scalar ({dtype!r}, {type(data).__name__})")
    return np.frombuffer(data, dtype=dtype)[0]


ALLOWED_GLOBALS: dict[tuple[str, str], Callable[..., Any]] = {
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_persistent_obj,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch.storage", "_load_from_bytes"): _load_storage_from_bytes,
    ("numpy", "dtype"): _numpy_dtype,
    ("numpy.core.multiarray", "scalar"): _numpy_scalar,   # pickled under numpy 1
    ("numpy._core.multiarray", "scalar"): _numpy_scalar,  # pickled under numpy 2
    ("dnnlib.util", "EasyDict"): EasyDict,
}


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file: io.BufferedIOBase, path: str) -> None:
        super().__init__(file)
        self.path = path

    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            pass
        if module.startswith("dnnlib.tflib"):
            raise ModelFileError(
                f"{self.path}: a TensorFlow-era StyleGAN/StyleGAN2 pickle ({module}.{name}); it is not supported. "
                "Convert it to the PyTorch format first (the official stylegan2-ada-pytorch repository does this).")
        raise ModelFileError(
            f"{self.path}: refused to load: the pickle asks for the global '{module}.{name}', which is not "
            "among those a StyleGAN network pickle needs. Nothing from the file was run.")

    def persistent_load(self, pid: Any) -> Any:
        raise ModelFileError(f"{self.path}: unexpected persistent id {pid!r}; this is not a network pickle")


def read_network_pickle(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Unpickle a network pickle safely; returns its top-level dict with networks as records."""
    name = os.fspath(path)
    try:
        with open(name, "rb") as f:
            head = f.read(2)
            if head[:2] == b"PK":
                raise ModelFileError(f"{name}: this is a zip archive (a torch.save checkpoint?), not a network pickle")
            if not head or head[0] != 0x80:
                raise ModelFileError(f"{name}: not a pickle file (it starts with {head!r})")
            f.seek(0)
            data = _RestrictedUnpickler(f, name).load()  # type: ignore[arg-type]
    except ModelFileError:
        raise
    except OSError as exc:
        raise ModelFileError(f"{name}: cannot read the file ({exc.strerror or exc})") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, IndexError, AttributeError,
            MemoryError, RecursionError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{name}: the file is truncated or corrupt ({type(exc).__name__}: {exc})") from None
    if not isinstance(data, dict):
        raise ModelFileError(f"{name}: expected a dict of networks at the top, found {type(data).__name__}")
    return data
