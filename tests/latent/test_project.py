"""Projection (engine/latent/project.py): an image made from a known W on the official fixture model comes
back as a W whose image matches it, saved as the official projector saves it, and usable as a keyframe."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from engine.latent.files import read_latents
from engine.latent.project import laplacian_pyramid_l1, prepare_target, project
from engine.models import load_generator
from tests.test_launch import launch


@pytest.fixture(scope="module")
def tiny(tiny_pkl):
    return load_generator(str(tiny_pkl), device="cpu", precision="fp32")


def picture_of(G, seed: int) -> np.ndarray:
    with torch.no_grad():
        w = G.mapping(torch.from_numpy(np.random.RandomState(seed).randn(1, G.z_dim)).float(), None,
                      truncation_psi=0.7)
        return G.synthesis(w).clamp(-1, 1).add(1).mul(127.5).round().to(torch.uint8)[0].permute(1, 2, 0).numpy()


def test_an_image_from_a_known_w_is_found_again(tiny):
    target = picture_of(tiny, 7)
    result = project(tiny, target, steps=600)
    assert result.psnr >= 30.0, result.psnr
    assert result.w.shape == (1, tiny.num_ws, tiny.w_dim) and np.isfinite(result.w).all()
    assert np.allclose(result.w[0, 0], result.w[0, -1])                      # space w: one W for every layer
    assert np.abs(result.image.astype(int) - target.astype(int)).mean() < 3.0
    plus = project(tiny, target, steps=200, space="w+")
    assert not np.allclose(plus.w[0, 0], plus.w[0, -1])


def test_the_target_is_cropped_and_resized_and_the_pyramid_loss_sees_structure():
    wide = np.zeros((40, 80, 3), np.uint8)
    wide[:, 20:60] = 255                                                     # the centre square is white
    goal = prepare_target(wide, 16)
    assert goal.shape == (1, 3, 16, 16) and float(goal.min()) > 0.99
    a = torch.zeros(1, 3, 32, 32)
    b = a.clone()
    b[..., ::2, :] = 1.0                                                     # fine stripes
    assert float(laplacian_pyramid_l1(a, b)) > 0.3 and float(laplacian_pyramid_l1(a, a)) == 0.0
    with pytest.raises(ValueError, match="RGB image"):
        prepare_target(np.zeros((8, 8), np.float32), 16)


def test_projecting_from_the_command_line_writes_a_keyframe_and_a_progress_video(tiny, tiny_pkl, tmp_path):
    image = tmp_path / "art.png"
    cv2.imwrite(str(image), cv2.resize(picture_of(tiny, 3), (96, 64))[..., ::-1])
    out = tmp_path / "art_w.npz"
    result = launch("--model", str(tiny_pkl), "--project", str(image), "--out", str(out), "--steps", "60", "--quiet")
    assert result.returncode == 0 and "PSNR" in result.stderr, result.stderr
    latents = read_latents(str(out))
    assert latents.array.shape == (1, tiny.num_ws, tiny.w_dim) and latents.space == "w"
    video = cv2.VideoCapture(str(tmp_path / "art_w_progress.mp4"))
    ok, frame = video.read()
    assert ok and frame.shape[1] == 2 * frame.shape[0]                       # the target beside the projection
    (tmp_path / "text.png").write_text("not an image")
    bad = launch("--model", str(tiny_pkl), "--project", str(tmp_path / "text.png"), "--out", str(out), "--quiet")
    assert bad.returncode == 1 and "not an image OpenCV can read" in bad.stderr
    missing = launch("--model", str(tiny_pkl), "--project", str(image), "--quiet")
    assert missing.returncode == 1 and "--project needs --out" in missing.stderr


def test_projection_works_after_frames_made_in_inference_mode(tiny):
    target = picture_of(tiny, 5)
    with torch.inference_mode():                                             # as the live engine draws frames
        tiny.synthesis(tiny.mapping(torch.zeros(1, tiny.z_dim), None))
    result = project(tiny, target, steps=20)
    assert np.isfinite(result.w).all() and result.steps == 20
