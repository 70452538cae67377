"""The show's ``inputs: audio:`` (engine/show/load_audio.py): gestures compiled to modulations, triggers and
chroma keyframes, every problem at file:line:column; and the engine pieces they drive (pulse triggers, chroma
keyframes, smoothed modulations)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.latent.chroma import ChromaKeyframes
from engine.show import load_show
from engine.sources import Modulation, Modulator, PulseTrigger, SourceStore, Triggers
from tests.show.test_show_inputs import errors_of, write


def test_the_gestures_compile_to_the_engines_own_mechanisms(tmp_path):
    show = load_show(write(tmp_path, """
        audio:
          file: music/track.flac
          bands: {low: [20, 150], top: [4000, 16000]}
          analysis: {adapt: 6, release: 0.2}
          offset_ms: -40
          react:
            pulse: [{direction: sefa1, amount: 0.5}, {param: fx.glow, on: beat, decay: 0.5}]
            motion: {amount: 0.3, curve: sqrt}
            bands: [{band: low, param: gen.psi, amount: -0.2, smooth: [0.01, 0.3]}]
            chroma: {seeds: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], amount: 0.6}
            beat: {every: 8, do: seed, seeds: [5, 9], seconds: 2}
    """))
    audio = show.inputs["audio"]
    assert audio["file"] == str(tmp_path / "music" / "track.flac")       # relative to the show's folder
    assert audio["offset"] == pytest.approx(-0.04)
    assert audio["analysis"] == {"bands": (("low", 20.0, 150.0), ("top", 4000.0, 16000.0)), "adapt": 6.0,
                                 "release": 0.2}
    pulse, beat_pulse, motion, band = audio["modulate"]
    assert pulse == Modulation(param="dir.sefa1", source="audio.onset", amount=0.5, envelope=(0.01, 0.3))
    assert beat_pulse.source == "audio.beat" and beat_pulse.param == "fx.glow"
    assert motion.param == "walk.speed" and motion.source == "audio.rms" and motion.curve == "sqrt"
    assert band.source == "audio.band.low" and band.smooth == (0.01, 0.3) and band.amount == -0.2
    assert audio["chroma"] == (tuple(range(12)), 0.6)
    assert audio["triggers"] == (PulseTrigger("audio.beat", every=8, action="seed", seconds=2.0, seeds=(5, 9)),)


def test_every_audio_problem_is_reported_where_it_is(tmp_path):
    errors = errors_of(tmp_path, """
        audio:
          device: mic
          file: song.wav
          samplerate: 1000
          bands: {Bass: [20, 200], mid: [300, 100]}
          analysis: {adapt: 0, colour: 3}
          react:
            pulse: {direction: nowhere}
            motion: {source: vibes}
            bands: [{band: treble, param: gen.psi}]
            chroma: {seeds: [1, 2, 3]}
            beat: {every: 0, do: dance}
            wobble: {}
    """)
    text = "\n".join(errors)
    for expected in ("device (live input) or a file", "samplerate", "'Bass' is not a band name",
                     "bands.mid: expected [low Hz, high Hz] with low < high", "analysis.adapt",
                     "unknown key 'colour'" if "unknown key 'colour'" in text else "colour",
                     "dir.nowhere", "motion.source", "bands[0].band", "expected 12 seeds", "beat.every",
                     "beat.do", "wobble"):
        assert expected in text, (expected, text)
    assert all(e.split()[0].count(":") == 1 for e in errors)              # every one has its line:column
    assert len(errors) >= 12


def test_a_file_that_is_not_audio_is_refused_at_load(tmp_path):
    assert any("expected an audio file" in e for e in errors_of(tmp_path, "audio: {file: notes.txt}"))


def test_a_trigger_fires_every_nth_pulse_and_steps_through_its_seeds():
    triggers = Triggers([PulseTrigger("audio.beat", every=2, action="seed", seeds=(7, 8, 9))])
    fired = [triggers.pulse("audio.beat") for _ in range(8)]
    assert [[(t.action, n) for t, n in f] for f in fired] == [[], [("seed", 0)], [], [("seed", 1)], [],
                                                                [("seed", 2)], [], [("seed", 3)]]
    assert triggers.pulse("audio.onset") == []
    with pytest.raises(ValueError, match="every"):
        PulseTrigger("audio.beat", every=0)


def test_a_smoothed_modulation_follows_with_its_time_constants():
    store = SourceStore()
    mods = Modulator([Modulation(param="walk.speed", source="audio.rms", fade=0, smooth=(0.1, 1.0))])
    store.update("audio.rms", 0.0, 0.0)
    mods.offsets(0.0, store, {"walk.speed": 1.0})
    store.update("audio.rms", 1.0, 0.0)
    rising = mods.offsets(0.1, store, {"walk.speed": 1.0})["walk.speed"]
    assert rising == pytest.approx(1 - np.exp(-1), abs=1e-6)              # one attack constant: 63 %
    store.update("audio.rms", 0.0, 0.1)
    falling = mods.offsets(1.1, store, {"walk.speed": 1.0})["walk.speed"]
    assert falling == pytest.approx(rising * np.exp(-1), abs=1e-6)        # one release constant down


def test_chroma_keyframes_pull_the_walk_towards_the_pitch_class_heard(default_generator):
    G = default_generator
    chroma = ChromaKeyframes(G, tuple(range(100, 112)))
    ws = G.mapping(torch.randn(1, G.z_dim), None).detach()
    readings = [0.0] * 12
    readings[9] = 1.0                                                     # an A
    weights = chroma.weights(readings)
    assert weights is not None and weights.argmax() == 9 and weights.sum() == pytest.approx(1)
    target = G.mapping.truncate(chroma.ws[9:10], 0.7)
    pulled = chroma.apply(ws, weights, mix=1.0, psi=0.7)
    assert torch.allclose(pulled, target, atol=1e-5)
    half = chroma.apply(ws, weights, mix=0.5, psi=0.7)
    assert torch.allclose(half, (ws + target) / 2, atol=1e-5)
    assert chroma.weights([0.0] * 12) is None and chroma.weights([None] * 12) is None     # silence: no pull
    assert chroma.weights([float("nan")] * 12) is None
    with pytest.raises(ValueError, match="12 seeds"):
        ChromaKeyframes(G, (1, 2))
