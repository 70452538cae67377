"""Offline renders: real H.264 files read back with OpenCV, PNG sequences, and repeatability."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from engine.generate import FrameSynthesizer
from engine.latent import Keyframe, LatentWalker, WalkSettings
from engine.render import RenderSettings, render_walk
from engine.video import OutputError, fit_frame, open_sink
from tests.media import read_video


@pytest.fixture(scope="module")
def walker(default_generator):
    return LatentWalker(default_generator, WalkSettings(keyframes=(Keyframe(seed=1), Keyframe(seed=2)),
                                                        seconds_per_keyframe=0.5))


def test_mp4_has_the_right_frames_and_size(walker, default_generator, tmp_path):
    path = tmp_path / "walk.mp4"
    stats = render_walk(walker, str(path),
                        RenderSettings(fps=24, duration=1.0, size=(320, 180)))
    assert stats.frames == 24
    frames = read_video(path)
    assert len(frames) == 24 and frames[0].shape == (180, 320, 3)
    cap = cv2.VideoCapture(str(path))
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(24)
    fourcc = int(cap.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little").decode()
    assert fourcc in ("avc1", "h264", "H264")
    assert frames[0].std() > 5 and not np.array_equal(frames[0], frames[12])  # a picture that moves


def test_default_length_is_one_pass_of_the_walk(walker, default_generator, tmp_path):
    stats = render_walk(walker, str(tmp_path / "f"), RenderSettings(fps=10))
    assert stats.frames == 10  # two keyframes, looped: 2 × 0.5 s at 10 fps
    assert len(list((tmp_path / "f").glob("*.png"))) == 10


def test_same_settings_render_the_same_frames(walker, default_generator, tmp_path):
    settings = RenderSettings(fps=12, frames=6)
    for name in ("a", "b"):
        render_walk(walker, str(tmp_path / name / "%03d.png"), settings)
    for i in range(6):
        a = cv2.imread(str(tmp_path / "a" / f"{i:03d}.png"))
        b = cv2.imread(str(tmp_path / "b" / f"{i:03d}.png"))
        assert a is not None and np.array_equal(a, b)


def test_random_noise_is_repeatable_too(default_generator, tmp_path):
    w = LatentWalker(default_generator, WalkSettings(keyframes=(Keyframe(seed=1),), noise_mode="random"))
    synth = FrameSynthesizer(default_generator)
    assert np.array_equal(synth.render(w.frame_at(0.5)), synth.render(w.frame_at(0.5)))
    assert not np.array_equal(synth.render(w.frame_at(0.5)), synth.render(w.frame_at(0.6)))


@pytest.mark.parametrize("mode", ["fill", "fit", "stretch"])
def test_fit_modes(mode):
    frame = np.full((100, 100, 3), 200, np.uint8)
    out = fit_frame(frame, (160, 90), mode)
    assert out.shape == (90, 160, 3)
    if mode == "fit":
        assert out[:, :20].max() == 0 and out[:, 40:120].min() > 150  # letterboxed left and right
    else:
        assert out.min() > 150


def test_writer_errors_surface(walker, default_generator, tmp_path):
    with pytest.raises(OutputError, match="unknown output type"):
        open_sink(str(tmp_path / "x.avi"), 30, (64, 64))
    with pytest.raises(OutputError, match="even width"):
        open_sink(str(tmp_path / "x.mp4"), 30, (65, 64))
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(OutputError, match="cannot write"):
        open_sink(str(blocker / "x.mp4"), 30, (64, 64))
