"""Shows end to end: hot reload during a headless run, repeatable offline renders, the command line."""

from __future__ import annotations

import os
import time
import subprocess
import sys

import cv2
import numpy as np

from engine.generate import FrameSynthesizer
from engine.live import LiveEngine, ShowWatcher, engine_params
from engine.gl.outputs import HeadlessOutput, OutputSpec
from engine.render import RenderSettings
from engine.show import ShowRunner, load_show
from engine.show.render import render_show
from engine.worker import GeneratorWorker
from tests.conftest import ROOT
from tests.media import read_video

SHOW = """format: 1
walk: {seeds: [1, 2], seconds_per_keyframe: 1}
parameters: {initial: {vignette.amount: 0.5}}
cues:
  - id: a
    actions: [{fade: {param: vignette.amount, to: 1.0, time: 0.5}}]
    continue: auto-continue
    post_wait: 1
  - id: b
    actions: [{fade: {param: crossfade.amount, to: 0.5, time: 0.5}}]
"""


def frames_until(engine, condition, limit: int = 2000) -> int:
    """Run display frames until ``condition()`` holds (a reload lands on a frame of its own); how many ran."""
    for count in range(1, limit + 1):
        engine.frame()
        if condition():
            return count
        time.sleep(0.005)
    raise AssertionError("the condition never came true")


def test_hot_reload_of_a_valid_and_an_invalid_show_during_a_headless_run(gl, default_generator, tmp_path):
    path = tmp_path / "show.yaml"
    path.write_text(SHOW)
    params = engine_params()
    output = HeadlessOutput(gl, str(ROOT / "shaders"), params, OutputSpec(size=(160, 90)))
    runner = ShowRunner(load_show(str(path)), default_generator, params)
    watcher = ShowWatcher(str(path), load_show, runner.apply)
    engine = LiveEngine(runner, GeneratorWorker(FrameSynthesizer(default_generator)), [output], params,
                        runner=runner, show_watcher=watcher, shader_poll_seconds=0.0)
    engine.worker.start()
    try:
        engine.handle_key("go")
        for _ in range(5):
            engine.frame()
        frames_before = engine.stats.display_frames
        # A valid edit: cue b renamed and a cue c added. Validated off the display thread, applied between
        # two frames; the show goes on meanwhile.
        path.write_text(SHOW.replace("id: b", "id: b2") + "  - id: c\n    actions: [{set: {gen.psi: 0.3}}]\n")
        os.utime(path, (1e9, 1e9))
        frames = frames_until(engine, lambda: any("reloaded" in m for m in engine.messages))
        assert [c.id for c in runner.show.cues] == ["a", "b2", "c"]
        # An invalid edit: reported, the running show stays as it was.
        path.write_text(SHOW.replace("to: 1.0", "to: 7.0"))
        os.utime(path, (2e9, 2e9))
        frames += frames_until(engine, lambda: any("not reloaded" in m for m in engine.messages))
        assert [c.id for c in runner.show.cues] == ["a", "b2", "c"]
        assert any("not reloaded" in m and "E005" in m for m in engine.messages)
        assert engine.stats.display_frames == frames_before + frames   # no frame was dropped
    finally:
        engine.close()


def test_a_show_renders_the_same_twice_and_plays_its_cues(default_generator, tmp_path):
    show = load_show(str(ROOT / "shows" / "demo.yaml"))
    settings = RenderSettings(fps=8, duration=5.0, size=(160, 96))
    for name in ("a", "b"):
        render_show(show, default_generator, str(tmp_path / name / "%03d.png"), settings)
    names = sorted(os.listdir(tmp_path / "a"))
    assert len(names) == 40
    for n in names:
        assert np.array_equal(cv2.imread(str(tmp_path / "a" / n)), cv2.imread(str(tmp_path / "b" / n))), n
    first = cv2.imread(str(tmp_path / "a" / names[0]))
    later = cv2.imread(str(tmp_path / "a" / names[-1]))
    assert first.max() < 10 and later.mean() > 40   # cue 1 fades up from black


def test_go_at_times_drive_manual_cues(default_generator, tmp_path):
    path = tmp_path / "manual.yaml"
    path.write_text("format: 1\nparameters: {initial: {crossfade.amount: 1.0}}\ncues:\n"
                    "  - id: up\n    actions: [{set: {crossfade.amount: 0.0}}]\n")
    show = load_show(str(path))
    settings = RenderSettings(fps=4, duration=2.0, size=(64, 64))
    render_show(show, default_generator, str(tmp_path / "f" / "%02d.png"), settings, go_at=[1.0])
    means = [cv2.imread(str(tmp_path / "f" / f"{i:02d}.png")).mean() for i in range(8)]
    assert max(means[:4]) < 3 and min(means[4:]) > 30


def launch(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "launch.py"), *args], capture_output=True, text=True,
                          timeout=180, cwd=ROOT)


def test_cli_renders_a_show(tmp_path):
    out = tmp_path / "show.mp4"
    result = launch(str(ROOT / "shows" / "demo.yaml"), "--render", str(out), "--fps", "6", "--duration", "3",
                    "--size", "160x96", "--quiet")
    assert result.returncode == 0, result.stderr
    assert len(read_video(out)) == 18


def test_cli_reports_every_show_error_with_its_position(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("format: 1\ncues:\n  - id: a\n    pre_wait: -2\n  - id: a\n    continue: sometimes\n")
    result = launch(str(bad), "--headless", "--duration", "1")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 3
    assert f"{bad}:4:15: E006" in result.stderr and f"{bad}:5:5: E002" in result.stderr
    assert f"{bad}:6:15: E016" in result.stderr


def test_cli_runs_a_show_headless():
    result = launch(str(ROOT / "shows" / "demo.yaml"), "--headless", "--duration", "2", "--size", "320x180")
    assert result.returncode == 0, result.stderr
