"""Sources and modulations (engine.sources): readings on top of parameters, fading with the sensor."""

from __future__ import annotations

import math

import pytest

from engine.params import ParamSpec, ParamStore
from engine.sources import MAX_SOURCES, Modulation, Modulator, SourceStore


def run(modulator: Modulator, store: SourceStore, start: float, stop: float, fps: float = 60.0,
        spans: dict[str, float] | None = None, feed: dict[str, float] | None = None) -> list[float]:
    """Frames from start to stop; ``feed`` keeps the given sources arriving every frame. The offsets of x.y."""
    out = []
    for i in range(int(round((stop - start) * fps))):
        now = start + i / fps
        for key, value in (feed or {}).items():
            store.update(key, value, now)
        out.append(modulator.offsets(now, store, spans or {"x.y": 1.0}).get("x.y", 0.0))
    return out


def test_a_reading_moves_the_parameter_by_its_share_of_the_span() -> None:
    store = SourceStore()
    store.update("bio.hr", 90.0, 0.0)
    mod = Modulator([Modulation("x.y", "bio.hr", range=(60.0, 120.0), amount=0.5, fade=0.0)])
    assert mod.offsets(0.0, store, {"x.y": 4.0}) == {"x.y": pytest.approx(1.0)}   # halfway × 0.5 × 4
    centred = Modulator([Modulation("x.y", "bio.hr", range=(60.0, 120.0), centre=True, fade=0.0)])
    store.update("bio.hr", 60.0, 0.0)
    assert centred.offsets(0.0, store, {"x.y": 1.0})["x.y"] == pytest.approx(-1.0)
    inverted = Modulator([Modulation("x.y", "bio.hr", range=(60.0, 120.0), invert=True, fade=0.0)])
    assert inverted.offsets(0.0, store, {"x.y": 1.0})["x.y"] == pytest.approx(1.0)


def test_a_silent_sensor_hands_back_smoothly_and_takes_over_again() -> None:
    store = SourceStore()
    mod = Modulator([Modulation("x.y", "bio.eda", stale=1.0, fade=2.0)])
    rising = run(mod, store, 0.0, 3.0, feed={"bio.eda": 1.0})
    assert rising[0] < 0.05 and rising[60] == pytest.approx(0.5, abs=0.03) and rising[-1] == pytest.approx(1.0)
    assert all(b >= a for a, b in zip(rising, rising[1:]))                   # a glide in, never a jump
    quiet = run(mod, store, 3.0, 7.0)                                        # the sensor stops sending
    assert quiet[int(0.9 * 60)] == pytest.approx(1.0)                        # not yet stale
    assert quiet[-1] == 0.0                                                  # handed back to the walk
    steps = [abs(b - a) for a, b in zip(quiet, quiet[1:])]
    assert max(steps) <= 1 / 120 + 1e-9                                      # 2 s fade at 60 fps
    back = run(mod, store, 7.0, 10.0, feed={"bio.eda": 1.0})
    assert back[0] < 0.05 and back[-1] == pytest.approx(1.0)


def test_pulses_follow_an_attack_decay_envelope() -> None:
    store = SourceStore()
    mod = Modulator([Modulation("x.y", "bio.beat", envelope=(0.05, 0.2))])
    assert run(mod, store, 0.0, 0.5) == [0.0] * 30                           # no pulse, nothing added
    mod.pulse("bio.beat", 0.8, 1.0)
    frames = run(mod, store, 1.0, 2.0, fps=100)
    assert frames[0] == 0.0 and frames[5] == pytest.approx(0.8)              # the attack's top at 50 ms
    assert frames[25] == pytest.approx(0.8 * math.exp(-1.0), rel=1e-6)       # one decay constant later
    assert frames[-1] < 0.01
    mod.pulse("bio.other", 1.0, 2.0)
    assert max(run(mod, store, 2.0, 2.2)) < 0.01                             # another source's pulse


def test_beats_come_from_a_rate_in_beats_per_minute() -> None:
    store = SourceStore()
    mod = Modulator([Modulation("x.y", "bio.hr", envelope=(0.0, 0.05), beats=True, fade=0.0)])
    frames = run(mod, store, 0.0, 10.0, fps=100, feed={"bio.hr": 72.0})
    onsets = [i for i in range(1, len(frames)) if frames[i] > 0.9 and frames[i - 1] < 0.5]
    assert len(onsets) == 11                                                 # 72 a minute: 0.83 s … 9.17 s
    gaps = [b - a for a, b in zip(onsets, onsets[1:])]
    assert all(abs(gap - 83.3) <= 1.5 for gap in gaps)                       # 60/72 s apart


def test_modulations_never_move_the_base_value() -> None:
    params = ParamStore()
    params.declare(ParamSpec("x.y", default=0.5, minimum=0.0, maximum=1.0))
    store = SourceStore()
    store.update("bio.eda", 1.0, 0.0)
    mod = Modulator([Modulation("x.y", "bio.eda", amount=0.8, fade=0.0),
                     Modulation("x.y", "bio.eda", amount=0.1, fade=0.0)])
    params.modulate(mod.offsets(0.0, store, params.spans()))
    assert params.modulated()["x.y"] == 1.0                                  # 0.5 + 0.9, clamped
    params.set("x.y", 0.05, source="midi")                                   # a fader moves the base
    assert params.get("x.y") == 0.05 and params.snapshot()["x.y"] == 0.05
    assert params.modulated()["x.y"] == pytest.approx(0.95)
    params.modulate({"x.y": float("nan"), "no.such": 1.0})                   # refused quietly
    assert params.modulated()["x.y"] == 0.05


def test_source_names_are_bounded() -> None:
    store = SourceStore()
    for i in range(MAX_SOURCES + 50):
        store.update(f"osc.s{i}", 1.0, 0.0)
    assert len(store.values()) == MAX_SOURCES and store.refused == 50
    assert store.live(0.5, stale=1.0)[:2] == ["osc.s0", "osc.s1"]
    assert store.live(5.0, stale=1.0) == []


@pytest.mark.parametrize("kwargs", [dict(range=(1.0, 1.0)), dict(amount=math.inf), dict(curve="cubic"),
                                    dict(beats=True), dict(fade=-1.0), dict(envelope=(0.1, 1e9))])
def test_bad_modulations_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="modulation bio.hr -> x.y"):
        Modulation("x.y", "bio.hr", **kwargs)  # type: ignore[arg-type]


def test_wraps_pulse_on_each_beat_of_a_clock_phase() -> None:
    store = SourceStore()
    mod = Modulator([Modulation("x.y", "midi.clock.beat", envelope=(0.0, 0.02), wraps=True, fade=0.0)])
    frames = []
    for i in range(300):                                     # 3 s at 100 fps, a clock at 120 BPM
        now = i / 100
        store.update("midi.clock.beat", (now * 2.0) % 1.0, now)
        frames.append(mod.offsets(now, store, {"x.y": 1.0}).get("x.y", 0.0))
    onsets = [i for i in range(1, 300) if frames[i] > 0.9 and frames[i - 1] < 0.5]
    assert onsets == [50, 100, 150, 200, 250]               # on the beat, every half second
    with pytest.raises(ValueError, match="not both"):
        Modulation("x.y", "a.b", envelope=(0.0, 0.1), wraps=True, beats=True)
