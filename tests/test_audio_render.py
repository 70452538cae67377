"""Offline renders with sound: the features on the video's clock, the gestures moving the picture, an AAC track
of the right length (read back with PyAV), and --features CSV/PNG from the command line."""

from __future__ import annotations

import csv
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from tests.conftest import ROOT
from tests.controllers.audio_signals import click_track, tone, write_wav

SHOW = """format: 1
name: audio test
model: default
autostart: true
walk: {seeds: 0-3, seconds_per_keyframe: 30}
parameters: {initial: {walk.speed: 0.0, gen.psi: 0.7}}
inputs:
  audio:
    file: track.wav
    react:
      pulse: {direction: sefa0, amount: 0.5, attack: 0.0, decay: 0.2}
%s
cues:
  - {id: a, actions: [{fade: {param: crossfade.amount, to: 0, time: 0}}]}
"""


def launch(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "launch.py"), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def frames_of(path: str) -> list[np.ndarray]:
    capture = cv2.VideoCapture(path)
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            return frames
        frames.append(frame.astype(np.int16))


def test_a_show_rendered_with_a_track_reacts_on_the_clicks_and_carries_the_sound(tmp_path):
    import av
    x, clicks = click_track(60.0, 4.0, start=0.5)              # a click at 0.5, 1.5, 2.5, 3.5 s
    write_wav(str(tmp_path / "track.wav"), x)
    show = tmp_path / "show.yaml"
    show.write_text(SHOW % "", encoding="utf-8")
    out = str(tmp_path / "out.mp4")
    done = launch(str(show), "--render", out, "--size", "64x64", "--fps", "10", "--quiet")
    assert done.returncode == 0, done.stderr
    with av.open(out) as container:
        video = container.streams.video[0]
        audio = container.streams.audio[0]
        assert audio.codec_context.name == "aac"
        assert float(audio.duration * audio.time_base) == pytest.approx(4.0, abs=0.05)
        assert float(video.duration * video.time_base) == pytest.approx(4.0, abs=0.11)   # the track's length
        assert video.frames == 40
    frames = frames_of(out)
    motion = np.array([np.abs(b - a).mean() for a, b in zip(frames, frames[1:])])   # the walk itself stands still
    rises = motion > 1.5 * np.concatenate([[0.0], motion[:-1]])  # the pulse jumps, then decays frame by frame
    kicks = np.flatnonzero(rises & (motion > 0.5 * motion.max())) + 1     # the frames where the picture jumped ...
    assert len(kicks) == 4 and all(0 <= k - 10 * c <= 1 for k, c in zip(kicks, clicks)), motion.round(2)
    assert motion[:4].max() == 0                               # ... and before the first click, nothing moved
    again = str(tmp_path / "again.mp4")
    assert launch(str(show), "--render", again, "--size", "64x64", "--fps", "10", "--quiet").returncode == 0
    assert all(np.array_equal(a, b) for a, b in zip(frames, frames_of(again)))       # deterministic


def test_a_plain_walk_renders_with_a_sound_track_longer_than_the_video(tmp_path):
    import av
    write_wav(str(tmp_path / "t.wav"), tone(220.0, 3.0))
    out = str(tmp_path / "walk.mp4")
    done = launch("--audio", str(tmp_path / "t.wav"), "--render", out, "--size", "32x32", "--duration", "1.5",
                  "--quiet", "--av-offset", "0")
    assert done.returncode == 0, done.stderr
    with av.open(out) as container:
        audio = container.streams.audio[0]
        assert float(audio.duration * audio.time_base) == pytest.approx(1.5, abs=0.05)
        samples = np.concatenate([frame.to_ndarray().reshape(-1) for frame in container.decode(audio)])
        assert np.sqrt(np.mean(samples ** 2)) > 0.1                                  # the tone, not silence


def test_features_as_csv_and_png_from_the_command_line(tmp_path):
    x, clicks = click_track(120.0, 6.0, drone=0.05)
    track = write_wav(str(tmp_path / "c.wav"), x)
    table = str(tmp_path / "f.csv")
    done = launch("--audio", track, "--features", table, "--fps", "30")
    assert done.returncode == 0, done.stderr
    with open(table, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 180
    assert list(rows[0])[:6] == ["time", "rms", "onset_strength", "onset", "beat", "tempo"]
    assert {"band_bass", "band_mid", "band_high", "chroma_c", "chroma_b"} <= set(rows[0])
    onsets = [float(r["time"]) for r in rows if r["onset"] == "1" and float(r["time"]) > 0.2]
    assert len(onsets) == len(clicks) and all(abs(o - c) <= 1 / 30 + 1e-6 for o, c in zip(onsets, clicks))
    assert all(r["beat"] in ("0", "1") for r in rows) and any(r["beat"] == "1" for r in rows)
    assert abs(float(rows[-1]["tempo"]) - 120) < 2.4
    picture = str(tmp_path / "f.png")
    assert launch("--audio", track, "--features", picture).returncode == 0
    image = cv2.imread(picture)
    assert image is not None and image.shape[1] > 800 and image.std() > 20


@pytest.mark.parametrize("args, words", [
    (["--features", "x.csv"], ["--features needs --audio"]),
    (["--audio", "missing.wav", "--features", "x.csv"], ["missing.wav", "no such audio file"]),
    (["--audio", "README.md", "--features", "x.csv"], ["expected an audio file"]),
    (["--audio", "{fake}", "--render", "x.mp4"], ["not an audio file"]),
    (["--audio-in", "default", "--render", "x.mp4"], ["--audio-in is a live input"]),
    (["--audio", "{fake}", "--audio-in", "default", "--headless"], ["one source of sound"]),
])
def test_bad_audio_arguments_end_with_one_line(tmp_path, args, words):
    fake = tmp_path / "fake.wav"
    fake.write_bytes(b"RIFF" + os.urandom(200))
    done = launch(*[a.replace("{fake}", str(fake)).replace("x.", str(tmp_path / "x.")) for a in args], timeout=120)
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and all(w in lines[0] for w in words), done.stderr


def test_chroma_keyframes_and_beat_triggers_steer_a_render(tmp_path):
    """The chroma gesture and a seed step every two beats, through the frame loop a live run uses."""
    x, _ = click_track(120.0, 6.0, drone=0.2)                  # clicks over an A drone
    write_wav(str(tmp_path / "track.wav"), x)
    react = ("      chroma: {seeds: [10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21], amount: 1.0}\n"
             "      beat: {every: 2, do: seed, seeds: [40, 41], seconds: 0.0}\n")
    outputs = {}
    for name, extra in (("plain", ""), ("steered", react)):
        show = tmp_path / f"{name}.yaml"
        show.write_text(SHOW % extra, encoding="utf-8")
        outputs[name] = str(tmp_path / name / "%03d.png")        # exact pixels (no encoder in between)
        done = launch(str(show), "--render", outputs[name], "--size", "32x32", "--fps", "10", "--quiet",
                      "--av-offset", "0")                       # as live: nothing is known at t = 0
        assert done.returncode == 0, done.stderr
    plain, steered = ([cv2.imread(str(tmp_path / name / f"{i:03d}.png")).astype(np.int16) for i in range(60)]
                      for name in ("plain", "steered"))
    assert np.array_equal(plain[0], steered[0])                # nothing heard yet at t = 0
    late = [np.abs(a - b).mean() for a, b in zip(plain[30:], steered[30:])]
    assert min(late) > 1.0                                     # the chroma and the seed steps moved the picture


def test_after_the_track_ends_the_sources_go_stale_and_the_walk_is_handed_back(tmp_path):
    """As live: when the sound stops, motion fades out (stale 1 s, fade 1 s) and the still walk stays still."""
    from tests.controllers.audio_signals import wobble
    write_wav(str(tmp_path / "track.wav"), wobble(2.0, -20))
    show = tmp_path / "show.yaml"
    show.write_text((SHOW % "      motion: {amount: 0.5}\n").replace("pulse: {direction: sefa0, amount: 0.5, attack:"
                                                                     " 0.0, decay: 0.2}", "pulse: {direction: "
                                                                     "sefa0, amount: 0.0}"), encoding="utf-8")
    pattern = str(tmp_path / "frames" / "%03d.png")
    done = launch(str(show), "--render", pattern, "--size", "32x32", "--fps", "10", "--duration", "6", "--quiet")
    assert done.returncode == 0, done.stderr
    frames = [cv2.imread(str(tmp_path / "frames" / f"{i:03d}.png")).astype(np.int16) for i in range(60)]
    moving = [np.abs(b - a).mean() for a, b in zip(frames[5:20], frames[6:21])]
    still = [np.abs(b - a).mean() for a, b in zip(frames[45:59], frames[46:60])]
    assert min(moving) > 0 and max(still) == 0, (moving, still)


def test_features_for_an_absurd_length_are_refused_before_anything_is_written(tmp_path):
    track = write_wav(str(tmp_path / "t.wav"), tone(440.0, 1.0))
    done = launch("--audio", track, "--features", str(tmp_path / "f.csv"), "--duration", "1e9", "--fps", "240")
    assert done.returncode == 1 and "error: --features: a render of" in done.stderr
    assert not (tmp_path / "f.csv").exists()


def test_a_live_run_with_audio_records_compactly_and_replays_identically(tmp_path):
    import json
    x, _ = click_track(120.0, 3.0, drone=0.05)
    write_wav(str(tmp_path / "track.wav"), x)
    show = tmp_path / "show.yaml"
    show.write_text(SHOW % "      motion: {amount: 0.3}\n", encoding="utf-8")
    record = tmp_path / "live.jsonl"
    done = launch(str(show), "--headless", "--size", "64x64", "--duration", "3", "--record", str(record))
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [json.loads(line) for line in record.read_text().splitlines()]
    readings = [line for line in lines if "sources" in line]
    pulses = [line for line in lines if "event" in line and line["event"]["key"] == "audio.onset"]
    assert len(readings) > 30 and len(pulses) >= 4            # the clicks, heard live (in silence here: no card)
    assert all(line["sources"]["from"] == "audio" and len(line["sources"]["values"]) >= 20 for line in readings)
    assert record.stat().st_size / 3.0 < 60_000               # bytes per second of performance
    renders = []
    for name in ("a", "b"):
        out = tmp_path / name
        done = launch("--replay", str(record), "--render", str(out / "%03d.png"), "--size", "32x32", "--fps", "10",
                      "--quiet")
        assert done.returncode == 0, done.stderr[-2000:]
        renders.append([cv2.imread(str(p)) for p in sorted(out.iterdir())])
    assert len(renders[0]) >= 25 and all(np.array_equal(a, b) for a, b in zip(*renders))


def test_a_machine_with_no_audio_input_starts_the_show_anyway(tmp_path):
    """The audio show asks for the default input; here there is none (no sound card, no JACK server)."""
    env = dict(os.environ, JACK_DEFAULT_SERVER="latentstage-none", JACK_NO_START_SERVER="1")
    done = subprocess.run([sys.executable, str(ROOT / "launch.py"), str(ROOT / "shows" / "audio.yaml"), "--headless",
                           "--size", "64x64", "--duration", "3"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "audio: no audio input device here" in done.stderr
    assert done.stderr.count("no audio input device") == 1          # reported once, retried quietly
    assert "live:" in done.stderr and "display frames" in done.stderr
