"""Direction files, read as untrusted input and written in the format other tools read.

- ``.npy``: one direction, ``[w_dim]`` or ``[1, w_dim]`` (InterFaceGAN boundaries, a learned SVM normal) or
  ``[num_ws, w_dim]`` (one per layer).
- ``.npz``: a set: ``directions`` ``[K, w_dim]`` or ``[K, num_ws, w_dim]``, with optional ``sigma`` ``[K]`` and
  ``layers`` ``[K, 2]`` (start, stop), and ``names`` (K short strings). This is what ``--export-directions``
  writes.

Arrays are read with the bounded reader of latent files (:mod:`engine.latent.files`: header first, no pickle,
finite float32 values of sane size); names must be plain text. A direction of the wrong shape for the model is
refused with one line naming the file. Vectors are normalised to unit length (per layer), as SeFa's are.

    directions = read_directions("shows/faces/age.npy", G, name="age")
    write_directions("sefa.npz", sefa(G))
"""

from __future__ import annotations

import io
import os
import re
import zipfile
from collections.abc import Sequence

import numpy as np

from engine.latent.directions import MAX_DIRECTIONS, DirectionSet, ganspace, layer_range, sefa, spread
from engine.latent.files import LatentFileError, MAX_LATENT_BYTES, _checked_values, _header, _zip_members, read_latents
from engine.models.networks import Generator
from engine.show.model import DirectionDecl

_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}\Z")


def read_directions(path: str, G: Generator, name: str | None = None) -> DirectionSet:
    """The directions in ``path`` for this model (LatentFileError: the file and what was wrong)."""
    stem = name or re.sub(r"[^a-z0-9_]", "_", os.path.splitext(os.path.basename(path))[0].lower())[:40] or "dir"
    try:
        with open(path, "rb") as f:
            is_zip = f.read(2) == b"PK"
    except OSError as exc:
        raise LatentFileError(f"{path}: cannot read the direction file ({exc.strerror or exc})") from None
    if not is_zip:
        array = read_latents(path).array                 # one direction: [w_dim], [1, w_dim] or [num_ws, w_dim]
        one = array.reshape(1, -1) if array.ndim == 1 else array if array.ndim == 3 else \
            array if array.shape[0] == 1 else array[None]
        return _set(G, [stem], _shaped(path, one, G), None, None, path)
    members = _npz(path)
    if "directions" not in members:
        raise LatentFileError(f"{path}: a direction set needs an array named 'directions', found {sorted(members)}")
    vectors = _shaped(path, members["directions"], G)
    k = vectors.shape[0]
    names = members.get("names")
    if names is not None:
        texts = [str(n) for n in names.reshape(-1)]
        if len(texts) != k or not all(_NAME.match(t) for t in texts) or len(set(texts)) != k:
            raise LatentFileError(f"{path}: 'names' must be {k} different short names (lower case, digits, _)")
        labels = texts
    else:
        labels = [f"{stem}{i}" for i in range(k)]
    sigma = members.get("sigma")
    if sigma is not None and (sigma.shape != (k,) or not (sigma > 0).all()):
        raise LatentFileError(f"{path}: 'sigma' must hold {k} positive spreads, got shape {list(sigma.shape)}")
    layers = members.get("layers")
    ranges = None
    if layers is not None:
        if layers.shape != (k, 2) or not np.array_equal(layers, np.round(layers)):
            raise LatentFileError(f"{path}: 'layers' must be {k} whole-number (start, stop) pairs")
        ranges = [(int(a), int(b)) for a, b in layers]
        if any(not 0 <= a < b <= G.num_ws for a, b in ranges):
            raise LatentFileError(f"{path}: 'layers' must lie within this model's {G.num_ws} layers")
    return _set(G, labels, vectors, sigma, ranges, path)


def write_directions(path: str, directions: DirectionSet) -> None:
    """Write the set format (float32 directions, most important first) that :func:`read_directions` reads."""
    np.savez(path, directions=directions.vectors.astype(np.float32), sigma=directions.sigma.astype(np.float32),
             layers=np.asarray(directions.layers, dtype=np.float32), names=np.asarray(directions.names))


def _shaped(path: str, array: np.ndarray, G: Generator) -> np.ndarray:
    """[K, w_dim] or [K, num_ws, w_dim] for this model, or one line on what was expected."""
    shape = tuple(array.shape)
    ok = (array.ndim == 2 and shape[1] == G.w_dim) or (array.ndim == 3 and shape[1:] in ((1, G.w_dim),
                                                                                        (G.num_ws, G.w_dim)))
    if not ok or not 1 <= shape[0] <= MAX_DIRECTIONS:
        raise LatentFileError(f"{path}: directions of shape {list(shape)} do not fit this model; expected [w_dim] = "
                              f"[{G.w_dim}], [{G.num_ws}, {G.w_dim}] per layer, or up to {MAX_DIRECTIONS} of them")
    vectors = array[:, 0] if array.ndim == 3 and shape[1] == 1 else array
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    if not (norms > 1e-6).all():
        raise LatentFileError(f"{path}: a direction of length zero has no way to point")
    return (vectors / norms).astype(np.float32)


def _set(G: Generator, names: list[str], vectors: np.ndarray, sigma: np.ndarray | None,
         layers: list[tuple[int, int]] | None, path: str) -> DirectionSet:
    return DirectionSet(tuple(names), vectors, sigma.astype(np.float32) if sigma is not None else spread(G, vectors),
                        tuple(layers) if layers is not None else tuple((0, G.num_ws) for _ in names),
                        source=os.path.basename(path))


def _npz(path: str) -> dict[str, np.ndarray]:
    """The arrays of a small .npz: floats through the latent checks, ``names`` as plain short text."""
    if os.path.getsize(path) > MAX_LATENT_BYTES + 2 ** 20:
        raise LatentFileError(f"{path}: larger than any direction file")
    found: dict[str, np.ndarray] = {}
    with open(path, "rb") as f:
        if _zip_members(f, path) > 8:
            raise LatentFileError(f"{path}: more arrays than a direction set holds (directions, sigma, layers, names)")
        try:
            with zipfile.ZipFile(f) as archive:
                for info in archive.infolist():
                    key = info.filename.removesuffix(".npy")
                    if key not in ("directions", "sigma", "layers", "names"):
                        continue
                    if info.file_size > MAX_LATENT_BYTES:
                        raise LatentFileError(f"{path}: '{key}' inflates past {MAX_LATENT_BYTES // 2 ** 20} MiB")
                    data = archive.read(info)
                    found[key] = _member(path, key, data)
        except (zipfile.BadZipFile, ValueError, OSError) as exc:
            if isinstance(exc, LatentFileError):
                raise
            raise LatentFileError(f"{path}: not a readable .npz ({str(exc)[:120]})") from None
    return found


def _member(path: str, key: str, data: bytes) -> np.ndarray:
    stream = io.BytesIO(data)
    shape, fortran, dtype = _header(stream)
    if dtype.hasobject or not 1 <= len(shape) <= 3 or int(np.prod(shape, dtype=object)) > 2 ** 27:
        raise LatentFileError(f"{path}[{key}]: not a plain array (a pickle or an object array is never read)")
    if key == "names":
        if dtype.kind != "U" or dtype.itemsize > 4 * 40 or len(shape) != 1 or shape[0] > MAX_DIRECTIONS:
            raise LatentFileError(f"{path}[names]: expected up to {MAX_DIRECTIONS} short strings")
    elif dtype.kind != "f":
        raise LatentFileError(f"{path}[{key}]: expected floats, got {dtype}")
    count = int(np.prod(shape, dtype=object))
    raw = stream.read(count * dtype.itemsize + 1)
    if len(raw) != count * dtype.itemsize:
        raise LatentFileError(f"{path}[{key}]: the header declares more data than the member holds")
    array = np.frombuffer(raw, dtype=dtype).reshape(shape, order="F" if fortran else "C")
    return array.copy() if key == "names" else _checked_values(f"{path}[{key}]", array)


def directions_for(G: Generator, decls: Sequence[DirectionDecl]) -> DirectionSet:
    """The directions a run offers: the model's first SeFa directions (``dir.sefa0`` …, every run) and then
    those a show names, each taken from SeFa, GANSpace or its file and given the show's layer range."""
    from engine.params import SEFA_KNOBS
    base = sefa(G, count=SEFA_KNOBS)
    parts = [base]
    wanted_pca = max((d.index + 1 for d in decls if d.origin == "ganspace"), default=0)
    pca = ganspace(G, count=wanted_pca) if wanted_pca else None
    for decl in decls:
        found: DirectionSet | None
        if decl.origin == "file":
            assert decl.path is not None
            found = read_directions(decl.path, G, name=decl.name)
        else:
            found = base if decl.origin == "sefa" and decl.index < len(base) else \
                sefa(G, count=decl.index + 1) if decl.origin == "sefa" else pca
        assert found is not None
        if decl.index >= len(found):
            raise LatentFileError(f"direction {decl.name}: index {decl.index}, but {found.source or 'the set'} has "
                                  f"{len(found)}")
        layers = [layer_range(decl.layers, G.num_ws)] if decl.layers else None
        parts.append(found.select([decl.index], names=[decl.name], layers=layers))
    joined = parts[0]
    for part in parts[1:]:
        joined = joined.joined(part, G.num_ws)
    return joined
