"""Live audio through real streams: a sounddevice InputStream on JACK's dummy driver with a click track played
into it, recovery when the server goes away and comes back, and file playback that posts exactly what the
offline analysis computes (controllers/audio/live.py)."""

from __future__ import annotations

import re
import subprocess

import numpy as np
import pytest

from controllers.audio.analysis import AnalysisSettings
from controllers.audio.features import per_video_frame
from controllers.audio.files import analyse_file, probe
from controllers.audio.live import AudioInput, FilePlayback
from engine.clock import WallClock
from tests.conftest import wait_for
from tests.controllers.audio_signals import click_track, write_wav
from tests.controllers.jack import jack_environ, running_jack
from tests.controllers.jack import jack_server  # noqa: F401 (a pytest fixture)


@pytest.fixture
def jack_audio(jack_server, monkeypatch):
    """This module's JACK server for the audio input's child processes and for sounddevice in this process.
    Afterwards this process's PortAudio is started again on no server: PortAudio's JACK host API aborts the
    process when it is shut down after its server has gone (see controllers/audio/device_process.py)."""
    for key, value in jack_environ(jack_server, {}).items():
        monkeypatch.setenv(key, value)
    import sounddevice as sd
    sd._terminate()
    sd._initialize()
    yield jack_server
    _no_jack(monkeypatch)


def _no_jack(monkeypatch):
    import sounddevice as sd
    monkeypatch.setenv("JACK_DEFAULT_SERVER", "latentstage-none")
    monkeypatch.setenv("JACK_NO_START_SERVER", "1")
    sd._terminate()
    sd._initialize()


def _metro(server: str, bpm: int = 120) -> subprocess.Popen[bytes]:
    """jack_metro: an independent JACK client that plays clicks at ``bpm``."""
    process = subprocess.Popen(["jack_metro", "-b", str(bpm), "-f", "1000", "-D", "20", "-n", "metro"],
                               env=jack_environ(server), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: "metro:" in _ports(server), 10, "jack_metro's port")
    return process


def _ports(server: str) -> str:
    return subprocess.run(["jack_lsp"], env=jack_environ(server), capture_output=True, text=True, timeout=10).stdout


def _connect(server: str, source: str, target: str) -> None:
    """Connect ``source`` to the first port matching the pattern ``target`` (PortAudio's client is PortAudio,
    or PortAudio-01 … when another process's PortAudio already holds that name)."""
    pattern = re.compile(target)
    target = wait_for(lambda: next((p for p in _ports(server).split() if pattern.fullmatch(p)), None), 10,
                      f"a port like {target}")
    subprocess.run(["jack_connect", source, target], env=jack_environ(server), check=True, timeout=10)


def test_a_real_input_stream_hears_clicks_played_into_it(jack_audio):
    metro = _metro(jack_audio)
    events: list = []
    audio = AudioInput(device="system", samplerate=48_000)
    try:
        audio.start(events.append, WallClock())
        wait_for(lambda: audio.connected, 10, "the stream")
        quiet = wait_for(lambda: [e for e in events if e.key == "audio.rms"], 5, "silent blocks")
        assert all(e.value == 0 for e in quiet)          # the dummy driver's capture is silence
        _connect(jack_audio, "metro:120_bpm", r"PortAudio(-\d+)?:in_\d+")
        wait_for(lambda: audio.onsets >= 6, 10, "onsets from the clicks")
        onsets = [e.time for e in events if e.key == "audio.onset"]
        gaps = np.diff(onsets[-5:])
        assert np.all(np.abs(gaps - 0.5) < 0.05), gaps   # 120 BPM, on the engine clock
        wait_for(lambda: any(e.key == "audio.beat" for e in events), 10, "beats")
        loud = [e.value for e in events if e.key == "audio.loudness_db"][-20:]
        assert max(loud) > -40
        assert "system at 48000 Hz" in audio.status() and "onsets" in audio.status()
    finally:
        audio.stop()
        metro.terminate()
        metro.wait(10)


def test_the_input_comes_back_after_its_server_stops_and_restarts(monkeypatch):
    audio: AudioInput | None = None
    try:
        with running_jack() as name:
            for key, value in jack_environ(name, {}).items():
                monkeypatch.setenv(key, value)
            audio = AudioInput(device="system", samplerate=48_000)
            audio.start(lambda event: None, WallClock())
            wait_for(lambda: audio.blocks > 20, 20, "blocks")
        # The server is gone (a sound card unplugged): reported, retried with backoff; the show goes on.
        wait_for(lambda: audio.problem is not None, 20, "the loss reported")
        assert "trying again" in audio.status()
        blocks = audio.blocks
        with running_jack(name):                            # the same server comes back: found again
            wait_for(lambda: audio.blocks > blocks + 20, 60, "blocks again after the restart")
            assert audio.problem is None and audio.restarts >= 1
            audio.stop()
    finally:
        if audio is not None:
            audio.stop()


def test_file_playback_posts_what_the_offline_analysis_computes_block_for_block(tmp_path):
    x, _ = click_track(120.0, 5.0, drone=0.05)
    path = write_wav(str(tmp_path / "clicks.wav"), x)
    live_frames: list = []
    events: list = []
    playback = FilePlayback(path, block=1024, tap=live_frames.append, realtime=False)
    playback.start(events.append, WallClock())
    assert playback.finished.wait(30)
    playback.stop()
    offline = list(analyse_file(probe(path), AnalysisSettings(samplerate=48_000), block=1024))
    assert len(live_frames) == len(offline) > 400
    for a, b in zip(live_frames, offline):
        assert a.time == b.time and np.array_equal(a.values, b.values) and (a.onset, a.beat) == (b.onset, b.beat)
    # The events carry those values: the last block's rms is the last frame's.
    last_rms = [e.value for e in events if e.key == "audio.rms"][-1]
    assert last_rms == offline[-1]["rms"]
    assert sum(e.key == "audio.onset" for e in events) == sum(f.onset for f in offline)


def test_file_playback_in_real_time_through_a_real_output(jack_audio, tmp_path):
    x, clicks = click_track(120.0, 3.0)
    path = write_wav(str(tmp_path / "clicks.wav"), x)
    events: list = []
    clock = WallClock()
    playback = FilePlayback(path, block=1024)
    started = clock.now()
    playback.start(events.append, clock)
    try:
        assert playback.finished.wait(20)
        assert "silent" not in (playback.connected or "")   # it played through JACK's output
        onsets = np.array([e.time for e in events if e.key == "audio.onset"]) - started
        assert len(onsets) == len(clicks)
        # Posted when heard (the output's latency included), not when read: paced like the sound.
        assert np.all(np.abs(onsets - clicks - np.median(onsets - clicks)) < 0.05)
        assert 2.8 < clock.now() - started < 10
    finally:
        playback.stop()


def test_a_missing_device_or_file_is_reported_and_the_show_goes_on(tmp_path, monkeypatch):
    _no_jack(monkeypatch)
    audio = AudioInput(device="no such microphone")
    audio.start(lambda e: None, WallClock())
    try:
        wait_for(lambda: audio.problem, 10, "the problem reported")
        assert "no audio input device" in audio.status() and "trying again in" in audio.status()
    finally:
        audio.stop()
    bad = tmp_path / "noise.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot audio at all" * 10)
    playback = FilePlayback(str(bad))
    playback.start(lambda e: None, WallClock())
    assert playback.finished.wait(10)
    assert "not an audio file" in playback.status()
    playback.stop()


def test_video_frames_of_a_live_run_and_a_render_see_the_same_hops(tmp_path):
    x, _ = click_track(120.0, 3.0)
    path = write_wav(str(tmp_path / "c.wav"), x)
    frames = list(analyse_file(probe(path)))
    video = list(per_video_frame(iter(frames), 30.0, count=90))      # 3 s at 30 fps, as a render has
    assert len(video) == 90
    for v in video[1:]:          # each frame sees the newest hop analysed by its time
        newest = [f for f in frames if f.time <= v.time + 1e-9][-1]
        assert np.array_equal(v.values, newest.values)


def test_a_looping_file_goes_round_and_the_analysis_clock_runs_on(tmp_path):
    x, _ = click_track(120.0, 1.0, start=0.2)
    path = write_wav(str(tmp_path / "loop.wav"), x)
    frames: list = []
    playback = FilePlayback(path, loop=True, realtime=False, tap=frames.append)
    playback.start(lambda event: None, WallClock())
    try:
        wait_for(lambda: len(frames) > 3 * 94, 20, "three passes")
    finally:
        playback.stop()
    times = [f.time for f in frames]
    assert times == sorted(times) and times[-1] > 3.0       # one stream, on after each pass
    onsets = [f.time for f in frames if f.onset]
    assert len(onsets) >= 5                                 # the clicks of every pass
