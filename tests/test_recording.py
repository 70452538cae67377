"""Recordings: written line by line and bounded; read back as untrusted input with one-line errors."""

from __future__ import annotations

import json

import pytest

from engine.inputs import InputEvent
from engine.recording import Recorder, RecordingError, read_recording


def record(path, max_bytes: int = 1 << 20) -> Recorder:
    recorder = Recorder(str(path), model="default", settings={"fps": 30, "size": [640, 360]}, max_bytes=max_bytes)
    recorder.show(0.0, "shows/demo.yaml", "format: 1\ncues: []\n")
    recorder.event(1.5, InputEvent(1.4, "osc", "set", "vignette.amount", 0.5))
    recorder.event(2.0, InputEvent(2.0, "keyboard", "command", "go"))
    recorder.shader(3.0, "vignette", "// a new vignette\n")
    return recorder


def test_a_recording_round_trips(tmp_path):
    path = tmp_path / "set.jsonl"
    recorder = record(path)
    recorder.close(10.0)
    rec = read_recording(str(path))
    assert rec.model == "default" and rec.model_sha256 is None and rec.settings["fps"] == 30
    assert [(t, e.kind, e.key) for t, e in rec.events] == [(1.5, "set", "vignette.amount"), (2.0, "command", "go")]
    assert rec.events[0][1].time == 1.5            # events carry the engine time they were applied at
    assert rec.shows[0][1:] == ("shows/demo.yaml", "format: 1\ncues: []\n") and rec.shaders[0][1] == "vignette"
    assert rec.length == 10.0 and not rec.truncated


def test_a_crash_loses_at_most_the_line_being_written(tmp_path):
    path = tmp_path / "set.jsonl"
    record(path)                                    # never closed
    with open(path, "a") as f:
        f.write('{"t": 4.0, "event": {"source": "osc", "ki')     # the half-written last line
    rec = read_recording(str(path))
    assert len(rec.events) == 2 and rec.length == 3.0


def test_the_size_bound_ends_the_recording_with_a_line_that_says_so(tmp_path):
    path = tmp_path / "set.jsonl"
    recorder = record(path, max_bytes=600)
    for i in range(100):
        recorder.event(4.0 + i, InputEvent(4.0 + i, "osc", "set", "vignette.amount", 0.5))
    recorder.close(200.0)
    rec = read_recording(str(path))
    assert rec.truncated and path.stat().st_size < 1000


@pytest.mark.parametrize("line,words", [
    ("not json", "not a JSON line"),
    ('{"t": 1e999, "end": true}', "engine time"),
    ('{"t": 0.5, "shader": {"name": "x", "text": ""}}', "goes back"),
    ('{"t": 5, "event": {"source": "osc", "kind": "exec", "key": "rm"}}', "event kind"),
    ('{"t": 5, "event": {"source": "osc", "kind": "set", "key": "x.y", "value": [1, 2]}}', "value"),
    ('{"t": 5, "show": {"path": 1}}', "texts"),
    ('{"t": 5, "mystery": 1}', "expected an event"),
    ("[" * 100_000 + "\n", "not a JSON line"),
    ('{"t": 2, "sources": {"from": "audio", "values": {"Audio RMS": 0.5}}}', "source is named like"),
    ('{"t": 2, "sources": {"from": "audio", "values": {"audio.rms": "x"}}}', "finite number"),
    ('{"t": 2, "sources": {"values": {}}}', "a sources line needs"),
    ('{"t": 2, "sources": {"from": "a", "values": {%s}}}' % ", ".join(f'"a.k{i}": 1' for i in range(600)),
     "at most 512"),
], ids=["garbage", "inf-time", "backwards", "bad-kind", "bad-value", "bad-show", "unknown", "deep", "bad-source",
        "bad-reading", "no-origin", "too-many-readings"])
def test_hostile_lines_give_one_line_with_the_line_number(tmp_path, line, words):
    path = tmp_path / "set.jsonl"
    record(path).close(3.0)
    lines = path.read_text().splitlines()
    lines.insert(3, line)                          # after the header, the show and the first event (t = 1.5)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(RecordingError, match=words) as err:
        read_recording(str(path))
    assert f"{path}:4:" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("header,words", [
    ({"format": "other"}, "not a Latent Stage recording"),
    ({"format": "latentstage-recording", "version": 99}, "version"),
    ({"format": "latentstage-recording", "version": 1, "model": 3, "settings": {}, "started": ""}, "header"),
])
def test_bad_headers(tmp_path, header, words):
    path = tmp_path / "set.jsonl"
    path.write_text(json.dumps(header) + "\n")
    with pytest.raises(RecordingError, match=words):
        read_recording(str(path))


def test_readings_are_one_line_per_frame_and_input_and_read_back_as_events(tmp_path):
    path = tmp_path / "set.jsonl"
    recorder = record(path)
    recorder.sources(3.5, "audio", {"audio.rms": 0.25, "audio.band.bass": 1.0})
    recorder.close(4.0)
    rec = read_recording(str(path))
    readings = [(t, e.source, e.kind, e.key, e.value) for t, e in rec.events if e.kind == "source"]
    assert readings == [(3.5, "audio", "source", "audio.rms", 0.25), (3.5, "audio", "source", "audio.band.bass", 1.0)]
    assert sum(1 for line in path.read_text().splitlines() if '"sources"' in line) == 1
