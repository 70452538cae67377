"""Latent files (``.npy`` / ``.npz``), read as untrusted input: header first, bounded, once per file.

A latent file is told apart by its first bytes, never by its name (an ``.npz`` renamed ``.npy`` is still
read as what it is, and a pickle is refused whatever it is called). Before any data is read, the declared
dtype and shape are checked: plain floats, 1 to 3 dimensions, at most :data:`MAX_ROWS` rows and
:data:`MAX_LATENT_BYTES` bytes; inside an ``.npz`` the archive's declared sizes are checked too, so a small
file that inflates to gigabytes is refused before it inflates. Values must be finite *as float32* (1e300 is
finite in float64 and infinite on the GPU) and of a plausible size (:data:`MAX_LATENT_ABS`).

Files are read once: :func:`read_latents` caches by path, size and modification time, so a walk through the
32,000 rows of one file reads it once, not 32,000 times.

    latents = read_latents("projected_w.npz")
    latents.space, latents.array.shape   # ('w', (1, 18, 512))
"""

from __future__ import annotations

import collections
import dataclasses
import os
import threading
import zipfile
from typing import IO, Literal

import numpy as np

LatentSpace = Literal["w", "z"]

MAX_LATENT_BYTES = 512 * 2 ** 20     # declared array size (a 10,000-keyframe 1024² walk is 370 MB)
MAX_ROWS = 10_000                   # keyframes one file may hold (one walk holds at most this many)
MAX_LATENT_ABS = 1e4                # |value| limit: trained W stay within tens; beyond this nothing renders
NPZ_KEYS: tuple[tuple[str, LatentSpace], ...] = (("w", "w"), ("ws", "w"), ("z", "z"))
_CACHE_ENTRIES = 16
_CACHE_BYTES = 1 << 30               # float32 arrays kept for reuse (a file is read again after eviction)
MAX_NPZ_MEMBERS = 64


class LatentFileError(ValueError):
    """A latent file that cannot be used; the message names the file and what was expected (one line)."""


@dataclasses.dataclass(frozen=True)
class Latents:
    """The float32 array of a latent file and the space it lives in."""

    path: str
    array: np.ndarray            # float32, read-only; [d], [N, d] or [N, num_ws, d]
    space: LatentSpace

    @property
    def rows(self) -> int:
        return 1 if self.array.ndim == 1 else int(self.array.shape[0])


_cache: collections.OrderedDict[tuple[object, ...], Latents] = collections.OrderedDict()
_cache_lock = threading.Lock()


def read_latents(path: str, space: LatentSpace = "w") -> Latents:
    """Read (or take from the cache) a latent file; ``space`` says how bare ``.npy`` vectors are meant."""
    try:
        stat = os.stat(path)
    except OSError as exc:
        raise LatentFileError(f"{path}: cannot read the latent file ({exc.strerror or exc})") from None
    if not os.path.isfile(path):
        raise LatentFileError(f"{path}: not a file; expected a .npy or .npz latent file")
    key = (os.path.realpath(path), stat.st_size, stat.st_mtime_ns, space)
    with _cache_lock:
        cached = _cache.get(key)
        if cached is not None:
            _cache.move_to_end(key)
            return cached
    latents = _read(path, space)
    with _cache_lock:
        _cache[key] = latents
        while len(_cache) > _CACHE_ENTRIES or (len(_cache) > 1 and sum(v.array.nbytes for v in _cache.values())
                                               > _CACHE_BYTES):
            _cache.popitem(last=False)
    return latents


def _read(path: str, space: LatentSpace) -> Latents:
    try:
        with open(path, "rb") as f:
            head = f.read(6)
            f.seek(0)
            if head.startswith(b"\x93NUMPY"):
                array = _read_npy(f, path, os.fstat(f.fileno()).st_size)
            elif head.startswith(b"PK"):
                if os.fstat(f.fileno()).st_size > MAX_LATENT_BYTES + 2 ** 20:
                    raise LatentFileError(f"{path}: larger than any latent file "
                                          f"(limit {MAX_LATENT_BYTES // 2 ** 20} MiB)")
                array, space = _read_npz(f, path)
            elif head[:1] == b"\x80":
                raise LatentFileError(f"{path}: a pickle, not a latent array; latent files are .npy/.npz arrays "
                                      "and pickles are never read")
            else:
                raise LatentFileError(f"{path}: not a .npy/.npz latent file (it starts with {head!r})")
    except LatentFileError:
        raise
    except Exception as exc:  # numpy's header parser (tokenize, literal_eval) and zipfile raise many types
        raise LatentFileError(f"{path}: not a readable .npy/.npz latent file "
                              f"({type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''})") from None
    array = _checked_values(path, array)
    if space == "z" and array.ndim == 3:
        raise LatentFileError(f"{path}: z latents must be [z_dim] or [N, z_dim], got {list(array.shape)}")
    array.setflags(write=False)
    return Latents(path=path, array=array, space=space)


def _check_header(path: str, shape: tuple[int, ...], dtype: np.dtype) -> int:  # type: ignore[type-arg]
    """Bytes the array will take; refuses anything that is not a plain float latent of sane size."""
    if dtype.kind != "f" or dtype.hasobject or dtype.itemsize not in (2, 4, 8):
        raise LatentFileError(f"{path}: expected a float array of 1-3 dims, got {dtype} {list(shape)}")
    if not 1 <= len(shape) <= 3 or any(n <= 0 for n in shape):
        raise LatentFileError(f"{path}: expected a float array of 1-3 dims with no empty axis, got {list(shape)}")
    rows = 1 if len(shape) == 1 else shape[0]
    if rows > MAX_ROWS:
        raise LatentFileError(f"{path}: {rows} rows; a walk holds at most {MAX_ROWS} keyframes")
    count = int(np.prod(shape, dtype=object))
    held = count * max(dtype.itemsize, 4)          # what it takes on disk, and as float32 in memory
    if held > MAX_LATENT_BYTES:
        raise LatentFileError(f"{path}: the array declares {list(shape)} ({held / 2 ** 20:.0f} MiB as float32); "
                              f"latent files are limited to {MAX_LATENT_BYTES // 2 ** 20} MiB")
    return count * dtype.itemsize


def _header(f: IO[bytes]) -> tuple[tuple[int, ...], bool, np.dtype]:  # type: ignore[type-arg]
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(f)  # type: ignore[no-any-return]
    if version in ((2, 0), (3, 0)):
        return np.lib.format.read_array_header_2_0(f)  # type: ignore[no-any-return]
    raise ValueError(f"unknown .npy format version {version}")


def _array(f: IO[bytes], path: str, shape: tuple[int, ...], fortran: bool, dtype: np.dtype,  # type: ignore[type-arg]
           nbytes: int) -> np.ndarray:
    data = f.read(nbytes + 1)
    if len(data) != nbytes:
        raise LatentFileError(f"{path}: the array declares {nbytes} bytes of data, the file holds "
                              f"{len(data) if len(data) <= nbytes else 'more'}")
    return np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C")


def _read_npy(f: IO[bytes], path: str, file_size: int) -> np.ndarray:
    shape, fortran, dtype = _header(f)
    nbytes = _check_header(path, shape, dtype)
    if file_size - f.tell() != nbytes:
        raise LatentFileError(f"{path}: the header declares {list(shape)} {dtype} ({nbytes} bytes), but "
                              f"{file_size - f.tell()} bytes follow (truncated or padded file)")
    return _array(f, path, shape, fortran, dtype, nbytes)


def _zip_members(f: IO[bytes], path: str) -> int:
    """The member count an archive's end record declares, read before zipfile builds an entry per member
    (a few megabytes of central directory can declare millions)."""
    f.seek(0, os.SEEK_END)
    size = f.tell()
    f.seek(max(0, size - 65_557))
    tail = f.read()
    at = tail.rfind(b"PK\x05\x06")
    f.seek(0)
    if at < 0 or len(tail) - at < 22:
        raise LatentFileError(f"{path}: not a readable .npz (no zip end record)")
    members = int.from_bytes(tail[at + 10:at + 12], "little")
    if members == 0xFFFF:
        raise LatentFileError(f"{path}: a ZIP64 archive; latent files are small .npz archives")
    return members


def _read_npz(f: IO[bytes], path: str) -> tuple[np.ndarray, LatentSpace]:
    declared = _zip_members(f, path)
    if declared > MAX_NPZ_MEMBERS:
        raise LatentFileError(f"{path}: {declared} arrays in the archive; a latent .npz holds a few")
    with zipfile.ZipFile(f) as archive:
        members = {info.filename: info for info in archive.infolist()}
        for key, key_space in NPZ_KEYS:
            info = members.get(f"{key}.npy")
            if info is None:
                continue
            if info.file_size > MAX_LATENT_BYTES + 4096:
                raise LatentFileError(f"{path}: '{key}' inflates to {info.file_size / 2 ** 20:.0f} MiB; latent files "
                                      f"are limited to {MAX_LATENT_BYTES // 2 ** 20} MiB")
            with archive.open(info) as member:
                shape, fortran, dtype = _header(member)  # type: ignore[arg-type]
                nbytes = _check_header(f"{path}[{key}]", shape, dtype)
                return _array(member, f"{path}[{key}]", shape, fortran, dtype, nbytes), key_space  # type: ignore[arg-type]
        names = sorted(n.removesuffix(".npy") for n in members)[:10]
        raise LatentFileError(f"{path}: expected an array named 'w', 'ws' or 'z', found {names}")


def _checked_values(path: str, array: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):
        values = array.astype(np.float32)  # a fresh, aligned, native-order copy
    if not np.isfinite(values).all():
        raise LatentFileError(f"{path}: the latents contain NaN or infinity (as float32; float64 values above "
                              f"3.4e38 overflow)")
    peak = float(np.abs(values).max())
    if peak > MAX_LATENT_ABS:
        raise LatentFileError(f"{path}: latent values reach {peak:.3g}; expected magnitudes below {MAX_LATENT_ABS:g} "
                              "(W and Z of real models stay within tens)")
    return values
