"""The perceptual distance (engine/latent/perceptual.py): VGG16 weights from plain state dicts only, checked
name by name; TorchScript refused; the distance is zero for the same picture and joins a projection."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from engine.latent.perceptual import CONVS, VggError, load_vgg16


def state(seed: int = 0) -> dict[str, torch.Tensor]:
    """torchvision's VGG16 names and shapes, with seeded weights (no trained weights can be fetched here)."""
    g = torch.Generator().manual_seed(seed)
    found = {}
    for index, cin, cout in CONVS:
        found[f"features.{index}.weight"] = torch.randn(cout, cin, 3, 3, generator=g) * (2 / (9 * cin)) ** 0.5
        found[f"features.{index}.bias"] = torch.zeros(cout)
    found["classifier.0.weight"] = torch.zeros(4, 4)             # the classifier is there and ignored
    return found


def test_plain_state_dicts_load_from_pth_and_safetensors_and_measure(tmp_path):
    torch.save(state(), tmp_path / "vgg16.pth")
    save_file(state(), str(tmp_path / "vgg16.safetensors"))
    a, b = load_vgg16(str(tmp_path / "vgg16.pth")), load_vgg16(str(tmp_path / "vgg16.safetensors"))
    image = torch.rand(1, 3, 64, 64) * 2 - 1
    other = torch.rand(1, 3, 64, 64) * 2 - 1
    assert float(a.distance(image, image)) == pytest.approx(0.0, abs=1e-6)
    assert float(a.distance(image, other)) > 0.01
    assert float(a.distance(image, other)) == pytest.approx(float(b.distance(image, other)), rel=1e-5)
    assert len(a.stages(image)) == 5


def test_torchscript_and_wrong_files_are_refused_in_one_line(tmp_path):
    scripted = torch.jit.script(torch.nn.Conv2d(3, 64, 3))
    scripted.save(str(tmp_path / "vgg.pt"))
    with pytest.raises(VggError, match="TorchScript"):
        load_vgg16(str(tmp_path / "vgg.pt"))
    broken = state()
    broken["features.10.weight"] = torch.zeros(1, 1, 3, 3)
    torch.save(broken, tmp_path / "wrong.pth")
    with pytest.raises(VggError, match="features.10"):
        load_vgg16(str(tmp_path / "wrong.pth"))
    nan = state()
    nan["features.0.bias"][0] = float("nan")
    torch.save(nan, tmp_path / "nan.pth")
    with pytest.raises(VggError, match="NaN"):
        load_vgg16(str(tmp_path / "nan.pth"))

    marker = tmp_path / "executed"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))              # loading would create the marker file
    import pickle
    (tmp_path / "evil.pth").write_bytes(pickle.dumps({"features.0.weight": Evil()}))
    with pytest.raises(VggError, match="not a plain state dict"):
        load_vgg16(str(tmp_path / "evil.pth"))
    assert not marker.exists()
    (tmp_path / "list.pth").write_bytes(b"")
    torch.save([1, 2], tmp_path / "list.pth")
    with pytest.raises(VggError, match="expected a state dict"):
        load_vgg16(str(tmp_path / "list.pth"))


def test_a_projection_with_the_perceptual_loss(tiny_pkl, tmp_path):
    from engine.latent.project import project
    from engine.models import load_generator
    G = load_generator(str(tiny_pkl), device="cpu", precision="fp32")
    vgg_path = tmp_path / "vgg16.safetensors"
    save_file(state(1), str(vgg_path))
    target = (np.random.RandomState(0).rand(32, 32, 3) * 255).astype(np.uint8)
    plain = project(G, target, steps=30)
    with_vgg = project(G, target, steps=30, perceptual=load_vgg16(str(vgg_path)))
    assert np.isfinite(with_vgg.w).all() and not np.allclose(with_vgg.w, plain.w)   # the VGG term steers it


def test_the_command_line_takes_vgg16_weights_and_refuses_torchscript(tiny_pkl, tmp_path):
    import cv2

    from tests.test_launch import launch
    image = tmp_path / "art.png"
    cv2.imwrite(str(image), (np.random.RandomState(1).rand(40, 40, 3) * 255).astype(np.uint8))
    save_file(state(2), str(tmp_path / "vgg16.safetensors"))
    out = tmp_path / "w.npz"
    ok = launch("--model", str(tiny_pkl), "--project", str(image), "--out", str(out), "--steps", "5", "--quiet",
                "--vgg16", str(tmp_path / "vgg16.safetensors"))
    assert ok.returncode == 0 and out.is_file(), ok.stderr
    torch.jit.script(torch.nn.Conv2d(3, 64, 3)).save(str(tmp_path / "vgg.pt"))
    bad = launch("--model", str(tiny_pkl), "--project", str(image), "--out", str(out), "--steps", "5", "--quiet",
                 "--vgg16", str(tmp_path / "vgg.pt"))
    assert bad.returncode == 1 and "TorchScript" in bad.stderr
