"""The causal audio analysis on signals with known answers (controllers/audio/analysis.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from controllers.audio.analysis import (DEFAULT_AV_OFFSET, LATENCY_MS, PITCH_CLASSES, AnalysisSettings,
                                        AudioAnalyzer, FeatureFrame)
from controllers.audio.features import per_video_frame
from tests.controllers.audio_signals import SR, click_track, tone, wobble


def analyse(x: np.ndarray, block: int = 1024, **options: object) -> list[FeatureFrame]:
    analyzer = AudioAnalyzer(AnalysisSettings(samplerate=SR, **options))  # type: ignore[arg-type]
    frames: list[FeatureFrame] = []
    for start in range(0, x.size, block):
        frames.extend(analyzer.process(x[start:start + block]))
    return frames


def beats_on_clicks(beats: np.ndarray, clicks: np.ndarray, after: float) -> np.ndarray:
    """Each click after ``after`` has exactly one beat within 25 ms, and no other beat comes between them;
    returns how late each beat is."""
    period = clicks[1] - clicks[0]
    considered = clicks[clicks > after]
    near = beats[(beats > considered[0] - period / 2) & (beats < considered[-1] + period / 2)]
    late = np.array([b - considered[np.argmin(np.abs(considered - b))] for b in near])
    assert len(near) == len(considered), (near, considered)
    assert np.abs(late).max() < 0.025, late
    return late


def test_click_track_onsets_land_within_one_video_frame_and_tempo_within_two_percent():
    x, clicks = click_track(120.0, 20.0, drone=0.02)
    frames = analyse(x)
    onsets = np.array([f.time for f in frames if f.onset])
    # Every click is found once, and nothing else is (the drone's start at 0 aside).
    onsets = onsets[onsets > 0.2]
    assert len(onsets) == len(clicks)
    late = onsets - clicks
    assert (late >= 0).all() and late.max() < 1 / 30, late       # decided within one 30 fps frame, never early
    assert abs(np.median(late) * 1000 - LATENCY_MS["onset"]) < 6   # the README's figure
    # On the video clock: each click's onset is flagged on the frame of the click or the next one.
    video = list(per_video_frame(iter(frames), 30.0))
    flagged = np.array([v.time for v in video if v.onset > 0 and v.time > 0.2])
    assert len(flagged) == len(clicks)
    assert np.all(np.abs(flagged - clicks) <= 1 / 30 + 1e-9)
    tempo = frames[-1]["tempo"]
    assert abs(tempo - 120.0) / 120.0 < 0.02, tempo
    late = beats_on_clicks(np.array([f.time for f in frames if f.beat]), clicks, after=6.0)   # locked by then
    assert abs(np.median(late) * 1000 - LATENCY_MS["beat"]) < 5
    phases = np.array([f["beat_phase"] for f in frames if f.time > 10])
    assert phases.min() >= 0 and phases.max() < 1 and np.ptp(phases) > 0.9


@pytest.mark.parametrize("bpm", [72.0, 96.0, 140.0, 170.0])
def test_tempo_and_every_beat_of_other_click_tracks(bpm):
    x, clicks = click_track(bpm, 24.0)
    frames = analyse(x)
    assert abs(frames[-1]["tempo"] - bpm) / bpm < 0.02
    beats_on_clicks(np.array([f.time for f in frames if f.beat]), clicks, after=8.0)   # every beat, not some


@pytest.mark.parametrize("freq, band", [(80.0, "bass"), (800.0, "mid"), (6000.0, "high")])
def test_a_tone_raises_its_own_band(freq, band):
    frames = analyse(np.concatenate([wobble(2.0, -30), tone(freq, 3.0)]))
    last = frames[-1].as_dict()
    bands = {name: last[f"band.{name}"] for name in ("bass", "mid", "high")}
    assert max(bands, key=bands.get) == band, bands                  # type: ignore[arg-type]
    assert bands[band] > 0.8 and all(v < 0.35 for k, v in bands.items() if k != band), bands
    assert sum(f.onset for f in frames if f.time > 2.2) == 0         # a steady tone has no onsets after its start


def test_the_centroid_follows_the_pitch():
    frames = analyse(np.concatenate([tone(200.0, 2.0), tone(4000.0, 1.0), tone(200.0, 1.0)]))
    at = {round(f.time, 2): f["centroid"] for f in frames}
    before, up, down = (next(v for t, v in at.items() if t >= s) for s in (1.9, 2.9, 3.9))
    assert up > before + 0.3 and down < up - 0.5


@pytest.mark.parametrize("freq, pc", [(261.63, "c"), (440.0, "a"), (659.26, "e"), (110.0, "a"), (196.0, "g")])
def test_chroma_names_the_pitch_class(freq, pc):
    last = analyse(tone(freq, 2.0))[-1].as_dict()
    chroma = {p: last[f"chroma.{p}"] for p in PITCH_CLASSES}
    assert max(chroma, key=chroma.get) == pc, chroma                 # type: ignore[arg-type]


def test_silence_has_no_onset_no_beat_and_no_nan():
    frames = analyse(np.zeros(SR * 6, np.float32))
    assert not any(f.onset or f.beat for f in frames)
    table = np.array([f.values for f in frames])
    assert np.isfinite(table).all()
    last = frames[-1].as_dict()
    assert last["rms"] == 0 and last["loudness_db"] == -100 and last["tempo"] == 0
    assert all(last[f"chroma.{pc}"] == 0 for pc in PITCH_CLASSES)
    # Noise far below the gate is silence too.
    hiss = (np.random.default_rng(1).standard_normal(SR * 4) * 1e-5).astype(np.float32)
    assert not any(f.onset or f.beat for f in analyse(hiss))


def test_after_a_sudden_level_change_the_adaptive_range_settles_within_its_time_constant():
    adapt = 4.0
    before, after = wobble(30.0, -40), wobble(30.0, -14)
    frames = analyse(np.concatenate([before, after]), adapt=adapt)
    rms = np.array([f["rms"] for f in frames])
    times = np.array([f.time for f in frames])
    steady = rms[(times > 20) & (times < 30)].mean()
    jumped = rms[(times > 30.05) & (times < 31.0)].mean()
    settled = rms[(times > 30 + 3 * adapt) & (times < 60)].mean()
    assert jumped > steady + 0.2                      # the louder music reads loud at first ...
    assert abs(settled - steady) < 0.1                # ... and, three half-lives on, as the old level did
    spread = rms[(times > 30 + 3 * adapt)]
    assert np.ptp(spread) > 0.5                       # the dynamics still span the range


def test_block_size_does_not_change_a_single_value():
    x, _ = click_track(128.0, 6.0, drone=0.05)
    a, b = analyse(x, block=1024), analyse(x, block=333)
    assert len(a) == len(b)
    assert all(fa.time == fb.time and np.array_equal(fa.values, fb.values) and fa.onset == fb.onset
               and fa.beat == fb.beat for fa, fb in zip(a, b))


def test_stereo_is_mixed_to_mono_and_hostile_samples_do_not_poison_the_state():
    x, _ = click_track(120.0, 4.0)
    stereo = np.stack([x, x], axis=1)
    assert [f.time for f in analyse(stereo)] == [f.time for f in analyse(x)]
    analyzer = AudioAnalyzer(AnalysisSettings(samplerate=SR))
    broken = np.full(4096, np.nan, np.float32)
    broken[::7] = np.inf
    analyzer.process(broken)
    analyzer.process(np.full(4096, 1e30, np.float32))
    frames = analyzer.process(x)
    assert all(np.isfinite(f.values).all() for f in frames)
    with pytest.raises(ValueError, match="shape"):
        analyzer.process(np.zeros((2, 2, 2)))


@pytest.mark.parametrize("options, message", [
    ({"samplerate": 100}, "samplerate"), ({"samplerate": SR, "bands": ()}, "bands"),
    ({"samplerate": SR, "bands": (("a", 10, 5),)}, "low < high"), ({"samplerate": SR, "adapt": math.inf}, "adapt"),
    ({"samplerate": SR, "bands": (("a", 1, 5), ("a", 5, 9))}, "distinct")])
def test_settings_refuse_nonsense(options, message):
    with pytest.raises(ValueError, match=message):
        AnalysisSettings(**options)  # type: ignore[arg-type]


def test_the_default_render_offset_is_the_onset_latency():
    assert DEFAULT_AV_OFFSET == pytest.approx(LATENCY_MS["onset"] / 1000)
    x, clicks = click_track(120.0, 8.0)
    shifted = [v.time for v in per_video_frame(iter(analyse(x)), 100.0, offset=DEFAULT_AV_OFFSET) if v.onset]
    assert np.median(np.abs(np.array(shifted) - clicks)) < 0.011     # reactions on the sound, at 100 fps


def test_a_pause_does_not_rescale_what_follows():
    note = tone(1000.0, 4.0)
    frames = analyse(np.concatenate([wobble(6.0, -30), note, np.zeros(int(0.5 * SR), np.float32), note]))

    def mean(feature: str, t0: float, t1: float) -> float:
        return float(np.mean([f[feature] for f in frames if t0 <= f.time < t1]))
    for feature in ("rms", "centroid", "band.mid"):
        assert abs(mean(feature, 9.5, 10.0) - mean(feature, 14.0, 14.5)) < 0.05, feature
    assert mean("rms", 10.2, 10.45) < 0.15                    # the pause itself reads silence (as it releases)
