"""MIDI in through real mido ports on a real JACK server (DESIGN.md §5): every control kind, LEDs, learn,
clock, reconnect and hostile bytes. Each test plays a device: a virtual port that the controller finds by
name, as it would find a nanoKONTROL2."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import mido  # type: ignore[import-untyped]
import pytest

from controllers.midi import MidiInput
from controllers.midi_map import BUTTON_SOURCE, MidiBinding, binding_for_control, load_device
from engine.clock import WallClock
from engine.feedback import FeedbackState
from engine.inputs import InputEvent, walk_target
from tests.conftest import wait_for as _wait_for
from tests.controllers.jack import JACK_BACKEND, jack_midi, jack_server  # noqa: F401 (pytest fixtures)


def wait_for(predicate: Any, what: str) -> Any:
    return _wait_for(predicate, 10.0, what=what)


class Rig:
    """A fake device (a virtual output, and a virtual input for its LEDs) and a MidiInput listening to it."""

    def __init__(self, backend: Any, bindings: list[MidiBinding], **options: Any) -> None:
        self.name = f"lsdev-{uuid.uuid4().hex[:6]}"
        self.backend = backend
        self.device = backend.open_output(self.name, virtual=True)
        self.leds: list[Any] = []
        self.led_port = backend.open_input(self.name, virtual=True, callback=self.leds.append)
        self.events: list[InputEvent] = []
        self.lock = threading.Lock()
        self.midi = MidiInput(ports=[self.name], bindings=bindings, backend=JACK_BACKEND, rescan=0.1, **options)
        self.midi.start(self.post, WallClock())
        wait_for(lambda: self.midi.ports and self.midi.outputs, what="the controller to find the device")
        time.sleep(0.2)                                # JACK connects the new ports within a period or two

    def post(self, event: InputEvent) -> None:
        with self.lock:
            self.events.append(event)

    def send(self, kind: str, **fields: Any) -> None:
        self.device.send(mido.Message(kind, **fields))

    def take(self, count: int, kinds: tuple[str, ...] = ("norm", "step", "command", "walk")) -> list[InputEvent]:
        """Wait for ``count`` events of those kinds; return them and forget everything received so far."""
        def ready() -> bool:
            with self.lock:
                return sum(e.kind in kinds for e in self.events) >= count
        wait_for(ready, what=f"{count} events")
        time.sleep(0.05)                               # nothing more should follow
        with self.lock:
            got, self.events = [e for e in self.events if e.kind in kinds], []
        return got

    def close(self) -> None:
        self.midi.stop()
        self.device.close()
        self.led_port.close()


@pytest.fixture
def rig(jack_midi: Any) -> Iterator[Any]:  # noqa: F811
    rigs: list[Rig] = []

    def make(bindings: list[MidiBinding], **options: Any) -> Rig:
        rigs.append(Rig(jack_midi, bindings, **options))
        return rigs[-1]
    yield make
    for r in rigs:
        r.close()


def test_absolute_7_and_14_bit_controls_and_nrpn(rig: Any) -> None:
    r = rig([MidiBinding("cc", 7, param="fx.a"), MidiBinding("cc14", 1, param="fx.b"),
             MidiBinding("nrpn", 389, param="fx.c"), MidiBinding("nrpn", 390, param="fx.d", bits=7),
             MidiBinding("cc", 10, param="fx.e", invert=True)])
    r.send("control_change", control=7, value=127)
    r.send("control_change", control=7, value=0)
    assert [(e.key, e.value) for e in r.take(2)] == [("fx.a", 1.0), ("fx.a", 0.0)]
    r.send("control_change", control=1, value=64)                  # MSB, then LSB
    r.send("control_change", control=33, value=1)
    assert [e.value for e in r.take(2)] == [64 * 128 / 16383, (64 * 128 + 1) / 16383]
    for control, value in ((99, 3), (98, 5), (6, 100), (38, 17)):  # NRPN 3 * 128 + 5 = 389
        r.send("control_change", control=control, value=value)
    assert [e.value for e in r.take(2)] == [100 * 128 / 16383, (100 * 128 + 17) / 16383]
    for control, value in ((99, 3), (98, 6), (6, 127), (38, 5)):   # 7-bit NRPN data: CC 6 only
        r.send("control_change", control=control, value=value)
    assert [(e.key, e.value) for e in r.take(1)] == [("fx.d", 1.0)]
    r.send("control_change", control=10, value=127)
    assert r.take(1)[0].value == 0.0


@pytest.mark.parametrize("encoding, up, down", [("twos", 3, 125), ("signed", 3, 67), ("offset", 67, 61)])
def test_relative_encoders_in_the_three_encodings(rig: Any, encoding: str, up: int, down: int) -> None:
    r = rig([MidiBinding("cc", 20, param="fx.a", relative=encoding, step=0.01)])
    r.send("control_change", control=20, value=up)
    r.send("control_change", control=20, value=down)
    assert [(e.kind, round(float(e.value), 6)) for e in r.take(2)] == [("step", 0.03), ("step", -0.03)]


def test_notes_pads_programs_and_channel_filters(rig: Any) -> None:
    r = rig([MidiBinding("note", 36, command="go"), MidiBinding("note", 37, param="fx.a", velocity=True),
             MidiBinding("note", 38, param="fx.b", toggle=True), MidiBinding("note", 39, param="fx.c", momentary=True),
             MidiBinding("program", 2, cue="intro"), MidiBinding("note", 40, seed=42, glide=1.5),
             MidiBinding("cc", 7, channel=1, param="fx.d")])
    r.send("note_on", note=36, velocity=90)
    r.send("note_off", note=36)
    r.send("note_on", note=36, velocity=0)                         # a release, as many pads send it
    assert [(e.kind, e.key) for e in r.take(1)] == [("command", "go")]
    r.send("note_on", note=37, velocity=127)
    r.send("note_on", note=38, velocity=1)
    r.send("note_on", note=38, velocity=1)
    r.send("note_on", note=39, velocity=50)
    r.send("note_off", note=39)
    got = r.take(5)
    assert [(e.key, e.value) for e in got] == [("fx.a", 1.0), ("fx.b", 1.0), ("fx.b", 0.0), ("fx.c", 1.0),
                                               ("fx.c", 0.0)]
    assert {e.source for e in got} == {BUTTON_SOURCE}              # buttons are not soft-taken-over
    r.send("program_change", program=2)
    r.send("note_on", note=40, velocity=100)
    cue, walk = r.take(2)
    assert (cue.key, cue.value) == ("start", "intro") and walk_target(walk) == (42, 1.5)
    r.send("control_change", channel=0, control=7, value=100)      # channel 1: filtered out
    r.send("control_change", channel=1, control=7, value=127)      # channel 2
    assert [(e.key, e.value) for e in r.take(1)] == [("fx.d", 1.0)]
    assert r.midi.decoder.unmapped == 1


def test_a_device_map_names_the_controls_and_its_leds_follow_the_show(rig: Any) -> None:
    nano = load_device("nanokontrol2")
    r = rig([binding_for_control(nano, "fader1", param="fx.a"), binding_for_control(nano, "play", command="go"),
             binding_for_control(nano, "solo1", cue="intro"), binding_for_control(nano, "mute1", param="fx.b",
                                                                                   toggle=True)],
            range_of=lambda key: (0.0, 2.0))
    r.send("control_change", control=0, value=127)                  # fader1 is CC 0
    assert r.take(1)[0].key == "fx.a"
    r.midi.offer(FeedbackState(now=1.0, values={"fx.b": 0.0}, standby="intro", running=()))
    wait_for(lambda: len(r.leds) >= 3, what="the first LED states")
    time.sleep(0.1)
    first = {(m.control, m.value) for m in r.leds}
    assert first == {(41, 127), (32, 0), (48, 0)}                  # GO lit (a cue stands by), the rest dark
    r.leds.clear()
    r.midi.offer(FeedbackState(now=2.0, values={"fx.b": 2.0}, standby=None, running=("intro",)))
    wait_for(lambda: len(r.leds) >= 3, what="LED changes")
    time.sleep(0.1)
    assert {(m.control, m.value) for m in r.leds} == {(41, 0), (32, 127), (48, 127)}
    r.leds.clear()
    r.midi.offer(FeedbackState(now=3.0, values={"fx.b": 2.0}, standby=None, running=("intro",)))
    time.sleep(0.2)
    assert r.leds == []                                            # only changes are sent


def test_learn_binds_the_next_control_and_hands_it_on(rig: Any) -> None:
    learned: list[MidiBinding] = []
    r = rig([], on_learn=learned.append)
    r.midi.offer(FeedbackState(now=0.0, values={}, learning="fx.glow"))
    r.send("control_change", channel=2, control=21, value=10)
    disarm = r.take(1, kinds=("command",))[0]
    assert (disarm.key, disarm.value) == ("learn", None)
    wait_for(lambda: learned, what="the learned binding handed on")
    assert (learned[0].kind, learned[0].number, learned[0].channel, learned[0].param) == ("cc", 21, 2, "fx.glow")
    r.send("control_change", channel=2, control=21, value=127)     # still armed in this state: not learned twice
    assert [(e.key, e.value) for e in r.take(1)] == [("fx.glow", 1.0)]
    assert len(learned) == 1


def test_clock_in_gives_the_tempo_within_one_bpm(rig: Any) -> None:
    r = rig([], clock=True)
    r.send("start")
    interval, start = 60 / 128 / 24, time.perf_counter()
    for tick in range(24 * 8):                                     # two bars at 128 BPM, paced in real time
        while time.perf_counter() < start + tick * interval:
            time.sleep(0.0005)
        r.send("clock")
    with r.lock:
        tempi = [float(e.value) for e in r.events if e.key == "midi.clock.bpm"]
        beats = [float(e.value) for e in r.events if e.key == "midi.clock.beat"]
    assert tempi and abs(tempi[-1] - 128.0) < 1.0, tempi[-5:]
    assert beats and all(0.0 <= b < 1.0 for b in beats)
    assert "clock 12" in r.midi.status() and "bpm" in r.midi.status()


def test_a_device_unplugged_and_plugged_back_is_reconnected(rig: Any, jack_midi: Any) -> None:  # noqa: F811
    r = rig([MidiBinding("cc", 7, param="fx.a")])
    r.device.close()                                               # unplugged
    wait_for(lambda: not r.midi.ports and r.midi.absent, what="the controller to notice")
    assert "absent" in r.midi.status()
    r.device = jack_midi.open_output(r.name, virtual=True)         # plugged back in
    wait_for(lambda: r.midi.ports and not r.midi.absent, what="the controller to reconnect")
    r.send("control_change", control=7, value=127)
    assert [e.value for e in r.take(1)] == [1.0]


def test_hostile_bytes_leave_the_controller_working(rig: Any) -> None:
    import rtmidi  # type: ignore[import-untyped]
    r = rig([MidiBinding("cc", 7, param="fx.a")])
    raw = rtmidi.MidiOut(rtapi=rtmidi.API_UNIX_JACK)
    raw.open_virtual_port(r.name + "-raw")
    r.midi.patterns.append(r.name + "-raw")
    wait_for(lambda: len(r.midi.ports) == 2, what="the second port")
    rng = random.Random(7)
    for _ in range(2000):
        message = [rng.randrange(256) for _ in range(rng.randrange(1, 12))]
        try:
            raw.send_message(message)
        except (ValueError, rtmidi.RtMidiError):                  # rtmidi refuses some outright
            continue
    raw.send_message([0xF0] + [rng.randrange(128) for _ in range(4000)] + [0xF7])   # a long SysEx
    time.sleep(0.3)
    with r.lock:
        r.events.clear()
    r.send("control_change", control=7, value=127)
    assert any(e.key == "fx.a" and e.value == 1.0 for e in r.take(1))
    raw.close_port()


STOP_UNDER_FLOOD = """
import threading, time, mido
from controllers.midi import MidiInput
from controllers.midi_map import MidiBinding
from engine.clock import WallClock
backend = mido.Backend("mido.backends.rtmidi/UNIX_JACK", load=True)
device = backend.open_output("lsflood", virtual=True)
running = True
def flood():
    while running:
        device.send(mido.Message("control_change", control=7, value=1))
threading.Thread(target=flood, daemon=True).start()
for cycle in range(25):
    midi = MidiInput(ports=["lsflood"], bindings=[MidiBinding("cc", 7, param="fx.a")], rescan=0.05)
    midi.start(lambda event: None, WallClock())
    deadline = time.monotonic() + 5
    while not midi.ports and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)
    midi.stop()                                  # closes its input while messages pour in
running = False
print("done")
"""


def test_stopping_while_a_device_floods_never_freezes_the_process(jack_server: str) -> None:  # noqa: F811
    import subprocess
    import sys

    from tests.controllers.jack import jack_environ
    result = subprocess.run([sys.executable, "-c", STOP_UNDER_FLOOD], env=jack_environ(jack_server),
                            capture_output=True, text=True, timeout=120, cwd=str(__import__("pathlib").Path(
                                __file__).resolve().parents[2]))
    assert result.returncode == 0 and "done" in result.stdout, result.stderr[-2000:]
