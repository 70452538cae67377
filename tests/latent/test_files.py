"""Latent files are untrusted: told apart by content, checked from the header before any data is read,
bounded in size, finite as float32, and read once however many keyframes use them."""

from __future__ import annotations

import io
import pickle
import struct
import zipfile

import numpy as np
import pytest
import torch

from engine.latent import Keyframe, LatentWalker, WalkSettings, keyframes_from_file
from engine.latent import files
from engine.latent.files import LatentFileError, read_latents


def refused(path, match: str) -> str:
    with pytest.raises(LatentFileError, match=match) as err:
        read_latents(str(path))
    message = str(err.value)
    assert "\n" not in message and str(path) in message
    return message


def npy_with_header(shape: tuple, dtype: str = "'<f4'", data: bytes = b"") -> bytes:
    """A .npy file whose header says ``shape`` (and ``dtype``, as header text) whatever data follows: what an
    attacker writes by hand."""
    header = ("{'descr': " + dtype + f", 'fortran_order': False, 'shape': {shape!r}, }}").encode()
    header += b" " * (63 - (len(header) + 10) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + data


def test_finite_float64_that_overflows_float32_is_refused(tmp_path):
    path = tmp_path / "huge.npy"
    np.save(path, np.full(128, 1e300))
    refused(path, "NaN or infinity")


def test_implausibly_large_values_are_refused(tmp_path):
    path = tmp_path / "big.npy"
    np.save(path, np.full(128, 5e4, np.float32))
    refused(path, "reach 5e\\+04")


def test_an_npz_saved_as_npy_is_read_as_what_it_is(tmp_path):
    path = tmp_path / "really_npz.npy"
    np.savez(path.with_suffix(""), w=np.ones((2, 8), np.float32))
    (tmp_path / "really_npz.npz").rename(path)
    latents = read_latents(str(path))
    assert latents.space == "w" and latents.array.shape == (2, 8)


def test_a_pickle_is_never_read_whatever_its_name(tmp_path):
    path = tmp_path / "latents.npy"
    path.write_bytes(pickle.dumps(np.zeros(4)))
    refused(path, "pickle")


def test_a_header_declaring_a_trillion_elements_reads_nothing(tmp_path):
    path = tmp_path / "liar.npy"
    path.write_bytes(npy_with_header((10 ** 12,), data=b"\x00" * 16))
    refused(path, "MiB")


def test_a_header_that_disagrees_with_the_data(tmp_path):
    path = tmp_path / "short.npy"
    path.write_bytes(npy_with_header((4, 128), data=b"\x00" * 100))
    refused(path, "bytes follow")


@pytest.mark.parametrize("descr,words", [("|O", "float array"), ("<i4", "float array"), ("<c8", "float array"),
                                          ("[('a', '<f4')]", "float array")])
def test_only_plain_floats(tmp_path, descr, words):
    path = tmp_path / "typed.npy"
    path.write_bytes(npy_with_header((2,), dtype=descr if descr.startswith("[") else repr(descr), data=b"\x00" * 16))
    refused(path, words)


def test_more_rows_than_a_walk_can_hold_are_refused_from_the_header(tmp_path):
    path = tmp_path / "rows.npy"
    path.write_bytes(npy_with_header((files.MAX_ROWS + 1, 8), data=b"\x00" * 4 * 8 * (files.MAX_ROWS + 1)))
    refused(path, "rows")


def zip_with(name: str, payload: bytes, compress: bool = True) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED) as z:
        z.writestr(name, payload)
    return buffer.getvalue()


def test_a_zip_bomb_is_refused_before_it_inflates(tmp_path, monkeypatch):
    """16 MiB of zeros in a ~16 KiB npz; with the limit set to 1 MiB the declared size stops it."""
    monkeypatch.setattr(files, "MAX_LATENT_BYTES", 2 ** 20)
    data = zip_with("w.npy", npy_with_header((4 * 2 ** 20,), data=b"\x00" * (16 * 2 ** 20)))
    assert len(data) < 100_000
    path = tmp_path / "bomb.npz"
    path.write_bytes(data)
    refused(path, "inflates")


def test_an_archive_that_lies_about_its_size_is_still_bounded(tmp_path):
    """The central directory claims a small member; the npy header inside declares 2 GiB: refused from it."""
    data = zip_with("w.npy", npy_with_header((2 ** 29,), data=b"\x00" * 4096))
    path = tmp_path / "lies.npz"
    path.write_bytes(data)
    refused(path, "MiB")


def test_npz_members_with_object_arrays_are_never_unpickled(tmp_path):
    path = tmp_path / "objects.npz"
    np.savez(path, w=np.array([{"x": 1}], dtype=object))
    refused(path, "float array")


@pytest.mark.parametrize("array", [np.asfortranarray(np.arange(24, dtype=np.float32).reshape(2, 3, 4)),
                                   np.arange(8, dtype=">f8"), np.arange(8, dtype=np.float16)],
                         ids=["fortran-order", "big-endian", "float16"])
def test_legitimate_variants_read_exactly(tmp_path, array):
    path = tmp_path / "ok.npy"
    np.save(path, array)
    latents = read_latents(str(path))
    assert latents.array.dtype == np.float32 and np.array_equal(latents.array, array.astype(np.float32))


@pytest.mark.parametrize("make,words", [
    (lambda p: None, "cannot read"),
    (lambda p: p.mkdir(), "not a file"),
    (lambda p: p.write_bytes(b""), "not a .npy/.npz"),
    (lambda p: p.write_bytes(b"\x93NUMPY\x09\x00junk"), "not a readable"),
    (lambda p: p.write_bytes(zip_with("notes.txt", b"hello")), "'w', 'ws' or 'z'"),
    (lambda p: p.write_bytes(zip_with("w.npy", b"garbage")), "not a readable"),
    (lambda p: p.write_bytes(npy_with_header((0, 8))), "empty axis"),
    (lambda p: p.write_bytes(npy_with_header((2,), dtype="'<f4' (((")), "not a readable"),
], ids=["missing", "folder", "empty", "bad-version", "no-key", "garbage-member", "empty-axis", "header-syntax"])
def test_bad_files_give_one_line(tmp_path, make, words):
    path = tmp_path / "latent.npy"
    make(path)
    refused(path, words)


def test_many_keyframes_read_the_file_once(default_generator, tmp_path, monkeypatch):
    G = default_generator
    rows = np.random.RandomState(0).randn(2000, G.w_dim).astype(np.float32)
    path = tmp_path / "many.npy"
    np.save(path, rows)
    reads = []
    original = files._read
    monkeypatch.setattr(files, "_read", lambda p, s: reads.append(p) or original(p, s))
    keyframes = keyframes_from_file(str(path))
    walker = LatentWalker(G, WalkSettings(keyframes=tuple(keyframes), interpolation="linear"))
    assert len(reads) == 1 and len(walker.points) == 2000
    assert torch.equal(walker.raw_ws_at(1999 * 4.0)[0], torch.from_numpy(rows[1999]))


def test_a_changed_file_is_read_again(tmp_path):
    path = tmp_path / "w.npy"
    np.save(path, np.zeros(8, np.float32))
    assert read_latents(str(path)).array[0] == 0
    np.save(path, np.ones(16, np.float32))
    assert read_latents(str(path)).array.shape == (16,)


def test_seed_keyframes_are_checked(default_generator):
    for seed in (-1, 2 ** 32, True):
        with pytest.raises(ValueError, match="seed"):
            Keyframe(seed=seed)


def test_a_fifo_named_as_a_latent_file_is_refused_without_blocking(tmp_path):
    import os
    os.mkfifo(tmp_path / "w.npy")
    refused(tmp_path / "w.npy", "not a file")


def test_the_float32_size_counts_not_the_stored_one(tmp_path, monkeypatch):
    """float16 on disk doubles in memory: a file within the limit as float16 but not as float32 is refused."""
    monkeypatch.setattr(files, "MAX_LATENT_BYTES", 1 << 20)
    path = tmp_path / "half.npy"
    np.save(path, np.zeros((200, 2000), np.float16))        # 0.8 MB on disk, 1.6 MB as float32
    refused(path, "as float32")


def test_an_archive_declaring_many_members_is_refused_before_zipfile_reads_them(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for i in range(100):
            z.writestr(f"m{i}.npy", b"")
    path = tmp_path / "many.npz"
    path.write_bytes(buffer.getvalue())
    refused(path, "100 arrays")


def test_walks_over_one_file_share_its_memory(default_generator, tmp_path):
    G = default_generator
    path = tmp_path / "ws.npy"
    np.save(path, np.random.RandomState(0).randn(5, G.num_ws, G.w_dim).astype(np.float32))
    a = LatentWalker(G, WalkSettings(keyframes=tuple(keyframes_from_file(str(path)))))
    b = LatentWalker(G, WalkSettings(keyframes=tuple(keyframes_from_file(str(path)))))
    assert a.points[3].ws.data_ptr() == b.points[3].ws.data_ptr()
