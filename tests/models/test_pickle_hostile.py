"""Hostile model files, made the way an attacker would: raw pickle opcodes, crafted states, absurd kwargs,
damaged weights, and a seeded fuzz of the official fixture. Every one must end in a one-line ModelFileError
that names the file (or load a sound generator), with memory bounded by the file, never by what it declares."""

from __future__ import annotations

import collections
import io
import json
import pathlib
import pickle
import random
import struct
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest
import torch

from engine.models import Generator, GeneratorConfig, ModelFileError, load_generator
from engine.models.pickle_reader import read_legacy_storage
from engine.models.safe_pickle import PickleCorrupt, PickleRefused, Policy, unpickle
from tests.official_format import EasyDict, generator_pickle_bytes, official_modules, record

SMALL = GeneratorConfig(z_dim=16, c_dim=0, w_dim=16, img_resolution=16, img_channels=3, mapping_layers=2,
                        channel_base=256, channel_max=16, num_fp16_res=2, conv_clamp=256.0)


def load_error(tmp_path, data: bytes, name: str = "hostile.pkl") -> str:
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(ModelFileError) as err:
        load_generator(str(path), device="cpu")
    message = str(err.value)
    assert "\n" not in message, f"not one line: {message!r}"
    assert name in message
    return message


# ----------------------------------------------------------------------------------------- raw opcodes
PROTO4 = b"\x80\x04"


def global_op(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def unicode_op(text: str) -> bytes:
    data = text.encode()
    return b"\x8c" + bytes([len(data)]) + data


def binbytes(data: bytes) -> bytes:
    return b"B" + struct.pack("<I", len(data)) + data


def test_dtype_with_a_subarray_state_is_refused_before_scalar_can_read_past_its_bytes(tmp_path):
    """numpy.dtype + BUILD with a sub-array state, then scalar(dtype, 8 bytes): numpy would read 8000."""
    state = pickle.dumps((3, "<", (np.dtype("f8"), (1000,)), None, None, 8000, 1, 0), protocol=4)[2:-1]
    data = (PROTO4 + global_op("numpy", "dtype") + unicode_op("f8") + b"\x89\x88\x87R"  # dtype('f8', False, True)
            + state + b"b"                                                           # BUILD
            + b"\x94" + global_op("numpy.core.multiarray", "scalar") + b"h\x00"     # (dtype memo 0)
            + b"C\x08" + b"\x00" * 8 + b"\x86R.")
    message = load_error(tmp_path, data)
    assert "dtype state" in message


def test_only_plain_number_dtypes_exist(tmp_path):
    data = PROTO4 + global_op("numpy", "dtype") + unicode_op("O") + b"\x89\x88\x87R."
    assert "not a plain number type" in load_error(tmp_path, data)


def test_build_on_a_rebuilt_tensor_is_refused(tmp_path):
    """Tensor.__setstate__ would bypass the storage bounds check; BUILD is allowed on dtypes only."""
    G = Generator(SMALL)
    tensor = pickle.dumps(G.mapping.w_avg.detach().clone(), protocol=4)
    # Append a BUILD with a (storage, offset, size, stride) state onto the rebuilt tensor.
    data = tensor[:-1] + pickle.dumps((None, 0, (1024,), (1,)), protocol=4)[2:-1] + b"b."
    assert "BUILD" in load_error(tmp_path, data)


def load_error_and_peak(tmp_path, data: bytes) -> tuple[str, int]:
    """The error a file gets, and the peak of Python's own allocations while it was being refused."""
    tracemalloc.start()
    try:
        message = load_error(tmp_path, data)
        return message, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_huge_memo_index_allocates_nothing(tmp_path):
    data = PROTO4 + b"K\x01" + b"r\xff\xff\xff\x7f" + b"."     # BININT1 1, LONG_BINPUT 2**31-1, STOP
    message, peak = load_error_and_peak(tmp_path, data)
    assert "expected a dict" in message and peak < 5e6


def test_memo_read_before_write(tmp_path):
    assert "memo entry" in load_error(tmp_path, PROTO4 + b"j\xff\xff\xff\x7f.")


@pytest.mark.parametrize("data,words", [
    (PROTO4 + b"\x8e" + struct.pack("<Q", 2 ** 62) + b"xx.", "declares"),            # BINBYTES8 of 4 EiB
    (PROTO4 + b"\x95" + struct.pack("<Q", 2 ** 40) + b"K\x01.", "frame"),             # FRAME of 1 TiB
    (PROTO4 + b"\x8b" + struct.pack("<i", 10 ** 8) + b".", "integer"),               # LONG4 of 100 MB
    (PROTO4 + b"X" + struct.pack("<I", 2 ** 31) + b"abc.", "declares"),               # BINUNICODE past the end
], ids=["binbytes8", "frame", "long4", "binunicode"])
def test_declared_lengths_are_checked_against_the_bytes_there(tmp_path, data, words):
    message, peak = load_error_and_peak(tmp_path, data)
    assert words in message and peak < 5e6


@pytest.mark.parametrize("opcode", [b"i", b"o", b"\x82", b"\x96", b"\x97", b"P"],
                         ids=["INST", "OBJ", "EXT1", "BYTEARRAY8", "NEXT_BUFFER", "PERSID"])
def test_opcodes_the_format_never_uses_are_refused(tmp_path, opcode):
    assert "opcode" in load_error(tmp_path, PROTO4 + b"(" + opcode + b"\n")


def test_deep_nesting_is_no_recursion(tmp_path):
    depth = 200_000
    data = PROTO4 + b"]" * depth + b"a" * (depth - 1) + b"."
    assert "expected a dict" in load_error(tmp_path, data)


def test_a_deeply_nested_dict_key_is_never_hashed(tmp_path):
    depth = 100_000
    key = b"N" + b"\x85" * depth                           # ((((None,),),)...) built by TUPLE1
    assert "keys must be plain" in load_error(tmp_path, PROTO4 + b"}" + key + b"K\x01s.")


def test_reduce_may_call_only_the_formats_constructors(tmp_path):
    # EasyDict is allowed as a class for NEWOBJ, never as something REDUCE calls with attacker data.
    data = PROTO4 + global_op("dnnlib.util", "EasyDict") + b"]" + b"\x85R."
    assert "REDUCE" in load_error(tmp_path, data)


def test_setitems_only_on_dicts(tmp_path):
    G = Generator(SMALL)
    tensor = pickle.dumps(G.mapping.w_avg.detach().clone(), protocol=4)
    assert "SETITEMS" in load_error(tmp_path, tensor[:-1] + b"K\x00K\x07s.")


def test_machine_refuses_unknown_globals_by_name():
    with pytest.raises(PickleRefused, match="os.system"):
        unpickle(PROTO4 + global_op("os", "system") + b".", Policy(globals={}))
    with pytest.raises(PickleCorrupt, match="STOP"):
        unpickle(PROTO4 + b"K\x01", Policy(globals={}))


# ------------------------------------------------------------------------------------- storage streams
def storage_blob(tensor: torch.Tensor) -> bytes:
    """The bytes official pickles keep per storage (a legacy torch.save stream)."""
    data = pickle.dumps(tensor.untyped_storage(), protocol=4)
    return next(arg for op, arg, _ in __import__("pickletools").genops(data) if isinstance(arg, bytes))


def test_legacy_storage_streams_are_parsed_by_us():
    values = torch.arange(6, dtype=torch.float32)
    storage = read_legacy_storage(storage_blob(values))
    assert torch.equal(storage.flat.view(torch.float32), values)


def test_a_storage_that_declares_more_than_it_holds_is_refused():
    blob = bytearray(storage_blob(torch.zeros(4)))
    blob[-16 - 8:-16] = struct.pack("<q", 1 << 40)   # the element count before the raw bytes
    with pytest.raises(PickleCorrupt, match="declares"):
        read_legacy_storage(bytes(blob))


def test_a_storage_whose_inner_stream_is_a_full_pickle_gets_one_line(tmp_path):
    class Payload:
        def __reduce__(self):
            return (eval, ("1",))
    inner = pickle.dumps(Payload(), protocol=2)
    data = PROTO4 + global_op("torch.storage", "_load_from_bytes") + binbytes(inner) + b"\x85R."
    message = load_error(tmp_path, data)
    assert "tensor storage" in message


class _StorageOf:
    def __init__(self, blob: bytes) -> None:
        self.blob = blob

    def __reduce__(self):
        return (torch.storage._load_from_bytes, (self.blob,))


class _TensorOver:
    """Pickles as the official tensor call, with whatever geometry the test gives it."""

    def __init__(self, storage: _StorageOf, size: tuple, stride: tuple) -> None:
        self.args = (storage, 0, size, stride, False, collections.OrderedDict())

    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2, self.args)


def test_a_four_byte_storage_cannot_become_a_large_tensor(tmp_path):
    data = pickle.dumps(_TensorOver(_StorageOf(storage_blob(torch.zeros(1))), (1024,), (1,)), protocol=4)
    assert "reaches element" in load_error(tmp_path, data)


# ------------------------------------------------------------------------------ the state of the networks
def snapshot_with(mutate) -> bytes:
    """An official-format snapshot of SMALL whose G_ema record ``mutate`` edits before pickling."""
    G = Generator(SMALL)
    with official_modules():
        g = record(G, G.config.to_official_kwargs())
        mutate(g)
        return pickle.dumps({"G_ema": g, "D": None}, protocol=4)


@pytest.mark.parametrize("mutate,words", [
    (lambda g: g.meta.update(version=float("inf")), "version"),
    (lambda g: g.meta["state"].update(_init_kwargs=[1, 2, 3]), "_init_kwargs"),
    (lambda g: g.meta["state"].update(_modules=[1, 2]), "_modules"),
    (lambda g: g.meta["state"]["_modules"].update(mapping="not a module"), "sub-module"),
    (lambda g: g.meta["state"]["_init_kwargs"]["mapping_kwargs"].update(lr_multiplier="x"), "lr_multiplier"),
    (lambda g: g.meta["state"]["_init_kwargs"].update(mapping_kwargs=[1]), "mapping_kwargs"),
    (lambda g: g.meta["state"]["_init_kwargs"].update(img_resolution=2 ** 20), "img_resolution"),
    (lambda g: g.meta["state"]["_init_kwargs"].update(img_resolution=True), "img_resolution"),
    (lambda g: g.meta["state"]["_init_kwargs"]["synthesis_kwargs"].update(resample_filter=[1.0] * 10 ** 5),
     "resample_filter"),
    (lambda g: g.meta["state"]["_init_kwargs"]["mapping_kwargs"].update(num_layers=10 ** 6), "mapping_layers"),
    (lambda g: g.meta["state"]["_init_kwargs"]["synthesis_kwargs"].update(conv_clamp=float("inf")), "conv_clamp"),
    (lambda g: g.meta["state"]["_init_kwargs"].update(z_dim=-3), "z_dim"),
], ids=["inf-version", "kwargs-list", "modules-list", "module-str", "str-multiplier", "mapping-list",
        "resolution", "bool-resolution", "fir-length", "layers", "inf-clamp", "negative-z"])
def test_wrong_types_and_absurd_kwargs_get_one_line(tmp_path, mutate, words):
    assert words in load_error(tmp_path, snapshot_with(mutate))


def load_with_memory_limit(path, limit_mb: int) -> str:
    """Load ``path`` in a fresh interpreter whose heap may not grow past ``limit_mb`` (RLIMIT_DATA); returns
    what it printed: the ModelFileError, or what went wrong instead."""
    script = (f"import resource; resource.setrlimit(resource.RLIMIT_DATA, ({limit_mb << 20}, {limit_mb << 20}))\n"
              "import sys; sys.path.insert(0, '.')\n"
              "from engine.models import ModelFileError, load_generator\n"
              f"try:\n    load_generator({str(path)!r}, device='cpu')\n    print('loaded')\n"
              "except ModelFileError as exc:\n    print('refused:', exc)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          cwd=pathlib.Path(__file__).resolve().parents[2])
    return done.stdout + done.stderr


def test_kwargs_that_disagree_with_the_weights_allocate_nothing(tmp_path):
    """A 4096², 8192-channel architecture (tens of GB if built) over 16² weights: refused from shapes alone,
    on the meta device, in a process whose heap may not grow past 1 GB."""
    def absurd(g):
        g.meta["state"]["_init_kwargs"].update(img_resolution=4096)
        g.meta["state"]["_init_kwargs"]["synthesis_kwargs"].update(channel_base=2 ** 22, channel_max=8192)
    path = tmp_path / "absurd.pkl"
    path.write_bytes(snapshot_with(absurd))
    output = load_with_memory_limit(path, 1024)
    assert output.startswith("refused:") and "do not match" in output, output


def test_shared_subtrees_cannot_make_the_walk_exponential(tmp_path):
    def share(g):
        synthesis = g.meta["state"]["_modules"]["synthesis"]
        g.meta["state"]["_modules"]["mapping"] = synthesis
    assert "appears twice" in load_error(tmp_path, snapshot_with(share))


@pytest.mark.parametrize("where", ["synthesis.b4.const", "mapping.w_avg", "synthesis.b16.torgb.weight"])
@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_weights_are_refused_by_name(tmp_path, where, value):
    G = Generator(SMALL)
    with torch.no_grad():
        G.state_dict()[where].view(-1)[0] = value
    message = load_error(tmp_path, generator_pickle_bytes(G))
    assert where in message and "NaN or infinite" in message


def test_absurd_config_in_a_safetensors_header(tmp_path):
    from safetensors.torch import save_file
    config = {**SMALL.to_dict(), "img_resolution": 2 ** 24}
    path = tmp_path / "absurd.safetensors"
    save_file({"x": torch.zeros(2)}, str(path), metadata={"latentstage.generator_config": json.dumps(config)})
    with pytest.raises(ModelFileError, match="img_resolution") as err:
        load_generator(path, device="cpu")
    assert "\n" not in str(err.value)


def test_safetensors_with_weights_that_disagree(tmp_path):
    from safetensors.torch import save_file
    path = tmp_path / "wrong.safetensors"
    save_file({"x": torch.zeros(2)}, str(path), metadata={"latentstage.generator_config": json.dumps(SMALL.to_dict())})
    with pytest.raises(ModelFileError, match="do not match"):
        load_generator(path, device="cpu")


@pytest.mark.parametrize("device", ["meta", "nonsense", "cuda:x", "xla"])
def test_devices_that_cannot_run_a_generator(device):
    with pytest.raises(ValueError, match="device"):
        load_generator("default", device=device)


# ---------------------------------------------------------------------------------------------- fuzz
def mutations(data: bytes, count: int, seed: int = 0):
    rng = random.Random(seed)
    for i in range(count):
        b = bytearray(data)
        kind = i % 5
        if kind == 0:                                    # flip a few bytes
            for _ in range(rng.randint(1, 8)):
                b[rng.randrange(len(b))] = rng.randrange(256)
        elif kind == 1:                                  # truncate
            del b[rng.randrange(2, len(b)):]
        elif kind == 2:                                  # insert junk
            at = rng.randrange(len(b))
            b[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        elif kind == 3:                                  # duplicate a chunk
            at, n = rng.randrange(len(b)), rng.randint(1, 4096)
            b[at:at] = b[at:at + n]
        else:                                            # overwrite an opcode-sized field with extremes
            at = rng.randrange(len(b) - 8)
            b[at:at + 8] = rng.choice([b"\xff" * 8, b"\x00" * 8, struct.pack("<q", 2 ** 62)])
        yield bytes(b)


def test_fuzzed_fixture_pickles_load_soundly_or_fail_in_one_line(tmp_path, tiny_pkl):
    data = tiny_pkl.read_bytes()
    loaded = 0
    for i, mutant in enumerate(mutations(data, 150)):
        path = tmp_path / f"fuzz{i}.pkl"
        path.write_bytes(mutant)
        try:
            G = load_generator(str(path), device="cpu")
        except ModelFileError as exc:
            assert "\n" not in str(exc) and f"fuzz{i}.pkl" in str(exc), str(exc)
            continue
        loaded += 1
        assert all(bool(torch.isfinite(t).all()) for t in G.state_dict().values())
    assert loaded < 150  # the mutations do damage; most files must be refused


@pytest.mark.parametrize("suffix", [".pkl", ".safetensors"])
def test_a_fifo_named_as_a_model_is_refused_without_blocking(tmp_path, suffix):
    import os
    path = tmp_path / f"model{suffix}"
    os.mkfifo(path)
    with pytest.raises(ModelFileError, match="not a regular file"):
        load_generator(str(path), device="cpu")


def test_one_storage_stream_rebuilt_many_times_is_refused(tmp_path):
    """BINGET of the same bytes, REDUCEd again and again: each would be a fresh copy (MBs → GBs)."""
    blob = storage_blob(torch.zeros(1024))
    head = PROTO4 + global_op("torch.storage", "_load_from_bytes") + b"\x94" + binbytes(blob) + b"\x94"
    data = head + b"(" + b"h\x00h\x01\x85R" * 1000 + b"t."
    assert "rebuilt twice" in load_error(tmp_path, data)


def test_a_stride_zero_view_cannot_become_a_large_tensor(tmp_path):
    data = pickle.dumps(_TensorOver(_StorageOf(storage_blob(torch.zeros(1))), (8192, 8192), (0, 0)), protocol=4)
    assert "overlaps itself" in load_error(tmp_path, data)


def test_weights_larger_than_the_file_could_hold_are_refused_before_reading(tmp_path):
    """Every expected tensor a valid, non-overlapping view; together far more than the file holds."""
    from engine.models.load import build_checked
    config = GeneratorConfig(z_dim=512, c_dim=0, w_dim=512, img_resolution=1024, img_channels=3)
    with torch.device("meta"):
        shapes = {k: (tuple(v.shape), torch.float32) for k, v in Generator(config).state_dict().items()}
    reads = []
    with pytest.raises(ModelFileError, match="cannot hold them"):
        build_checked("small.pkl", config, shapes, lambda name: reads.append(name), file_bytes=10_000)
    assert reads == []


def test_integers_too_large_for_a_float_are_refused_in_kwargs(tmp_path):
    message = load_error(tmp_path, snapshot_with(
        lambda g: g.meta["state"]["_init_kwargs"]["synthesis_kwargs"].update(conv_clamp=2 ** 500)))
    assert "conv_clamp" in message
