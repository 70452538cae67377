"""MIDI in: faders, knobs, pads and encoders (mido with python-rtmidi), LED feedback, MIDI clock and learn.

Ports are chosen by name pattern (``nanoKONTROL2*``, or a part of the name), several at once. A thread of
its own looks for them once a second: a device plugged in later is opened then, one unplugged is closed
and shown as absent on the HUD (and in :meth:`MidiInput.status`), and it is opened again when it comes back
— no restart. One thread reads every input (about 500 times a second, without callbacks: see
:mod:`controllers.midi_ports`), runs the messages through the bindings (:mod:`controllers.midi_map`) and
posts events; nothing here touches the engine.

The controller is also a feedback sink: from the state the frame loop offers it, it lights the LEDs of
mapped buttons on the device's output port (a cue's button while the cue runs, a toggle while it is on,
GO while a cue stands by), sends only what changed, and lights them all again after a reconnect. With
``clock`` it follows MIDI beat clock from its ports and posts the sources ``midi.clock.bpm``,
``midi.clock.beat`` and ``midi.clock.bar`` (phases 0..1) about 60 times a second.

MIDI learn: when the state says a parameter is armed (``learn`` command), the next fader, knob, button or
NRPN moved is bound to it here at once and handed to ``on_learn`` (the session writes it into the show
file); the arming is then cleared with a ``learn`` command of no value.

    midi = MidiInput(ports=["nanoKONTROL2"], bindings=[MidiBinding("cc", 0, param="gen.psi")])
    midi.start(engine.post, engine.clock)
    print(midi.status())              # "midi nanoKONTROL2: 1 port, 120 messages"

Linux with JACK: ``MIDO_BACKEND=mido.backends.rtmidi/UNIX_JACK`` (ALSA is rtmidi's default).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import mido  # type: ignore[import-untyped]

from engine.clock import Clock
from engine.feedback import FeedbackState
from engine.inputs import InputError, InputEvent
from engine.logs import Throttle

from controllers.base import Listening, Post
from controllers.midi_clock import ClockTracker
from controllers.midi_map import SOURCE, DeviceMap, MidiBinding, MidiDecoder, port_matches
from controllers.midi_ports import PortDirectory

log = logging.getLogger(__name__)
_throttle = Throttle(log, interval=10.0)

RESCAN_SECONDS = 1.0
POLL_SECONDS = 0.002               # inputs are read this often (rtmidi's queue; no callbacks, see midi_ports)
TICK_SECONDS = 1 / 60              # LEDs and clock sources
MAX_BACKOFF = 30                   # with no MIDI system, look again at most every 30 rescans
CLOCK_TYPES = {"clock": "clock", "start": "start", "continue": "continue", "stop": "stop", "songpos": "songpos"}


class MidiInput(Listening):
    """Listens to every MIDI input port whose name matches ``ports`` (see the module docstring)."""

    name = "midi"

    def __init__(self, ports: Sequence[str] = ("*",), bindings: Iterable[MidiBinding] = (), clock: bool = False,
                 device: str | None = None, on_learn: Callable[[MidiBinding], None] | None = None,
                 range_of: Callable[[str], tuple[float, float]] | None = None,
                 hello: Sequence[Sequence[int]] = (), rescan: float = RESCAN_SECONDS,
                 backend: str | None = None) -> None:
        """``range_of`` gives a parameter's (min, max), so a toggle's LED knows which end it is at;
        ``hello`` are SysEx messages sent to each output port that opens (a template select); ``backend``
        is a mido backend by name (``mido.backends.rtmidi/UNIX_JACK``; default: mido's, or $MIDO_BACKEND)."""
        backend = backend or os.environ.get("MIDO_BACKEND")      # read now, not when mido was imported
        self.directory = PortDirectory(mido.Backend(backend, load=True) if backend else mido.backend)
        self.patterns = list(ports) or ["*"]
        self.decoder = MidiDecoder(bindings)
        self.follow_clock = clock
        self.device = device
        self.on_learn = on_learn
        self.rescan = rescan
        self.range_of = range_of
        self.hello = [tuple(m) for m in hello]
        self.messages = 0
        self.last_problem = ""
        self.ports: dict[str, Any] = {}            # open inputs by name
        self.outputs: dict[str, Any] = {}          # open outputs (LEDs) by name
        self.absent: dict[str, float] = {}         # ports that went away -> when (monotonic)
        self.tracker = ClockTracker()
        self._lock = threading.Lock()              # the decoder and the tracker (our thread; status reads)
        self._post: Post | None = None
        self._clock: Clock | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._state: FeedbackState | None = None
        self._leds: dict[tuple[str, int, int], int] = {}    # (kind, number, channel) -> value last sent
        self._learned_for: str | None = None
        self._learned: queue.Queue[MidiBinding] = queue.Queue(maxsize=64)
        self._backoff = 1                          # rescans wait longer while there is no MIDI system

    # --------------------------------------------------------------------------------- as a feedback sink
    def offer(self, state: FeedbackState) -> None:
        self._state = state                        # one reference, swapped whole

    def status(self) -> str:
        label = self.device or ",".join(self.patterns)[:30]
        line = f"midi {label}: {len(self.ports)} port{'s' if len(self.ports) != 1 else ''}, {self.messages} messages"
        if self.absent:
            line += ", absent: " + ", ".join(sorted(self.absent))[:40]
        elif not self.ports:
            line += " (no port matches yet)"
        if self.follow_clock and self.tracker.bpm is not None:
            line += f", clock {self.tracker.bpm:.1f} bpm"
        if self.last_problem:
            line += f" ({self.last_problem[:40]})"
        return line

    def rebind(self, bindings: Iterable[MidiBinding]) -> None:
        """A reloaded show's mappings take over (ports and the device map stay as they were opened)."""
        decoder = MidiDecoder(bindings)
        with self._lock:
            self.decoder = decoder
            self._leds.clear()                     # light the new buttons as the state says

    # ------------------------------------------------------------------------------------------- lifecycle
    def start(self, post: Post, clock: Clock) -> None:
        self._post, self._clock = post, clock
        self._stop.clear()
        self._scan()
        self._thread = threading.Thread(target=self._run, name="midi-in", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        for reader in self.ports.values():
            reader.close()
        for port in self.outputs.values():
            _close(port)
        self.ports.clear()
        self.outputs.clear()
        self.directory.close()
        self._post = None

    # ------------------------------------------------------------------------------------ the port thread
    def _run(self) -> None:
        """One thread does it all, so the ports are only ever touched here: read every input about 500
        times a second, follow the state (LEDs, clock sources) 60 times a second, look for ports once a
        second, and write learned mappings."""
        last_scan = last_tick = time.monotonic()
        while not self._stop.wait(POLL_SECONDS):
            try:
                for name, reader in list(self.ports.items()):
                    for message, stamp in reader.receive():
                        self._message(message, name, stamp)
                now = time.monotonic()
                if now - last_tick >= TICK_SECONDS:
                    last_tick = now
                    self._feedback()
                if now - last_scan >= self.rescan * self._backoff:
                    last_scan = now
                    self._scan()
                while not self._learned.empty():
                    binding = self._learned.get_nowait()
                    if self.on_learn is not None:
                        self.on_learn(binding)
            except Exception as exc:  # a device or a learn write failing must not end the thread
                self._problem(f"{type(exc).__name__}: {exc}")

    def _scan(self) -> None:
        """Open ports that match and are new; close and report those that went away."""
        try:
            names_in, names_out = self.directory.names()
            inputs = [n for n in names_in if port_matches(n, self.patterns)]
            outputs = [n for n in names_out if port_matches(n, self.patterns)]
        except Exception as exc:  # no MIDI system (no ALSA sequencer, no JACK server): report, retry less often
            self._backoff = min(self._backoff * 2, MAX_BACKOFF)
            self._problem(f"cannot list MIDI ports ({exc}); trying again in {self.rescan * self._backoff:.0f} s")
            return
        self._backoff = 1
        for name in list(self.ports):
            if name not in inputs:
                self.ports.pop(name).close()
                self.absent[name] = time.monotonic()
                log.warning("MIDI: %s went away; it is opened again when it comes back", name)
        for name in list(self.outputs):
            if name not in outputs:
                _close(self.outputs.pop(name))
        for name in inputs:
            if name not in self.ports and len(self.ports) < 16:
                try:
                    self.ports[name] = self.directory.open_input(name)
                except Exception as exc:  # busy, vanished between listing and opening: next scan retries
                    self._problem(f"cannot open {name[:40]} ({exc})")
                    continue
                if self.absent.pop(name, None) is not None:
                    log.info("MIDI: %s is back", name)
                else:
                    log.info("MIDI in: %s", name)
        for name in outputs:
            if name not in self.outputs and len(self.outputs) < 16:
                try:
                    self.outputs[name] = port = self.directory.open_output(name)
                    for data in self.hello:
                        port.send(mido.Message("sysex", data=data[1:-1]))
                    self._leds.clear()             # a device plugged back in has lost its LEDs: send all
                except Exception as exc:
                    self._problem(f"cannot open {name[:40]} for LEDs ({exc})")

    # ------------------------------------------------------------------------------------------ messages
    def _message(self, message: Any, port: str, stamp: float) -> None:
        post, clock = self._post, self._clock
        if post is None or clock is None:
            return
        now = clock.now()
        try:
            with self._lock:
                self.messages += 1
                if message.type in CLOCK_TYPES:
                    if self.follow_clock:
                        value = getattr(message, "pos", 0)
                        self.tracker.feed(stamp, CLOCK_TYPES[message.type], value)
                    return
                if self._learn(message, port, now, post):
                    return
                events = self.decoder.decode(message, port, now)
        except (ValueError, InputError) as exc:
            self._problem(f"{port[:30]}: {exc}")
            return
        for event in events:
            post(event)

    def _learn(self, message: Any, port: str, now: float, post: Post) -> bool:
        """Bind the armed parameter to the control this message comes from (True: it was learned)."""
        state = self._state
        armed = state.learning if state is not None else None
        if armed is None or armed == self._learned_for:
            if armed is None:
                self._learned_for = None
            return False
        controls = self.decoder.controls(message, port)
        nrpn = [c for c in controls if c[0] == "nrpn"]
        kind, number, channel, value = (nrpn or controls or [("", 0, 0, None)])[0]
        if kind == "cc" and number in (98, 99, 100, 101):
            return True                            # an NRPN's (or RPN's) select: wait for its data
        if kind not in ("cc", "note", "nrpn"):
            return False                           # program changes, pitch bend: not learned
        binding = MidiBinding(kind, number, channel, param=armed, toggle=kind == "note")
        self.decoder.replace(binding)
        self._learned_for = armed
        post(InputEvent(now, SOURCE, "command", "learn", None))
        log.info("MIDI learn: %s -> %s", binding.describe(), armed)
        try:
            self._learned.put_nowait(binding)
        except queue.Full:
            self._problem("too many learned controls waiting to be written")
        return True

    # ------------------------------------------------------------------------------------------ feedback
    def _feedback(self) -> None:
        post, clock = self._post, self._clock
        if self.follow_clock and post is not None and clock is not None:
            with self._lock:
                sources = self.tracker.sources(time.monotonic()) if not self.tracker.stale(time.monotonic()) else {}
            now = clock.now()
            for name, reading in sources.items():
                post(InputEvent(now, SOURCE, "source", name, float(reading)))
        state = self._state
        if state is None or not self.outputs:
            return
        for binding, lit in self._led_states(state):
            value = binding.led_on if lit else binding.led_off
            led = (binding.kind, binding.number, binding.channel or 0)
            if self._leds.get(led) == value:
                continue
            self._leds[led] = value
            message = mido.Message("control_change", channel=led[2], control=binding.number, value=value) \
                if binding.kind == "cc" else mido.Message("note_on", channel=led[2], note=binding.number, velocity=value)
            for name, port in list(self.outputs.items()):
                try:
                    port.send(message)
                except Exception as exc:
                    self._problem(f"LEDs on {name[:30]}: {exc}")

    def _led_states(self, state: FeedbackState) -> list[tuple[MidiBinding, bool]]:
        """What each LED button should show: its cue running, its toggle on, GO while a cue stands by."""
        lit: list[tuple[MidiBinding, bool]] = []
        for b in self.decoder.bindings:
            if not b.led or b.kind not in ("cc", "note"):
                continue
            if b.cue is not None:
                lit.append((b, b.cue in state.running))
            elif b.param is not None:
                value = state.values.get(b.param)
                lit.append((b, value is not None and self._is_high(b.param, value, state)))
            elif b.command == "go":
                lit.append((b, state.standby is not None))
            else:
                lit.append((b, False))
        return lit

    def _is_high(self, key: str, value: float, state: FeedbackState) -> bool:
        try:
            low, high = self.range_of(key) if self.range_of is not None else (0.0, 1.0)
        except KeyError:
            return False
        return value > low + (high - low) / 2

    def _problem(self, text: str) -> None:
        self.last_problem = text
        _throttle.warning("midi:" + text[:30], "MIDI: %s", text)


def _close(port: Any) -> None:
    try:
        port.close()
    except Exception as exc:  # a port whose device vanished may fail to close; it is gone either way
        log.debug("closing a MIDI port: %s", exc)


def learned_entry(binding: MidiBinding, device: DeviceMap | None = None) -> dict[str, object]:
    """A learned binding as a show file's map entry: by the control's name when the device map has it.

    >>> learned_entry(MidiBinding("cc", 16, 0, param="walk.speed"))
    {'cc': 16, 'channel': 1, 'param': 'walk.speed'}
    """
    entry: dict[str, object] = {}
    named = [name for name, c in (device.controls.items() if device is not None else ())
             if (c.kind, c.number, c.channel) == (binding.kind, binding.number, binding.channel)]
    if named:
        entry["control"] = named[0]
    else:
        entry[binding.kind] = binding.number
        if binding.channel is not None:
            entry["channel"] = binding.channel + 1
    entry["param"] = binding.param
    if binding.toggle:
        entry["toggle"] = True
    return entry
