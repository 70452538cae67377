"""Model files are untrusted: nothing inside a pickle may run, and every bad file gets a clear error."""

from __future__ import annotations

import io
import os
import pickle
import zipfile

import pytest
import torch

from engine.models import Generator, GeneratorConfig, ModelFileError, load_generator, save_generator
from tests.official_format import EasyDict, generator_pickle_bytes, official_modules, record

SMALL = GeneratorConfig(z_dim=16, c_dim=0, w_dim=16, img_resolution=16, img_channels=3, mapping_layers=2,
                        channel_base=256, channel_max=16, num_fp16_res=2, conv_clamp=256.0)


class RunsShell:
    """A classic pickle payload: unpickling it calls os.system."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def write(path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


def test_reduce_payload_is_refused_and_never_runs(tmp_path):
    sentinel = tmp_path / "pwned"
    path = write(tmp_path / "evil.pkl", pickle.dumps({"G_ema": RunsShell(f"touch {sentinel}")}))
    with pytest.raises(ModelFileError) as err:
        load_generator(path, device="cpu")
    assert "evil.pkl" in str(err.value) and "posix.system" in str(err.value)
    assert not sentinel.exists()


def test_payload_hidden_inside_a_network_state_is_refused(tmp_path):
    sentinel = tmp_path / "pwned"
    G = Generator(SMALL)
    data = generator_pickle_bytes(G, extra={"augment_pipe": RunsShell(f"touch {sentinel}")})
    with pytest.raises(ModelFileError, match="posix.system"):
        load_generator(write(tmp_path / "evil.pkl", data), device="cpu")
    assert not sentinel.exists()


def test_hostile_class_source_is_never_executed(tmp_path):
    """Official pickles carry their class source; the official loader execs it. We never look at it."""
    sentinel = tmp_path / "pwned"
    source = f"import pathlib\npathlib.Path({str(sentinel)!r}).write_text('ran')\nclass Generator: pass\n"
    G = Generator(SMALL)
    loaded = load_generator(write(tmp_path / "g.pkl", generator_pickle_bytes(G, module_src=source)), device="cpu")
    assert not sentinel.exists()
    z = torch.randn(2, SMALL.z_dim)
    assert torch.allclose(loaded(z), G(z), atol=1e-5)


def test_hostile_source_with_an_unknown_class_is_refused(tmp_path):
    sentinel = tmp_path / "pwned"
    source = f"import os\nos.system('touch {sentinel}')\n"
    data = generator_pickle_bytes(Generator(SMALL), module_src=source, class_name="Backdoor")
    with pytest.raises(ModelFileError, match="Backdoor"):
        load_generator(write(tmp_path / "g.pkl", data), device="cpu")
    assert not sentinel.exists()


def test_truncated_file(tmp_path, tiny_pkl):
    data = tiny_pkl.read_bytes()
    path = write(tmp_path / "cut.pkl", data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="cut.pkl.*truncated or corrupt"):
        load_generator(path, device="cpu")


def test_corrupt_bytes_inside_the_file(tmp_path, tiny_pkl):
    data = bytearray(tiny_pkl.read_bytes())
    for i in range(2000, len(data), 997):
        data[i] ^= 0xFF
    with pytest.raises(ModelFileError, match="bad.pkl"):
        load_generator(write(tmp_path / "bad.pkl", bytes(data)), device="cpu")


@pytest.mark.parametrize("content,expected", [
    (b"", "not a pickle"),
    (b"hello world", "not a pickle"),
])
def test_not_a_pickle(tmp_path, content, expected):
    with pytest.raises(ModelFileError, match=expected):
        load_generator(write(tmp_path / "x.pkl", content), device="cpu")


def test_zip_checkpoint_is_named(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("archive/data.pkl", b"x")
    with pytest.raises(ModelFileError, match="zip archive"):
        load_generator(write(tmp_path / "ckpt.pkl", buffer.getvalue()), device="cpu")


def test_missing_file(tmp_path):
    with pytest.raises(ModelFileError, match="nope.pkl.*cannot read"):
        load_generator(str(tmp_path / "nope.pkl"), device="cpu")


def test_tensorflow_era_pickle_is_named(tmp_path):
    # What a TF-era pickle starts with: a global from dnnlib.tflib.network.
    data = b"\x80\x02cdnnlib.tflib.network\nNetwork\nq\x00)\x81q\x01}q\x02b."
    with pytest.raises(ModelFileError, match="TensorFlow-era"):
        load_generator(write(tmp_path / "tf.pkl", data), device="cpu")


def test_stylegan3_generator_is_named(tmp_path):
    G = Generator(SMALL)
    with official_modules():
        g = record(G, G.config.to_official_kwargs())
        synthesis = g.meta["state"]["_modules"]["synthesis"]
        synthesis.meta["state"]["_modules"]["input"] = record(torch.nn.Linear(2, 2), class_name="SynthesisInput")
        data = pickle.dumps({"G_ema": g}, protocol=4)
    with pytest.raises(ModelFileError, match="StyleGAN3"):
        load_generator(write(tmp_path / "sg3.pkl", data), device="cpu")


def test_weights_that_do_not_match_the_kwargs(tmp_path):
    G = Generator(SMALL)
    with official_modules():
        g = record(G, {**G.config.to_official_kwargs(), "w_dim": 32})
        data = pickle.dumps({"G_ema": g}, protocol=4)
    with pytest.raises(ModelFileError, match="shape|missing"):
        load_generator(write(tmp_path / "mismatch.pkl", data), device="cpu")


def test_no_generator_in_the_file(tmp_path):
    with official_modules():
        data = pickle.dumps({"training_set_kwargs": EasyDict(resolution=16), "G_ema": None}, protocol=4)
    with pytest.raises(ModelFileError, match="no generator"):
        load_generator(write(tmp_path / "empty.pkl", data), device="cpu")


@pytest.mark.parametrize("cfg", [
    GeneratorConfig(z_dim=8, c_dim=4, w_dim=12, img_resolution=16, img_channels=3, mapping_layers=3,
                    channel_base=128, channel_max=16, architecture="resnet"),
    GeneratorConfig(z_dim=8, c_dim=0, w_dim=8, img_resolution=8, img_channels=1, mapping_layers=1,
                    channel_base=64, channel_max=8, architecture="orig", use_noise=False),
], ids=["conditional-resnet", "grayscale-orig"])
def test_round_trip_through_the_official_format(tmp_path, cfg):
    torch.manual_seed(0)
    G = Generator(cfg)
    with torch.no_grad():
        for p in G.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    loaded = load_generator(write(tmp_path / "g.pkl", generator_pickle_bytes(G)), device="cpu")
    assert loaded.config == cfg
    z = torch.randn(3, cfg.z_dim)
    c = torch.eye(cfg.c_dim)[:3] if cfg.c_dim else None
    img = loaded(z, c, truncation_psi=0.8)
    assert img.shape == (3, cfg.img_channels, cfg.img_resolution, cfg.img_resolution)
    assert torch.isfinite(img).all()
    assert torch.allclose(img, G(z, c, truncation_psi=0.8), atol=1e-5)


def test_numpy2_pickles_load_too(tmp_path, tiny_pkl):
    """tiny.pkl was written under numpy 1 (numpy.core...); re-pickling here writes numpy._core names."""
    G = load_generator(tiny_pkl, device="cpu")
    data = generator_pickle_bytes(G)
    assert b"numpy._core.multiarray" in data or b"numpy.core.multiarray" in data
    loaded = load_generator(write(tmp_path / "np2.pkl", data), device="cpu")
    z = torch.randn(2, G.z_dim)
    assert torch.equal(loaded(z), G(z))


def test_safetensors_round_trip(tmp_path, tiny_pkl):
    G = load_generator(tiny_pkl, device="cpu")
    path = tmp_path / "tiny.safetensors"
    save_generator(G, path)
    loaded = load_generator(path, device="cpu")
    z = torch.randn(2, G.z_dim)
    assert loaded.config == G.config and torch.equal(loaded(z), G(z))


def test_safetensors_without_our_header(tmp_path):
    from safetensors.torch import save_file
    path = tmp_path / "other.safetensors"
    save_file({"x": torch.zeros(2)}, str(path))
    with pytest.raises(ModelFileError, match="header"):
        load_generator(path, device="cpu")
