"""pix2pix / CycleGAN generators (engine/models/pix2pix.py) against the reference implementation's outputs in
../shared/fixtures/pix2pix, detection of every option from the keys, old and DataParallel checkpoints, and
hostile files."""

from __future__ import annotations

import collections
import os
import pickle

import numpy as np
import pytest
import torch

from engine.models.pix2pix import Pix2PixError, detect, load_pix2pix, read_state_dict, set_batchnorm
from tests.conftest import FIXTURES

PIX = FIXTURES / "pix2pix"
UNET, RESNET = PIX / "unet256_batch_ngf8.pth", PIX / "resnet9_instance_ngf8.pth"


def reference(name: str) -> dict[str, np.ndarray]:
    with np.load(PIX / f"{name}_reference.npz") as z:
        return {k: z[k] for k in z.files}


def run(G: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        return G(torch.from_numpy(x)).numpy()


@pytest.mark.parametrize("name, path", [("unet256_batch_ngf8", UNET), ("resnet9_instance_ngf8", RESNET)])
def test_the_reference_outputs_are_reproduced_in_eval_mode(name, path):
    ref = reference(name)
    G = load_pix2pix(str(path))
    assert np.abs(run(G, ref["input"]) - ref["eval"]).max() <= 1e-4
    assert np.abs(run(G, ref["input"][:1]) - ref["eval_single0"]).max() <= 1e-4


def test_batchnorm_on_the_frames_own_statistics_is_reproduced_and_never_moves_the_running_ones():
    ref = reference("unet256_batch_ngf8")
    G = load_pix2pix(str(UNET), batchnorm="frame")
    before = {k: v.clone() for k, v in G.state_dict().items() if "running" in k}
    assert np.abs(run(G, ref["input"][:1]) - ref["batch_stats_single0"]).max() <= 1e-4
    assert all(torch.equal(v, G.state_dict()[k]) for k, v in before.items())
    set_batchnorm(G, "running")
    assert np.abs(run(G, ref["input"][:1]) - ref["eval_single0"]).max() <= 1e-4


def test_every_option_is_detected_from_the_keys():
    assert detect(read_state_dict(str(UNET)), "u") == {"norm": "batch", "net": "unet_256", "ngf": 8, "input_nc": 3,
                                                        "output_nc": 3, "dropout": False}
    assert detect(read_state_dict(str(RESNET)), "r") == {"norm": "instance", "net": "resnet_9blocks", "ngf": 8,
                                                          "input_nc": 3, "output_nc": 3, "dropout": False}
    G = load_pix2pix(str(UNET))
    assert G.config.net == "unet_256" and G.config.norm == "batch"


@pytest.mark.parametrize("net, norm, dropout, nc", [("unet_128", "instance", False, (1, 3)),
                                                    ("resnet_6blocks", "batch", True, (3, 1)),
                                                    ("resnet_9blocks", "batch", False, (4, 3))])
def test_other_architectures_round_trip_through_their_checkpoints(tmp_path, net, norm, dropout, nc):
    from engine.models.pix2pix import Pix2PixConfig, build
    config = Pix2PixConfig(net=net, ngf=4, norm=norm, dropout=dropout, input_nc=nc[0], output_nc=nc[1])
    torch.manual_seed(0)
    source = build(config).eval()
    path = tmp_path / "latest_net_G.pth"
    torch.save(source.state_dict(), path)
    G = load_pix2pix(str(path))
    assert G.config == config                                            # everything detected
    x = torch.rand(1, nc[0], 128, 128) * 2 - 1
    with torch.inference_mode():
        assert torch.equal(G(x), source(x))


def test_old_instance_statistics_and_dataparallel_prefixes_load(tmp_path):
    ref = reference("resnet9_instance_ngf8")
    state = read_state_dict(str(RESNET))
    old = collections.OrderedDict()
    for key, value in state.items():                                     # as torch < 0.4 saved InstanceNorm
        old[f"module.{key}"] = value
        if key.endswith("conv_block.1.weight"):
            stem = key[:-len("1.weight")] + "2."
            old[f"module.{stem}running_mean"] = torch.zeros(value.shape[0])
            old[f"module.{stem}running_var"] = torch.ones(value.shape[0])
    path = tmp_path / "latest_net_G_A.pth"
    torch.save(old, path, _use_new_zipfile_serialization=False)          # the legacy format too
    G = load_pix2pix(str(path))
    assert np.abs(run(G, ref["input"][:1]) - ref["eval_single0"]).max() <= 1e-4


class _Payload:
    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_checkpoint_that_would_run_code_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    _Payload.marker = marker                                             # type: ignore[attr-defined]
    path = tmp_path / "latest_net_G.pth"
    with open(path, "wb") as f:
        pickle.dump({"model.1.weight": _Payload()}, f)
    with pytest.raises(Pix2PixError, match="not a checkpoint of plain tensors"):
        load_pix2pix(str(path))
    assert not marker.exists()
    torch.save({"model.1.weight": _Payload()}, path)                      # the zip format, same payload
    with pytest.raises(Pix2PixError):
        load_pix2pix(str(path))
    assert not marker.exists()


@pytest.mark.parametrize("content, words", [
    (None, "no such checkpoint"),
    (b"not a checkpoint", "not a checkpoint of plain tensors"),
    ("tensor", "expected a state dict"),
    ("weird", "cannot tell netG"),
    ("mismatch", "does not fit"),
])
def test_bad_checkpoints_give_one_line_naming_the_file(tmp_path, content, words):
    path = tmp_path / "G.pth"
    if content == "tensor":
        torch.save(torch.zeros(3), path)
    elif content == "weird":
        torch.save({"encoder.weight": torch.zeros(3)}, path)
    elif content == "mismatch":
        state = read_state_dict(str(UNET))
        state["model.model.0.weight"] = torch.zeros(8, 3, 3, 3)
        torch.save(state, path)
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(Pix2PixError) as refused:
        load_pix2pix(str(path))
    message = str(refused.value)
    assert str(path) in message and words in message and "\n" not in message


def test_an_option_given_wins_over_detection_and_a_wrong_one_is_reported(tmp_path):
    with pytest.raises(Pix2PixError, match="does not fit resnet_6blocks"):
        load_pix2pix(str(RESNET), netG="resnet_6blocks")
    with pytest.raises(Pix2PixError, match="net must be one of"):
        load_pix2pix(str(RESNET), netG="vgg")


def test_the_runner_takes_the_fastest_path_that_stays_correct():
    from engine.models.pix2pix import MIN_PSNR_DB, Pix2PixRunner, _psnr
    ref = reference("unet256_batch_ngf8")
    runner = Pix2PixRunner(load_pix2pix(str(UNET)))
    assert runner.path in ("cpu fp32", "cpu fp32 channels_last", "cpu bf16 channels_last")
    got = runner.run(torch.from_numpy(ref["input"][:1]))
    expected = torch.from_numpy(ref["eval_single0"])
    if "fp32" in runner.path:
        assert float((got - expected).abs().max()) <= 1e-4
    else:
        assert _psnr(got, expected) >= MIN_PSNR_DB
