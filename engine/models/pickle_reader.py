"""Read official StyleGAN2-ADA / StyleGAN3-repo network pickles without executing anything from the file.

A network pickle is a ``dict`` (``G``, ``D``, ``G_ema``, ``augment_pipe``, ``training_set_kwargs``) whose networks
were written by NVIDIA's ``torch_utils.persistence``: each module is a call of
``_reconstruct_persistent_obj(meta)`` where ``meta`` holds the class *source code* and the module's ``__dict__``.
The official loader executes that source. We never do. The file runs through our own restricted pickle machine
(:mod:`engine.models.safe_pickle`), where exactly the globals in :data:`ALLOWED_GLOBALS` exist, each mapped to a
small function of ours that validates its arguments; every persistent object becomes an inert
:class:`PersistentRecord` (class name + state). Anything else (``os.system``, ``builtins.eval``, a
TensorFlow-era class, object state on a tensor, …) stops the load with a one-line :class:`ModelFileError` that
names the file.

Tensor data never goes through ``torch.load`` either: each storage is a legacy ``torch.save`` stream, which
:func:`read_legacy_storage` parses itself (magic number, protocol, a one-storage pickle, the raw bytes), with
every declared size checked against the bytes that are really there.

    record = read_network_pickle("network-snapshot.pkl")["G_ema"]
    record.class_name, record.init_kwargs["img_resolution"]   # ('Generator', 1024)
"""

from __future__ import annotations

import collections
import dataclasses
import mmap
import os
import stat
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch

from engine.models.safe_pickle import PickleCorrupt, PickleRefused, Policy, describe, unpickle

MAX_MODEL_FILE_BYTES = 8 * 2 ** 30     # the largest network pickle we will open (1024² snapshots are ≈0.4 GB)
MAX_TENSOR_DIMS = 8
MAX_TREE_MODULES = 20_000              # persistent modules in one network (a 1024² generator has ≈150)
MAX_TREE_DEPTH = 32


class ModelFileError(Exception):
    """A model file that cannot be loaded; the message names the file and what was found in it (one line)."""


class RecordError(ValueError):
    """A persistent record whose state does not have the types the official format gives it."""


class EasyDict(dict):  # type: ignore[type-arg]
    """Stand-in for ``dnnlib.util.EasyDict``: a plain dict (kwargs containers such as training_set_kwargs)."""


@dataclasses.dataclass
class PersistentRecord:
    """An official persistent network object, as data: its class name and its ``__dict__`` (never its code).

    The accessors check the types the official format gives each field and raise :class:`RecordError`
    naming the field otherwise; nothing from the state is trusted to be what its name suggests.
    """

    class_name: str
    version: int
    state: dict[str, Any]

    def _field(self, name: str, kinds: tuple[type, ...], default: Any) -> Any:
        value = self.state.get(name)
        if value is None:
            return default
        if not isinstance(value, kinds):
            expected = " or ".join(k.__name__ for k in kinds)
            raise RecordError(f"{self.class_name}: '{name}' must be a {expected}, found {describe(value)}")
        return value

    @property
    def init_kwargs(self) -> dict[str, Any]:
        return dict(self._field("_init_kwargs", (dict,), {}))

    @property
    def init_args(self) -> tuple[Any, ...]:
        return tuple(self._field("_init_args", (tuple, list), ()))

    @property
    def children(self) -> dict[str, PersistentRecord]:
        modules = self._field("_modules", (dict,), {})
        children = {}
        for name, child in modules.items():
            if child is None:
                continue
            if not isinstance(name, str) or not isinstance(child, PersistentRecord):
                raise RecordError(f"{self.class_name}: sub-module {describe(name)} is a {describe(child)}, "
                                  "expected a persistent network module")
            children[name] = child
        return children

    def named_tensors(self, prefix: str = "") -> Iterator[tuple[str, torch.Tensor]]:
        """Parameters and persistent buffers of this module and its children, with state-dict names."""
        for record, path in self.walk(prefix):
            skip = record._field("_non_persistent_buffers_set", (set, frozenset, list, tuple), set())
            for group in ("_parameters", "_buffers"):
                for name, tensor in record._field(group, (dict,), {}).items():
                    if tensor is None or name in skip:
                        continue
                    if not isinstance(name, str) or not isinstance(tensor, torch.Tensor):
                        raise RecordError(f"{record.class_name}: {group} entry {describe(name)} holds "
                                          f"{describe(tensor)}, expected a tensor")
                    yield path + name, tensor

    def walk(self, prefix: str = "") -> Iterator[tuple[PersistentRecord, str]]:
        """This record and every sub-module, depth first, with their state-dict prefixes.

        A module that appears twice in the tree, a tree deeper than :data:`MAX_TREE_DEPTH` or larger than
        :data:`MAX_TREE_MODULES` is refused: a hostile file could otherwise share sub-trees to make the walk
        exponential.
        """
        seen: set[int] = set()
        pending: list[tuple[PersistentRecord, str, int]] = [(self, prefix, 0)]
        while pending:
            record, path, depth = pending.pop()
            if id(record) in seen:
                raise RecordError(f"module '{path.rstrip('.') or record.class_name}' appears twice in the network")
            if depth > MAX_TREE_DEPTH or len(seen) >= MAX_TREE_MODULES:
                raise RecordError(f"the network is nested deeper than {MAX_TREE_DEPTH} or has more than "
                                  f"{MAX_TREE_MODULES} modules")
            seen.add(id(record))
            yield record, path
            pending.extend((child, f"{path}{name}.", depth + 1)
                           for name, child in reversed(list(record.children.items())))


# ------------------------------------------------------------------------------- the allowed constructors
def _reconstruct_persistent_obj(meta: Any) -> PersistentRecord:
    if not isinstance(meta, dict):
        raise PickleRefused(f"persistent object metadata must be a dict, got {describe(meta)}")
    kind, class_name, state, version = meta.get("type"), meta.get("class_name"), meta.get("state"), meta.get("version", 0)
    if kind != "class" or not isinstance(class_name, str) or not isinstance(state, dict):
        raise PickleRefused("persistent object metadata must have type='class', a class_name and a state dict; "
                            f"got type={describe(kind)}, class_name={describe(class_name)}")
    if not class_name.isidentifier() or len(class_name) > 100:
        raise PickleRefused(f"persistent class name {describe(class_name)} is not a Python identifier")
    if isinstance(version, bool) or not isinstance(version, int) or not 0 <= version < 2 ** 31:
        raise PickleRefused(f"persistent object version must be a small integer, got {describe(version)}")
    # meta["module_src"] is the class's Python source. It is deliberately never looked at.
    return PersistentRecord(class_name=class_name, version=version, state=state)


def _check_hooks(hooks: Any) -> None:
    if hooks is None or (isinstance(hooks, dict) and not hooks):
        return
    raise PickleRefused(f"tensors with backward hooks are not accepted in a model file (got {describe(hooks)})")


@dataclasses.dataclass(frozen=True)
class Storage:
    """A tensor storage read from a legacy stream: a flat tensor over our own copy of the bytes."""

    flat: torch.Tensor


def _rebuild_tensor_v2(storage: Any, storage_offset: Any, size: Any, stride: Any, requires_grad: Any = False,
                       backward_hooks: Any = None, metadata: Any = None) -> torch.Tensor:
    if not isinstance(storage, Storage):
        raise PickleRefused(f"tensor storage must come from a storage stream, got {describe(storage)}")
    def ints(value: Any) -> bool:
        return isinstance(value, tuple) and len(value) <= MAX_TENSOR_DIMS and all(
            isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2 ** 62 for v in value)
    if not (ints(size) and ints(stride) and len(size) == len(stride) and ints((storage_offset,))):
        raise PickleRefused(f"bad tensor geometry: offset={describe(storage_offset)} size={describe(size)} "
                            f"stride={describe(stride)}")
    _check_hooks(backward_hooks)
    if metadata is not None and not isinstance(metadata, dict):
        raise PickleRefused(f"tensor metadata must be a dict, got {describe(metadata)}")
    numel = storage.flat.numel()
    last = storage_offset + sum((s - 1) * st for s, st in zip(size, stride)) if all(size) else storage_offset - 1
    if last >= numel:
        raise PickleRefused(f"a tensor of size {list(size)} reaches element {last} of a storage of {numel}")
    if not _non_overlapping(size, stride):
        # A stride-0 view of one float would become gigabytes once copied: a saved tensor addresses each
        # element of its storage at most once.
        raise PickleRefused(f"a tensor of size {list(size)} with strides {list(stride)} overlaps itself")
    return storage.flat.as_strided(size, stride, storage_offset)


def _non_overlapping(size: tuple[int, ...], stride: tuple[int, ...]) -> bool:
    """Whether no two indices of the view address the same element (dims taken by increasing stride)."""
    reach = 0                                   # the furthest offset the smaller dims can reach
    for st, sz in sorted((st, sz) for sz, st in zip(size, stride) if sz > 1):
        if st <= reach:
            return False
        reach += (sz - 1) * st
    return True


def _rebuild_parameter(data: Any, requires_grad: Any = False, backward_hooks: Any = None) -> torch.Tensor:
    if not isinstance(data, torch.Tensor):
        raise PickleRefused(f"parameter data must be a tensor, got {describe(data)}")
    _check_hooks(backward_hooks)
    return data


# numpy dtypes: only plain little-endian numbers, named by the descriptors numpy pickles them with.
_NUMPY_DTYPES = {name: np.dtype(name).newbyteorder("<") for name in
                 ("f2", "f4", "f8", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "b1")}
_NUMPY_DTYPE_STATES = {id(dtype): dtype.__reduce__()[2] for dtype in _NUMPY_DTYPES.values()}


def _numpy_dtype(spec: Any, align: Any = False, copy: Any = True) -> np.dtype:  # type: ignore[type-arg]
    dtype = _NUMPY_DTYPES.get(spec) if isinstance(spec, str) else None
    if dtype is None:
        raise PickleRefused(f"numpy dtype {describe(spec)} is not a plain number type")
    return dtype


def _build(target: Any, state: Any) -> Any:
    """BUILD (``__setstate__``) is needed for one thing only: the state numpy pickles a dtype with. It must
    be exactly the state of the plain dtype already made, so it changes nothing (a sub-array or structured
    state would make ``scalar`` read past its bytes)."""
    expected = _NUMPY_DTYPE_STATES.get(id(target))
    if expected is None:
        raise PickleRefused(f"object state (BUILD) on {describe(target)} is not part of a network pickle")
    if not (isinstance(state, tuple) and len(state) == len(expected)
            and all(type(a) is type(b) and a == b for a, b in zip(state, expected))):
        raise PickleRefused(f"numpy dtype state {describe(state)} is not that of a plain {target}")
    return target


def _numpy_scalar(dtype: Any, data: Any = None) -> Any:
    if id(dtype) not in _NUMPY_DTYPE_STATES or not isinstance(data, bytes) or len(data) != dtype.itemsize:
        raise PickleRefused(f"bad numpy scalar ({describe(dtype)}, {describe(data)})")
    return np.frombuffer(data, dtype=dtype)[0].item()


def _ordered_dict(*args: Any) -> collections.OrderedDict[Any, Any]:
    if args:
        raise PickleRefused(f"OrderedDict with constructor arguments {describe(args)}")
    return collections.OrderedDict()


class _StorageStreams:
    """``torch.storage._load_from_bytes`` for one file: each stream is parsed once (a pickle that applies it
    to the same bytes again and again would make a copy each time: 2 MB of opcodes, 170 GB of copies)."""

    def __init__(self) -> None:
        self._seen: set[int] = set()
        self._keep: list[bytes] = []               # holds the ids in _seen valid while the file loads

    def __call__(self, data: Any) -> Storage:
        if not isinstance(data, bytes):
            raise PickleRefused(f"storage data must be bytes, got {describe(data)}")
        if id(data) in self._seen:
            raise PickleRefused("the same tensor storage is rebuilt twice; a network pickle builds each once")
        self._seen.add(id(data))
        self._keep.append(data)
        return read_legacy_storage(data)


# The globals a network pickle may name. The ninth, ``torch.storage._load_from_bytes``, is added per file by
# :func:`network_policy` (it remembers which streams that file has already parsed).
ALLOWED_GLOBALS: dict[tuple[str, str], Callable[..., Any]] = {
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_persistent_obj,
    ("collections", "OrderedDict"): _ordered_dict,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("numpy", "dtype"): _numpy_dtype,
    ("numpy.core.multiarray", "scalar"): _numpy_scalar,   # pickled under numpy 1
    ("numpy._core.multiarray", "scalar"): _numpy_scalar,  # pickled under numpy 2
    ("dnnlib.util", "EasyDict"): EasyDict,
}


def _refusal_hint(module: str, name: str) -> str | None:
    if module.startswith("dnnlib.tflib"):
        return (f"a TensorFlow-era StyleGAN/StyleGAN2 pickle ({module}.{name}); it is not supported. Convert it "
                "to the PyTorch format first (the official stylegan2-ada-pytorch repository does this)")
    return None


def network_policy() -> Policy:
    """The policy for one network pickle (with its own record of the storage streams already parsed)."""
    table = dict(ALLOWED_GLOBALS)
    table[("torch.storage", "_load_from_bytes")] = _StorageStreams()
    return Policy(globals=table, classes=frozenset({EasyDict}), build=_build, refusal_hint=_refusal_hint)


# ----------------------------------------------------------------------------- legacy torch storage streams
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C          # torch.serialization.MAGIC_NUMBER
LEGACY_PROTOCOL = 1001
STORAGE_DTYPES: dict[tuple[str, str], torch.dtype] = {
    ("torch", "FloatStorage"): torch.float32, ("torch", "HalfStorage"): torch.float16,
    ("torch", "BFloat16Storage"): torch.bfloat16, ("torch", "DoubleStorage"): torch.float64,
    ("torch", "LongStorage"): torch.int64, ("torch", "IntStorage"): torch.int32,
    ("torch", "ShortStorage"): torch.int16, ("torch", "CharStorage"): torch.int8,
    ("torch", "ByteStorage"): torch.uint8, ("torch", "BoolStorage"): torch.bool,
    ("torch.storage", "UntypedStorage"): torch.uint8, ("torch", "UntypedStorage"): torch.uint8,
}


@dataclasses.dataclass(frozen=True)
class _StorageClass:
    dtype: torch.dtype


@dataclasses.dataclass(frozen=True)
class _StorageRef:
    dtype: torch.dtype
    key: str
    numel: int


def _storage_ref(pid: Any) -> _StorageRef:
    """The persistent id of a legacy storage: ('storage', class, key, location, numel[, view_metadata])."""
    if not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] == "storage"):
        raise PickleRefused(f"unexpected persistent id {describe(pid)} in a storage stream")
    cls, key, location, numel = pid[1:5]
    if not isinstance(cls, _StorageClass) or not isinstance(key, str) or not isinstance(location, str):
        raise PickleRefused(f"bad storage reference {describe(pid)}")
    if isinstance(numel, bool) or not isinstance(numel, int) or numel < 0:
        raise PickleRefused(f"bad storage size {describe(numel)}")
    if len(pid) == 6 and pid[5] is not None:
        raise PickleRefused("storage views (an old torch format) are not supported")
    return _StorageRef(cls.dtype, key, numel)


_STORAGE_POLICY = Policy(globals={name: _StorageClass(dtype) for name, dtype in STORAGE_DTYPES.items()},
                         persistent_load=_storage_ref)   # a storage class name resolves to a marker, never called
_PLAIN_POLICY = Policy(globals={})


def read_legacy_storage(blob: bytes) -> Storage:
    """Parse one ``torch.save(storage, _use_new_zipfile_serialization=False)`` stream.

    Layout: pickles of the magic number, the protocol version and a sys-info dict; a pickle whose only
    content is a persistent reference to the storage (class, key, location, element count); a pickle of the
    list of storage keys; then the element count as int64 and the raw little-endian bytes. Each part is
    checked, and the element count must match the bytes that follow exactly.
    """
    try:
        magic, pos = unpickle(blob, _PLAIN_POLICY)
        version, pos = unpickle(blob, _PLAIN_POLICY, pos)
        if magic != LEGACY_MAGIC or version != LEGACY_PROTOCOL:
            raise PickleRefused("a tensor storage that is not a legacy torch.save stream")
        sys_info, pos = unpickle(blob, _PLAIN_POLICY, pos)
        if not isinstance(sys_info, dict) or sys_info.get("little_endian") is not True:
            raise PickleRefused("a tensor storage written on a big-endian machine (not supported)")
        ref, pos = unpickle(blob, _STORAGE_POLICY, pos)
        keys, pos = unpickle(blob, _PLAIN_POLICY, pos)
    except PickleCorrupt as exc:
        raise PickleCorrupt(f"unreadable tensor storage ({exc})") from None
    except PickleRefused as exc:
        raise PickleRefused(f"tensor storage: {exc}") from None
    if not isinstance(ref, _StorageRef):
        raise PickleRefused(f"a storage stream must hold exactly one storage, found {describe(ref)}")
    if keys != [ref.key]:
        raise PickleRefused(f"storage stream key list {describe(keys)} does not match its storage")
    itemsize = torch.empty((), dtype=ref.dtype).element_size()
    if len(blob) - pos < 8:
        raise PickleCorrupt("unreadable tensor storage (its size header is missing)")
    declared = int.from_bytes(blob[pos:pos + 8], "little", signed=True)
    payload = len(blob) - pos - 8
    if declared != ref.numel or payload != declared * itemsize:
        raise PickleCorrupt(f"tensor storage declares {declared} elements ({ref.numel} in its reference) of "
                            f"{itemsize} bytes, but {payload} bytes follow")
    if declared == 0:
        return Storage(torch.empty((0,), dtype=ref.dtype))
    return Storage(torch.frombuffer(bytearray(memoryview(blob)[pos + 8:]), dtype=ref.dtype))


# ------------------------------------------------------------------------------------------- the file
def read_network_pickle(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Unpickle a network pickle safely; returns its top-level dict with networks as records.

    Every failure is a :class:`ModelFileError` of one line that names the file.
    """
    name = os.fspath(path)
    try:
        if not stat.S_ISREG(os.stat(name).st_mode):   # a FIFO or a device would block or never end
            raise ModelFileError(f"{name}: not a regular file")
        with open(name, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size > MAX_MODEL_FILE_BYTES:
                raise ModelFileError(f"{name}: {size / 2 ** 30:.1f} GiB is larger than any network pickle "
                                     f"(limit {MAX_MODEL_FILE_BYTES // 2 ** 30} GiB)")
            head = f.read(2)
            if head[:2] == b"PK":
                raise ModelFileError(f"{name}: this is a zip archive (a torch.save checkpoint?), not a network pickle")
            if not head or head[0] != 0x80:
                raise ModelFileError(f"{name}: not a pickle file (it starts with {head!r})")
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as view:
                data, _ = unpickle(view, network_policy())
    except ModelFileError:
        raise
    except OSError as exc:
        raise ModelFileError(f"{name}: cannot read the file ({exc.strerror or exc})") from None
    except PickleRefused as exc:
        raise ModelFileError(f"{name}: refused to load: {exc}. Nothing from the file was run.") from None
    except PickleCorrupt as exc:
        raise ModelFileError(f"{name}: the file is truncated or corrupt ({exc})") from None
    if not isinstance(data, dict):
        raise ModelFileError(f"{name}: expected a dict of networks at the top, found {describe(data)}")
    return data
