"""Record a live performance, replay it offline: the same events at the same engine times, identical renders,
the recorded show texts (reloads included), and a model that changed is refused."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

from engine.inputs import InputEvent
from engine.recording import read_recording
from engine.render import RenderSettings
from engine.session import Session, SessionConfig, SessionError
from tests.conftest import ROOT

SHOW = """format: 1
walk: {seeds: [1, 2], seconds_per_keyframe: 2}
chain: [vignette, crossfade]
cues:
  - id: dark
    actions: [{fade: {param: crossfade.amount, to: 1.0, time: 0.2}}]
"""


def perform(tmp_path) -> str:
    """A short headless performance, driven by scripted events: GO at frame 10, a fader at frame 20, and an
    edit of the show file saved in between (a reload)."""
    show, record = tmp_path / "show.yaml", tmp_path / "set.jsonl"
    show.write_text(SHOW)
    config = SessionConfig(show=str(show), headless=True, size=(96, 64), max_fps=30, record=str(record))
    session = Session(config).load()
    engine = session.open_live()
    engine.worker.start()
    try:
        for frame in range(45):
            if frame == 10:
                engine.post(InputEvent(engine.clock.now(), "keyboard", "command", "go"))
            if frame == 20:
                engine.post(InputEvent(engine.clock.now(), "osc", "set", "vignette.amount", 0.9))
            if frame == 25:
                show.write_text(SHOW.replace("id: dark", "id: dim").replace("to: 1.0", "to: 0.5"))
                os.utime(show, (1e9, 1e9))
            engine.frame()
            time.sleep(0.02)
        deadline = time.monotonic() + 30
        while engine.runner.show.cues[0].id != "dim" and time.monotonic() < deadline:
            engine.frame()
            time.sleep(0.02)
    finally:
        engine.close()
    return str(record)


def replay(recording: str, out) -> list[np.ndarray]:
    rec = read_recording(recording)
    session = Session(SessionConfig(headless=True))
    session.render(str(out / "%03d.png"), RenderSettings(fps=10, duration=rec.length, size=(64, 64)),
                   replay=session.load_replay(rec))
    return [cv2.imread(str(out / name)) for name in sorted(os.listdir(out))]


def test_a_performance_replays_frame_exact_and_identically_twice(tmp_path):
    recording = perform(tmp_path)
    rec = read_recording(recording)
    kinds = [(e.kind, e.key) for _, e in rec.events]
    assert ("command", "go") in kinds and ("set", "vignette.amount") in kinds
    assert len(rec.shows) == 2 and "dim" in rec.shows[1][2]          # the reload was recorded, with its text
    go_at = next(t for t, e in rec.events if e.key == "go")
    first, second = replay(recording, tmp_path / "a"), replay(recording, tmp_path / "b")
    assert len(first) == len(second) > 10
    assert all(np.array_equal(a, b) for a, b in zip(first, second))
    go_frame = int(np.ceil(go_at * 10 - 1e-9))
    assert first[go_frame - 1].mean() > 20                            # still showing the walk before the GO
    assert first[min(go_frame + 3, len(first) - 1)].max() < 10        # faded to black 0.2 s after it


def test_a_changed_model_file_is_refused_unless_named(tmp_path, default_generator):
    from engine.models import save_generator
    model = tmp_path / "model.safetensors"
    save_generator(default_generator, model)
    show = tmp_path / "show.yaml"
    show.write_text(SHOW.replace("format: 1", f"format: 1\nmodel: {model}"))
    record = tmp_path / "set.jsonl"
    session = Session(SessionConfig(show=str(show), headless=True, size=(64, 64), record=str(record))).load()
    engine = session.open_live()
    engine.frame()
    engine.close()
    model.write_bytes(model.read_bytes()[:-4] + b"\x00\x00\x00\x00")
    with pytest.raises(SessionError, match="changed since the recording"):
        Session(SessionConfig(headless=True)).load_replay(read_recording(str(record)))
    model.unlink()
    with pytest.raises(SessionError, match="is missing"):
        Session(SessionConfig(headless=True)).load_replay(read_recording(str(record)))


def test_record_and_replay_from_the_command_line(tmp_path):
    show, record, out = tmp_path / "show.yaml", tmp_path / "set.jsonl", tmp_path / "out"
    show.write_text(SHOW.replace("walk:", "autostart: true\nwalk:"))
    launch = [sys.executable, str(ROOT / "launch.py")]
    done = subprocess.run(launch + [str(show), "--headless", "--size", "96x64", "--duration", "1.5",
                                    "--record", str(record)], capture_output=True, text=True, timeout=180, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    done = subprocess.run(launch + ["--replay", str(record), "--render", str(out / "%03d.png"), "--size", "48x32",
                                    "--fps", "10", "--quiet"], capture_output=True, text=True, timeout=180, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    frames = sorted(out.iterdir())
    assert 10 <= len(frames) <= 20 and cv2.imread(str(frames[0])).shape == (32, 48, 3)
    lines = record.read_text().splitlines()
    lines.insert(len(lines) - 1, '{"t": 1.4, "event": {"source": "osc", "kind": "exec", "key": "rm -rf"}}')
    broken = tmp_path / "broken.jsonl"
    broken.write_text("\n".join(lines) + "\n")
    done = subprocess.run(launch + ["--replay", str(broken), "--render", str(out / "%03d.png")],
                          capture_output=True, text=True, timeout=180, cwd=ROOT)
    errors = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 1 and len(errors) == 1 and f"broken.jsonl:{len(lines) - 1}:" in errors[0]


RED = """// Vignette, as an artist might rewrite it mid-show: everything red.
uniform float amount;    // default 0.0, range 0.0 .. 1.0
uniform sampler2D u_image;
in vec2 uv;
out vec4 fragColor;
void main() { fragColor = vec4(max(amount, texture(u_image, uv).r), 0.0, 0.0, 1.0); }
"""


def test_shaders_replay_as_they_were_performed_even_after_the_folder_changed(tmp_path):
    """The effect sources at the start and each reload are recorded; the replay draws with them, not with
    whatever the folder holds by then (here a green rewrite saved after the performance)."""
    import shutil
    folder, show, record = tmp_path / "shaders", tmp_path / "show.yaml", tmp_path / "set.jsonl"
    shutil.copytree(ROOT / "shaders", folder)
    show.write_text(SHOW)
    config = SessionConfig(show=str(show), headless=True, size=(64, 64), max_fps=30, record=str(record),
                           shaders=str(folder), generator="thread")
    engine = Session(config).load().open_live()
    engine.worker.start()
    engine.shader_poll_seconds = 0.05
    try:
        engine.post(InputEvent(engine.clock.now(), "osc", "set", "vignette.amount", 0.5))
        for _ in range(10):
            engine.frame()
            time.sleep(0.02)
        (folder / "vignette.glsl").write_text(RED)
        os.utime(folder / "vignette.glsl", (2e9, 2e9))
        deadline = time.monotonic() + 60
        while "everything red" not in record.read_text() and time.monotonic() < deadline:
            engine.frame()
            time.sleep(0.02)
        for _ in range(10):
            engine.frame()
            time.sleep(0.02)
    finally:
        engine.close()
    rec = read_recording(str(record))
    names = [name for t, name, _ in rec.shaders if t == 0.0]
    assert {"vignette", "crossfade", "blend", "hud"} <= set(names)     # what ran at the start
    (reload_time, name, text), = [s for s in rec.shaders if s[0] > 0]
    assert name == "vignette" and "everything red" in text
    (folder / "vignette.glsl").write_text(RED.replace("vec4(max(amount, texture(u_image, uv).r), 0.0, 0.0",
                                                      "vec4(0.0, 1.0, 0.0"))
    session = Session(SessionConfig(headless=True, shaders=str(folder)))
    out = tmp_path / "replay"
    session.render(str(out / "%03d.png"), RenderSettings(fps=10, duration=rec.length, size=(32, 32)),
                   replay=session.load_replay(rec))
    frames = [cv2.imread(str(out / n)).astype(int) for n in sorted(os.listdir(out))]   # BGR
    before = int(np.ceil(reload_time * 10 - 1e-9))          # frames at or before the reload's frame time
    assert before >= 3 and all(f[..., :2].mean() > 50 for f in frames[:before])       # the walk, not red
    assert frames[-1][..., 2].mean() > 120 and frames[-1][..., :2].max() < 5          # red after the reload
    assert all(f[..., 1].mean() < 200 for f in frames)                                # never the green file


def test_a_recorded_shader_name_cannot_leave_its_folder(tmp_path):
    from engine.recording import Recorder, RecordingError
    path = tmp_path / "set.jsonl"
    recorder = Recorder(str(path), model="default", settings={})
    recorder.shader(0.0, "../../etc/evil", "void main() {}")
    recorder.close(1.0)
    with pytest.raises(RecordingError, match=r"set.jsonl:2: '../../etc/evil' is not an effect name"):
        read_recording(str(path))


def test_a_recorded_chain_must_be_effect_names(tmp_path):
    from engine.recording import Recorder
    path = tmp_path / "set.jsonl"
    recorder = Recorder(str(path), model="default", settings={"chain": ["vignette", "../../../etc/passwd"]})
    recorder.close(1.0)
    with pytest.raises(SessionError, match="recorded chain is not a list of at most 16 effect names"):
        Session(SessionConfig(headless=True)).load_replay(read_recording(str(path)))
