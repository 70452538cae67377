"""The camera through the engine: the show's inputs: camera:, a render with a camera file (repeatable, the
layer composited, the features moving parameters), the pix2pix model as the layer, and a live headless run."""

from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np
import pytest

from engine.show import ShowLoadError, load_show
from tests.conftest import FIXTURES, ROOT
from tests.controllers.test_camera import pattern, write_video

SHOW = """format: 1
name: camera test
model: default
autostart: true
chain: [camera_layer]
walk: {seeds: 0-3, seconds_per_keyframe: 30}
parameters: {initial: {walk.speed: 0.0, camera_layer.amount: 1.0, camera_layer.fill: 1.0}}
inputs:
  camera:
    source: visitor.mp4
    preprocess: {size: 64, mirror: false}
%s
cues:
  - {id: a, actions: [{fade: {param: crossfade.amount, to: 0, time: 0}}]}
"""


def launch(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "launch.py"), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def rendered(folder, count: int) -> list[np.ndarray]:
    return [cv2.imread(str(folder / f"{i:03d}.png")).astype(np.int16) for i in range(count)]


def test_a_render_with_a_camera_file_shows_it_and_repeats_frame_for_frame(tmp_path):
    write_video(str(tmp_path / "visitor.mp4"), [pattern(i) for i in range(25)], fps=25)
    show = tmp_path / "show.yaml"
    show.write_text(SHOW % "", encoding="utf-8")
    outs = []
    for name in ("a", "b"):
        done = launch(str(show), "--render", str(tmp_path / name / "%03d.png"), "--size", "64x64", "--fps", "25",
                      "--duration", "1.6", "--quiet", "--precision", "fp32", "--threads", "2")
        assert done.returncode == 0, done.stderr[-2000:]
        outs.append(rendered(tmp_path / name, 40))
    assert all(np.array_equal(x, y) for x, y in zip(*outs))                      # repeatable
    frames = outs[0]
    # The layer fades in over its first second; then it is the camera (amount 1, fill): the square moves right
    # from frame to frame, as in the file (frame 25 is the file's first again: it loops).
    bright = [np.flatnonzero(f[32].mean(axis=1) > 200) for f in frames[26:31]]
    assert all(len(b) > 0 for b in bright) and bright[0].mean() < bright[4].mean()
    assert np.abs(frames[26] - frames[1]).mean() > 5                             # faded in since


def test_camera_motion_moves_a_parameter_in_a_render(tmp_path):
    moving = [pattern(i, counting=False) for i in range(25)]
    still = [pattern(0, moving=False, counting=False)] * 25
    results = {}
    for name, frames in (("moving", moving), ("still", still)):
        folder = tmp_path / name
        folder.mkdir()
        write_video(str(folder / "visitor.mp4"), frames, fps=25)
        show = folder / "show.yaml"
        modulation = "  modulate:\n    - {source: camera.motion, param: walk.speed, amount: 0.5, fade: 0}\n"
        show.write_text((SHOW % modulation).replace("camera_layer.amount: 1.0", "camera_layer.amount: 0.0"),
                        encoding="utf-8")
        done = launch(str(show), "--render", str(folder / "out" / "%03d.png"), "--size", "32x32", "--fps", "25",
                      "--duration", "1", "--quiet")
        assert done.returncode == 0, done.stderr[-2000:]
        out = rendered(folder / "out", 25)
        results[name] = max(np.abs(b - a).mean() for a, b in zip(out[5:], out[6:]))
    assert results["still"] == 0 and results["moving"] > 0.1               # motion drives the walk


def test_the_pix2pix_model_is_the_layer(tmp_path):
    write_video(str(tmp_path / "visitor.mp4"), [pattern(i) for i in range(10)], fps=25)
    folders = {}
    for name, extra in (("plain", ""), ("model", f"    model: {FIXTURES / 'pix2pix' / 'unet256_batch_ngf8.pth'}\n"
                                                  "    model_fps: 25\n")):
        show = tmp_path / f"{name}.yaml"
        show.write_text((SHOW % extra).replace("size: 64, mirror", "size: 256, mirror"), encoding="utf-8")
        folders[name] = tmp_path / name
        done = launch(str(show), "--render", str(folders[name] / "%03d.png"), "--size", "64x64", "--fps", "25",
                      "--frames", "28", "--quiet")
        assert done.returncode == 0, done.stderr[-2000:]
    plain, model = rendered(folders["plain"], 28), rendered(folders["model"], 28)
    assert np.abs(plain[27] - model[27]).mean() > 10                             # the model reinterprets it


def test_the_camera_section_is_validated_where_it_is(tmp_path):
    show = tmp_path / "show.yaml"
    show.write_text(SHOW.replace("source: visitor.mp4", "source: notes.txt").replace(
        "preprocess: {size: 64, mirror: false}", "preprocess: {size: 8, edges: [9, 3]}\n    model: cats.onnx\n"
        "    smoothing: 2") % "", encoding="utf-8")
    with pytest.raises(ShowLoadError) as err:
        load_show(str(show))
    text = "\n".join(str(e) for e in err.value.errors)
    for words in ("inputs.camera.source", "inputs.camera.preprocess", "inputs.camera.model", "inputs.camera.smoothing"):
        assert words in text, (words, text)
    assert all(":" in str(e).split(" ")[0] for e in err.value.errors)


def test_a_render_refuses_a_live_camera_in_one_line(tmp_path):
    show = tmp_path / "show.yaml"
    show.write_text(SHOW.replace("source: visitor.mp4", "source: 0") % "", encoding="utf-8")
    done = launch(str(show), "--render", str(tmp_path / "x.mp4"), "--frames", "2", "--quiet")
    assert done.returncode == 1 and "a render reads the camera from a video file" in done.stderr


def test_live_headless_with_a_camera_file(tmp_path):
    write_video(str(tmp_path / "visitor.mp4"), [pattern(i) for i in range(25)], fps=25)
    show = tmp_path / "show.yaml"
    show.write_text(SHOW % "", encoding="utf-8")
    done = launch(str(show), "--headless", "--size", "64x64", "--duration", "3", "--hud")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "display frames" in done.stderr
    assert not [line for line in done.stderr.splitlines() if "WARNING" in line and "camera" in line.lower()]


def test_camera_and_model_from_the_command_line_without_a_show(tmp_path):
    """--camera alone puts the camera layer into the default chain, visibly; --camera-model reinterprets it."""
    video = write_video(str(tmp_path / "visitor.mp4"), [pattern(i) for i in range(10)], fps=25)
    model = str(FIXTURES / "pix2pix" / "unet256_batch_ngf8.pth")
    runs = {"walk": (), "camera": ("--camera", video), "model": ("--camera", video, "--camera-model", model)}
    out = {}
    for name, extra in runs.items():
        done = launch("--render", str(tmp_path / name / "%03d.png"), "--size", "48x48", "--fps", "25",
                      "--frames", "30", "--quiet", *extra)
        assert done.returncode == 0, done.stderr[-2000:]
        out[name] = rendered(tmp_path / name, 30)
    assert np.array_equal(out["walk"][0], out["camera"][0])                   # the layer fades in from nothing
    assert np.abs(out["walk"][29] - out["camera"][29]).mean() > 10             # ... and is there after a second
    assert np.abs(out["camera"][29] - out["model"][29]).mean() > 5             # the model's picture, not the camera
    done = launch("--camera", video, "--camera-model", str(tmp_path / "nothing.pth"), "--render",
                  str(tmp_path / "x.mp4"), "--frames", "2")
    assert done.returncode == 2 and "nothing.pth: no such checkpoint file" in done.stderr
    done = launch("--camera-model", model, "--render", str(tmp_path / "x.mp4"), "--frames", "2")
    assert done.returncode == 1 and "--camera-model: no camera to run it on" in done.stderr


def test_the_example_show_paints_with_its_shipped_model(tmp_path):
    """shows/camera.yaml names pixels2ink (tools/make_camera_model.py): an ordinary *_net_G.pth whose options
    are all read from the file; the show renders with it from a camera file, and its layer is the model's
    painting, not the pixelated camera."""
    from engine.models.pix2pix import load_pix2pix
    example = ROOT / "shows" / "camera.yaml"
    model = load_show(str(example)).inputs["camera"]["model"]
    assert model.endswith("pixels2ink_net_G.pth")
    config = load_pix2pix(model).config
    assert (config.net, config.ngf, config.norm, config.input_nc, config.output_nc) == ("unet_256", 8, "batch", 3, 3)
    video = write_video(str(tmp_path / "visitor.mp4"), [pattern(i) for i in range(10)], fps=25)
    text = example.read_text(encoding="utf-8").replace("models/pixels2ink_net_G.pth", model)
    without = "\n".join(line for line in text.splitlines()                  # the camera's model lines out
                         if not line.startswith(("    model:", "    model_options:")))
    runs = {}
    for name, show_text in (("ink", text), ("plain", without)):
        show = tmp_path / f"{name}.yaml"
        show.write_text(show_text, encoding="utf-8")
        done = launch(str(show), "--camera", video, "--render", str(tmp_path / name / "%03d.png"), "--size", "64x64",
                      "--fps", "25", "--frames", "30", "--quiet")
        assert done.returncode == 0, done.stderr[-2000:]
        runs[name] = rendered(tmp_path / name, 30)
    assert np.abs(runs["ink"][29] - runs["plain"][29]).mean() > 2
