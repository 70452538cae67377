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
