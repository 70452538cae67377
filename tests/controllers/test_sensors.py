"""Sensors over OSC (controllers/sensors.py): the shipped presets on synthetic streams, contact gating,
baseline on command, hostile messages, and a real UDP sender."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest
from pythonosc.udp_client import SimpleUDPClient

from controllers.osc import OscInput
from controllers.sensors import SensorBank, load_preset, parse_sensor, preset_names
from engine.clock import WallClock
from engine.feedback import FeedbackState
from engine.inputs import InputEvent
from tests.conftest import wait_for


def readings(events: list[InputEvent] | None, key: str) -> list[float]:
    return [float(e.value) for e in events or [] if e.key == key and e.kind == "source"]  # type: ignore[arg-type]


def test_the_presets_load_and_name_what_they_measure() -> None:
    assert preset_names() == ["emotibit", "heartrate", "muse"]
    sources = {name: {m.source or m.pulse or m.quality for m in load_preset(name)} for name in preset_names()}
    assert {"bio.hr", "bio.eda", "bio.beat"} <= sources["emotibit"]
    assert {"bio.eeg.alpha", "bio.eeg.theta", "eeg"} <= sources["muse"]
    assert sources["heartrate"] == {"bio.hr", "bio.beat"}
    with pytest.raises(ValueError, match="unknown sensor preset 'polar'; known: emotibit, heartrate, muse"):
        load_preset("polar")
    with pytest.raises(ValueError, match="unknown sensor preset"):
        load_preset("../../etc/passwd")


def test_muse_band_powers_learn_their_range_and_bad_contact_gates_them() -> None:
    bank = SensorBank(load_preset("muse"))
    rng = random.Random(3)
    out: list[float] = []
    for i in range(600):                               # 60 s at 10 Hz, four electrodes, a slow alpha wave
        t = i / 10
        alpha = 0.8 + 0.5 * math.sin(2 * math.pi * t / 20)
        out += readings(bank.handle("/muse/elements/alpha_absolute",
                                    [alpha + rng.gauss(0, 0.02) for _ in range(4)], t), "bio.eeg.alpha")
    settled = out[300:]
    assert min(settled) < 0.2 and max(settled) > 0.8   # the learned range spans the wave
    assert all(0.0 <= v <= 1.0 for v in out)
    assert bank.handle("/muse/elements/horseshoe", [4.0, 4.0, 4.0, 2.0], 60.0) == []   # contact mostly bad
    assert readings(bank.handle("/muse/elements/alpha_absolute", [1.0], 60.1), "bio.eeg.alpha") == []
    bank.handle("/muse/elements/horseshoe", [1.0, 1.0, 2.0, 1.0], 60.2)              # good again
    assert len(readings(bank.handle("/muse/elements/alpha_absolute", [1.0], 60.3), "bio.eeg.alpha")) == 1


def test_emotibit_sends_several_samples_per_message_and_beats_as_intervals() -> None:
    bank = SensorBank(load_preset("emotibit"))
    got = bank.handle("/EmotiBit/0/EDA", [2.0, 2.1, 2.2, 2.3], 1.0)
    assert len(readings(got, "bio.eda")) == 4
    assert [e.kind for e in bank.handle("/EmotiBit/0/BI", [812.0], 1.0) or []] == ["pulse"]
    hr = readings(bank.handle("/EmotiBit/0/HR", [250.0], 1.0), "bio.hr")
    assert hr == [220.0]                               # clamped to a human range
    assert bank.handle("/not/a/sensor", [1.0], 1.0) is None


def test_hostile_messages_are_refused_and_counted() -> None:
    bank = SensorBank([parse_sensor({"address": "/hr", "source": "bio.hr"}, "map[0]")])
    assert bank.handle("/hr", ["seventy", float("nan"), float("inf"), True], 1.0) == []
    assert bank.handle("/hr", [], 1.0) == []
    assert bank.refused == 1
    assert len(readings(bank.handle("/hr", [72.0] * 100_000, 2.0), "bio.hr")) == 1   # bounded, one reading


@pytest.mark.parametrize("entry, message", [
    ({"address": "hr", "source": "bio.hr"}, "map[0].address: expected an OSC address"),
    ({"address": "/h r", "source": "bio.hr"}, "map[0].address"),
    ({"address": "/hr"}, "give exactly one of source"),
    ({"address": "/hr", "source": "bio.hr", "pulse": "bio.beat"}, "give exactly one of source"),
    ({"address": "/hr", "source": "HR"}, "map[0].source: expected a source name"),
    ({"address": "/hr", "source": "bio.hr", "reduce": "max"}, "map[0].reduce: expected one of last, mean, each"),
    ({"address": "/hr", "source": "bio.hr", "arg": 99}, "map[0].arg"),
    ({"address": "/hr", "source": "bio.hr", "condition": {"learn": {"adaptive": -1}}}, "map[0].condition.learn"),
    ({"address": "/q", "quality": "eeg", "levels": {1: 2.0}}, "map[0].levels"),
    ({"address": "/hr", "source": "bio.hr", "eval": "os.system('x')"}, "unknown key 'eval'"),
    ("/hr", "expected a mapping"),
])
def test_bad_sensor_entries_say_where_and_what(entry: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("[", r"\[")):
        parse_sensor(entry, "map[0]")


def test_over_real_udp_with_a_baseline_captured_on_command() -> None:
    events: list[InputEvent] = []
    sensor = parse_sensor({"address": "/eda", "source": "bio.eda", "condition": {"baseline": 0.3}}, "map[0]")
    osc = OscInput(port=0, sensors=[sensor])
    osc.start(events.append, WallClock())
    try:
        client = SimpleUDPClient("127.0.0.1", osc.port)
        client.send_message("/eda", 5.0)
        wait_for(lambda: readings(events, "bio.eda"), 5, what="a reading")
        assert readings(events, "bio.eda") == [5.0]
        osc.offer(FeedbackState(now=0.0, values={}, baseline=1))          # the engine says: capture now
        for _ in range(5):
            client.send_message("/eda", 5.0)
        wait_for(lambda: len(readings(events, "bio.eda")) >= 6, 5, what="the baseline's samples")
        wait_for(lambda: not osc.sensors.mappings["/eda"][0][1].capturing or client.send_message("/eda", 5.0),
                 5, what="the capture to end")
        client.send_message("/eda", 7.0)
        wait_for(lambda: readings(events, "bio.eda")[-1] == pytest.approx(2.0), 5, what="the baseline subtracted")
        assert osc.bad == 0
    finally:
        osc.stop()
