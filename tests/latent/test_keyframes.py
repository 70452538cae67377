"""Keyframes from seeds, classes and latent files, including the official projector's projected_w.npz."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.latent import Keyframe, LatentFileError, LatentWalker, WalkSettings, keyframes_from_file
from engine.latent.keyframes import resolve_keyframe
from engine.models import Generator, GeneratorConfig


def test_projected_w_npz(default_generator, tmp_path):
    G = default_generator
    ws = np.random.RandomState(0).randn(1, G.num_ws, G.w_dim).astype(np.float32)
    path = tmp_path / "projected_w.npz"
    np.savez(path, w=ws)
    (kf,) = keyframes_from_file(str(path))
    resolved = resolve_keyframe(kf, G)
    assert resolved.z is None and np.array_equal(resolved.ws.numpy(), ws[0])


def test_npy_rows_are_keyframes_and_broadcast_to_layers(default_generator, tmp_path):
    G = default_generator
    rows = np.random.RandomState(1).randn(3, G.w_dim).astype(np.float32)
    path = tmp_path / "w.npy"
    np.save(path, rows)
    keyframes = keyframes_from_file(str(path))
    assert len(keyframes) == 3
    ws = resolve_keyframe(keyframes[2], G).ws
    assert ws.shape == (G.num_ws, G.w_dim) and torch.equal(ws[5], torch.from_numpy(rows[2]))


def test_z_files_map_through_the_network(default_generator, tmp_path):
    G = default_generator
    z = np.random.RandomState(5).randn(2, G.z_dim)
    path = tmp_path / "z.npz"
    np.savez(path, z=z)
    kf = keyframes_from_file(str(path))[1]
    resolved = resolve_keyframe(kf, G)
    expected = G.mapping(torch.from_numpy(z[1:2]).float(), None)[0]
    assert resolved.z is not None and torch.allclose(resolved.ws, expected, atol=1e-6)
    # A z file can take part in a slerp walk, a W file cannot.
    LatentWalker(G, WalkSettings(keyframes=(kf, Keyframe(seed=1)), interpolation="slerp"))


def test_slerp_refuses_w_keyframes(default_generator, tmp_path):
    path = tmp_path / "w.npy"
    np.save(path, np.zeros((1, default_generator.w_dim), np.float32))
    with pytest.raises(ValueError, match="slerp walks in Z"):
        LatentWalker(default_generator, WalkSettings(keyframes=(Keyframe(path=str(path)), Keyframe(seed=1)),
                                                      interpolation="slerp"))


@pytest.mark.parametrize("content,match", [
    (np.zeros((1, 3, 5), np.float32), "shape"),
    (np.zeros((2, 7), np.float32), "w_dim"),
    (np.array([np.nan] * 128, np.float32), "NaN"),
    (np.array(["a", "b"]), "float array"),
])
def test_bad_latent_files(default_generator, tmp_path, content, match):
    path = tmp_path / "bad.npy"
    np.save(path, content)
    with pytest.raises(LatentFileError, match=match):
        resolve_keyframe(Keyframe(path=str(path)), default_generator)


def test_pickled_npy_is_refused(tmp_path):
    path = tmp_path / "obj.npy"
    np.save(path, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(LatentFileError, match="obj.npy"):
        keyframes_from_file(str(path))


def test_npz_without_latents(tmp_path):
    path = tmp_path / "x.npz"
    np.savez(path, other=np.zeros(3))
    with pytest.raises(LatentFileError, match="'w', 'ws' or 'z'"):
        keyframes_from_file(str(path))


def test_class_labels_for_conditional_models():
    G = Generator(GeneratorConfig(z_dim=8, c_dim=3, w_dim=8, img_resolution=8, img_channels=3,
                                  channel_base=64, channel_max=8))
    a = resolve_keyframe(Keyframe(seed=1, class_index=0), G)
    b = resolve_keyframe(Keyframe(seed=1, class_index=2), G)
    assert a.c is not None and a.c.tolist() == [1.0, 0.0, 0.0] and not torch.equal(a.ws, b.ws)
    with pytest.raises(ValueError, match="give a class"):
        resolve_keyframe(Keyframe(seed=1), G)
    with pytest.raises(ValueError, match=r"class must be in \[0, 3\)"):
        resolve_keyframe(Keyframe(seed=1, class_index=3), G)


def test_class_on_unconditional_model(default_generator):
    with pytest.raises(ValueError, match="unconditional"):
        resolve_keyframe(Keyframe(seed=1, class_index=0), default_generator)
