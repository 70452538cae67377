"""Control surfaces end to end: a headless session of a show with MIDI (real JACK ports), sensors over real
UDP and modulations; what a performer does shows in the engine's parameters, frame by frame."""

from __future__ import annotations

import time
import uuid
from typing import Any

import mido  # type: ignore[import-untyped]
from pythonosc.udp_client import SimpleUDPClient

from engine.show.load import load_show
from tests.conftest import wait_for
from tests.controllers.jack import jack_midi, jack_server  # noqa: F401 (pytest fixtures)
from tests.controllers.sessions import osc_session

SHOW = """\
# a performer's show: this comment must survive MIDI learn
format: 1
parameters:
  declare:
    fx.glow: {{min: 0, max: 2, default: 1}}
inputs:
  midi:
    ports: ["{port}"]
    takeover: {takeover}
    map:
      - {{cc: 7, param: fx.glow}}     # the fader
      - {{note: 36, command: go}}
  osc:
    port: 0
    sensors: [heartrate]
    map:
      - {{address: /eda, source: bio.eda, condition: {{range: [0, 10]}}}}
  modulate:
    - {{source: bio.eda, param: walk.speed, amount: 0.25, fade: 0, stale: 1}}
cues:
  - id: a
    actions:
      - fade: {{param: gen.psi, to: 0.5, time: 1}}
"""


def frames_until(engine: Any, predicate: Any, what: str, timeout: float = 10.0) -> None:
    """Draw frames until the predicate holds (the engine routes events only in frames)."""
    def step() -> bool:
        engine.frame()
        return bool(predicate())
    wait_for(step, timeout, what=what, poll=0.01)


def session(tmp_path: Any, backend: Any, takeover: str = "pickup") -> Any:
    port = f"lsshow-{uuid.uuid4().hex[:6]}"
    device = backend.open_output(port, virtual=True)
    return device, osc_session(tmp_path, SHOW.format(port=port, takeover=takeover))


def midi_of(engine: Any) -> Any:
    """The session's MIDI input, once it has found the device and JACK has connected them."""
    (midi,) = [c for c in engine.controllers if c.name == "midi"]
    wait_for(lambda: midi.ports, 10, what="the session's MIDI input to find the device")
    time.sleep(0.2)
    return midi


def test_a_fader_catches_its_parameter_softly_and_a_pad_fires_go(tmp_path: Any, jack_midi: Any) -> None:  # noqa: F811
    device, opened = session(tmp_path, jack_midi, takeover="pickup")
    with opened as (engine, osc):
        midi = midi_of(engine)
        device.send(mido.Message("control_change", control=7, value=120))     # far from 1.0 (position 0.5)
        frames_until(engine, lambda: midi.messages >= 1, "the fader message")
        engine.frame()
        assert engine.params.get("fx.glow") == 1.0                             # not caught yet: no jump
        assert ("midi", "fx.glow") in engine.soft.waiting()
        for value in (80, 64, 50):                                             # moved through the value
            device.send(mido.Message("control_change", control=7, value=value))
        frames_until(engine, lambda: abs(engine.params.get("fx.glow") - 2 * 50 / 127) < 1e-9, "the pick-up")
        device.send(mido.Message("note_on", note=36, velocity=100))
        frames_until(engine, lambda: engine.runner.running, "GO from the pad")
    device.close()


def test_value_scaling_moves_at_once_towards_the_control(tmp_path: Any, jack_midi: Any) -> None:  # noqa: F811
    device, opened = session(tmp_path, jack_midi, takeover="scale")
    with opened as (engine, osc):
        midi_of(engine)
        device.send(mido.Message("control_change", control=7, value=0))        # where the fader is
        device.send(mido.Message("control_change", control=7, value=127))      # all the way up
        frames_until(engine, lambda: engine.params.get("fx.glow") == 2.0, "the parameter to reach the top")


def test_sensors_modulate_on_top_and_let_go_when_quiet(tmp_path: Any, jack_midi: Any) -> None:  # noqa: F811
    device, opened = session(tmp_path, jack_midi)
    with opened as (engine, osc):
        client = SimpleUDPClient("127.0.0.1", osc.port)
        client.send_message("/eda", 8.0)                                       # 0.8 of its range
        client.send_message("/heartrate", 72.0)
        frames_until(engine, lambda: abs(engine.params.modulated()["walk.speed"] - (1.0 + 0.8 * 0.25 * 8)) < 1e-6,
                     "the modulation on walk.speed")
        assert engine.params.get("walk.speed") == 1.0                          # the base is untouched
        # Two datagrams: the second may land a frame after the first has moved the parameter.
        frames_until(engine, lambda: set(engine.sources.live(engine.clock.now())) == {"bio.eda", "bio.hr"},
                     "both sensors live", timeout=2)
        assert abs(engine.sources.get("bio.hr") - 72.0) < 1e-9                 # a smoothed first sample
        frames_until(engine, lambda: engine.params.modulated()["walk.speed"] == 1.0, "the hand-back", timeout=5)
        assert 1.0 <= engine.sources.age("bio.eda", engine.clock.now()) < 2.0  # stale after 1 s, no fade
        frames_until(engine, lambda: "bio.eda" not in engine.sources.live(engine.clock.now()), "the HUD's live list",
                     timeout=6)


def test_learn_writes_the_show_and_the_control_works_at_once(tmp_path: Any, jack_midi: Any) -> None:  # noqa: F811
    device, opened = session(tmp_path, jack_midi)
    with opened as (engine, osc):
        midi_of(engine)
        SimpleUDPClient("127.0.0.1", osc.port).send_message("/param/gen/psi/learn", 1)
        frames_until(engine, lambda: engine.learning == "gen.psi", "learn armed over OSC")
        engine.frame()                                                         # the MIDI input sees the state
        device.send(mido.Message("control_change", channel=4, control=21, value=100))
        frames_until(engine, lambda: engine.learning is None, "learn disarmed by the controller")
        show = engine.runner.show.path
        wait_for(lambda: "cc: 21" in open(show).read(), 10, what="the show file to gain the mapping")
        text = open(show).read()
        assert "# a performer's show: this comment must survive MIDI learn" in text
        assert "{cc: 21, channel: 5, param: gen.psi}" in text and "# the fader" in text
        assert any(b.number == 21 for b in load_show(show).inputs["midi"]["map"])  # type: ignore[index]
        device.send(mido.Message("control_change", channel=4, control=21, value=127))
        frames_until(engine, lambda: engine.params.get("gen.psi") == 2.0 or engine.soft.waiting(), "the control")


QUANTIZED = """\
format: 1
inputs:
  osc: {port: 0}
  quantize: {clock: midi.clock, to: beat}
cues:
  - id: a
    actions:
      - fade: {param: gen.psi, to: 0.5, time: 1}
"""


def test_a_quantised_go_waits_for_the_next_beat_and_a_dead_clock_never_holds_it(tmp_path: Any) -> None:
    from engine.inputs import InputEvent
    with osc_session(tmp_path, QUANTIZED) as (engine, osc):
        def beat(phase: float) -> None:
            engine.post(InputEvent(engine.clock.now(), "midi", "source", "midi.clock.beat", phase))
            engine.frame()
        beat(0.2)
        engine.post(InputEvent(engine.clock.now(), "keyboard", "command", "go"))
        engine.frame()
        for phase in (0.4, 0.6, 0.9):
            beat(phase)
            assert not engine.runner.running                                  # waiting for the beat
        beat(0.05)                                                             # the next beat
        assert [r.cue.id for r in engine.runner.running] == ["a"]
        engine.handle_key("stop")
        engine.handle_key("reset")
        time.sleep(1.1)                                                        # the clock went quiet
        engine.post(InputEvent(engine.clock.now(), "keyboard", "command", "go"))
        engine.frame()
        engine.frame()
        assert [r.cue.id for r in engine.runner.running] == ["a"]              # at once


def test_learn_is_armed_and_disarmed_by_the_same_command_and_unknown_parameters_are_refused(tmp_path: Any) -> None:
    from engine.inputs import InputEvent
    with osc_session(tmp_path, QUANTIZED) as (engine, osc):
        def learn(key: str | None) -> None:
            engine.post(InputEvent(engine.clock.now(), "keyboard", "command", "learn", key))
            engine.frame()
        learn("gen.psi")
        assert engine.learning == "gen.psi"
        learn("gen.psi")                                                      # the key again: disarmed
        assert engine.learning is None
        learn("no.such")
        assert engine.learning is None and "unknown parameter" in engine.faults["input keyboard"][0]


RELOADED = """\
format: 1
inputs:
  osc:
    port: 0
    map:
      - {{address: /{address}, source: bio.{source}}}
  modulate:
    - {{source: bio.{source}, param: walk.speed, amount: 0.1, fade: 0}}
cues:
  - id: a
    actions:
      - fade: {{param: gen.psi, to: 0.5, time: 1}}
"""


def test_a_reloaded_show_brings_its_new_addresses_and_modulations(tmp_path: Any) -> None:
    with osc_session(tmp_path, RELOADED.format(address="first", source="one")) as (engine, osc):
        client = SimpleUDPClient("127.0.0.1", osc.port)
        client.send_message("/first", 1.0)
        frames_until(engine, lambda: engine.params.modulated()["walk.speed"] > 1.7, "the first show's modulation")
        path = engine.runner.show.path
        time.sleep(0.05)                                   # a new mtime
        with open(path, "w") as f:
            f.write(RELOADED.format(address="second", source="two"))
        frames_until(engine, lambda: "bio.two" in str(engine.modulator.modulations), "the reload", timeout=15)
        client.send_message("/second", 1.0)
        frames_until(engine, lambda: engine.sources.get("bio.two") == 1.0, "the new address")
        frames_until(engine, lambda: abs(engine.params.modulated()["walk.speed"] - 1.8) < 1e-9, "the new modulation")
        bad_before = osc.bad
        client.send_message("/first", 1.0)                 # the old address is gone with its show
        wait_for(lambda: osc.bad > bad_before, 5, what="the old address refused")
