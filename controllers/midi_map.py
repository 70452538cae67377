"""MIDI mappings: which control drives what, and how MIDI messages become input events.

A :class:`MidiBinding` ties one control to one target. Controls are what MIDI has:

============  ===========================================================================================
``cc``        a control change, 7-bit absolute (0..127), or ``relative`` (an endless encoder) in one of the
              three common encodings: ``twos`` (two's complement: 1 = +1, 127 = -1), ``signed`` (signed
              bit: 1 = +1, 65 = -1) and ``offset`` (binary offset: 65 = +1, 63 = -1)
``cc14``      a 14-bit control change: MSB on CC n (0..31), LSB on CC n+32, as the MIDI spec pairs them
``nrpn``      a non-registered parameter (0..16383) chosen with CC 99/98, set with data entry CC 6/38
              (14-bit, or 7-bit with ``bits: 7``), stepped with data increment/decrement CC 96/97
``note``      a key or a pad (note on with a velocity above 0 is a press; note off, or velocity 0, a release)
``program``   a program change
============  ===========================================================================================

Targets: a parameter (``param``), a command (``go``, ``stop``, ``panic``, …), a cue (``cue``) or a seed to
jump or glide to (``seed``, ``glide``). A fader or knob on a parameter posts ``norm`` events (0..1 through
the parameter's curve; the engine applies soft takeover); an encoder posts ``step`` events; a button on a
parameter ``toggle`` s it between its ends (or is ``momentary``: on while held), or sets it from the
``velocity``. Velocity is ignored unless mapped. A ``channel`` (1..16) filters; without one any channel
matches. Controller maps (:class:`DeviceMap`, YAML files in ``controllers/maps/``) name a device's controls,
so a show says ``control: fader1`` instead of numbers.

    >>> decoder = MidiDecoder([MidiBinding("cc", 7, param="fx.glow"), MidiBinding("note", 36, command="go")])
    >>> [e.kind for e in decoder.decode(mido.Message("control_change", control=7, value=127), "nano", 1.0)]
    ['norm']
    >>> decoder.decode(mido.Message("note_on", note=36, velocity=100), "nano", 1.0)[0].key
    'go'
"""

from __future__ import annotations

import dataclasses
import fnmatch
import os
import re
from collections.abc import Iterable, Sequence
from typing import Any

import mido  # type: ignore[import-untyped]  # noqa: F401 (the doctests above use it)
import yaml

from engine.inputs import COMMANDS, InputEvent, walk_event

CONTROL_KINDS: tuple[str, ...] = ("cc", "cc14", "nrpn", "note", "program")
RELATIVE_MODES: tuple[str, ...] = ("twos", "signed", "offset")
MAPS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "maps")
SOURCE, BUTTON_SOURCE = "midi", "midi.button"    # faders and knobs catch their parameter softly; buttons do not
MAX_BINDINGS = 1024
_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}\Z")


def decode_relative(value: int, mode: str) -> int:
    """Ticks of an endless encoder from one CC value, in one of RELATIVE_MODES.

    >>> [decode_relative(v, "twos") for v in (1, 3, 127, 125)]
    [1, 3, -1, -3]
    >>> [decode_relative(v, "signed") for v in (1, 65, 67)], [decode_relative(v, "offset") for v in (65, 63)]
    ([1, -1, -3], [1, -1])
    """
    if mode == "twos":
        return value - 128 if value >= 64 else value
    if mode == "signed":
        return -(value & 63) if value & 64 else value & 63
    if mode == "offset":
        return value - 64
    raise ValueError(f"relative encoding must be one of {RELATIVE_MODES}, got {mode!r}")


@dataclasses.dataclass(frozen=True)
class MidiBinding:
    """One control → one target (see the module)."""

    kind: str                       # one of CONTROL_KINDS
    number: int                     # CC (cc14: the MSB's, 0..31), NRPN parameter, note or program
    channel: int | None = None      # 0..15 as mido counts (shows say 1..16); None: any channel
    param: str | None = None
    command: str | None = None
    cue: str | None = None
    seed: int | None = None
    glide: float = 0.0              # seconds for a seed (0: a jump)
    relative: str | None = None     # cc / nrpn: an endless encoder's encoding (RELATIVE_MODES)
    step: float = 1 / 128           # relative: how far one tick moves the 0..1 position
    toggle: bool = False            # a button on a parameter flips it between its ends
    momentary: bool = False         # a button on a parameter holds it at its top while pressed
    velocity: bool = False          # a note on a parameter sets it from the velocity
    invert: bool = False            # absolute controls: the top of the travel is the parameter's bottom
    bits: int = 14                  # nrpn data: 14-bit (CC 6 + 38) or 7-bit (CC 6 only)
    button: bool = False            # a cc that is a button (value > 0 pressed, 0 released)
    led: bool = False               # the host lights this button's LED (cue running, toggle on, standby)
    led_on: int = 127
    led_off: int = 0
    control: str | None = None      # its name in a controller map (fader1), for the HUD and learn

    def __post_init__(self) -> None:
        where = f"MIDI {self.kind} {self.number}"
        if self.kind not in CONTROL_KINDS:
            raise ValueError(f"MIDI control must be one of {CONTROL_KINDS}, got {self.kind!r}")
        top = {"nrpn": 16383, "cc14": 31}.get(self.kind, 127)
        if isinstance(self.number, bool) or not isinstance(self.number, int) or not 0 <= self.number <= top:
            raise ValueError(f"{where}: the number must be 0..{top}")
        if self.channel is not None and not 0 <= self.channel <= 15:
            raise ValueError(f"{where}: channel must be 1..16")
        targets = [t for t in (self.param, self.command, self.cue, self.seed) if t is not None]
        if len(targets) != 1:
            raise ValueError(f"{where}: give exactly one of param, command, cue or seed")
        if self.command is not None and self.command not in COMMANDS:
            raise ValueError(f"{where}: command must be one of {COMMANDS}, got {self.command!r}")
        if self.relative is not None and (self.relative not in RELATIVE_MODES or self.kind not in ("cc", "nrpn")):
            raise ValueError(f"{where}: relative is one of {RELATIVE_MODES}, on a cc or an nrpn")
        if self.bits not in (7, 14) or not 0 < self.step <= 1:
            raise ValueError(f"{where}: bits is 7 or 14, step in (0, 1]")
        for name, value in (("led_on", self.led_on), ("led_off", self.led_off)):
            if not 0 <= value <= 127:
                raise ValueError(f"{where}: {name} must be 0..127")

    @property
    def is_trigger(self) -> bool:
        """Pressed and released rather than moved: notes, programs and cc buttons."""
        return self.kind in ("note", "program") or self.button

    def matches(self, kind: str, number: int, channel: int) -> bool:
        return self.kind == kind and self.number == number and self.channel in (None, channel)

    def describe(self) -> str:
        where = self.control or f"{self.kind} {self.number}"
        return where + (f" ch {self.channel + 1}" if self.channel is not None else "")


@dataclasses.dataclass
class _ChannelState:
    msb: dict[int, int] = dataclasses.field(default_factory=dict)    # cc14: the last MSB per CC
    nrpn: int | None = None                                         # the selected NRPN, when complete
    nrpn_msb: int | None = None
    nrpn_lsb: int | None = None
    data_msb: int = 0


class MidiDecoder:
    """MIDI messages → input events through a list of bindings; keeps the running state MIDI needs (14-bit
    halves, the selected NRPN per port and channel, toggles). Not thread-safe: one port thread feeds it."""

    def __init__(self, bindings: Iterable[MidiBinding] = ()) -> None:
        self.bindings: list[MidiBinding] = list(bindings)[:MAX_BINDINGS]
        self._channels: dict[tuple[str, int], _ChannelState] = {}
        self.toggles: dict[int, bool] = {}                              # index of a toggle binding -> on
        self.unmapped = 0

    def replace(self, binding: MidiBinding) -> None:
        """Add a binding, dropping any other on the same control (MIDI learn)."""
        self.bindings = [b for b in self.bindings
                         if not (b.kind == binding.kind and b.number == binding.number and b.channel == binding.channel)]
        self.bindings.append(binding)
        self.toggles.clear()

    def controls(self, message: Any, port: str) -> list[tuple[str, int, int, int | None]]:
        """The (kind, number, channel, value-or-None) the message completes: a CC may be a cc, a cc14 half
        or part of an NRPN; a note on/off and a program change are themselves. Value None: a release."""
        kind = message.type
        if kind == "note_on" or kind == "note_off":
            pressed = kind == "note_on" and message.velocity > 0
            return [("note", message.note, message.channel, message.velocity if pressed else None)]
        if kind == "program_change":
            return [("program", message.program, message.channel, 127)]
        if kind != "control_change":
            return []
        cc, value, channel = message.control, message.value, message.channel
        if len(self._channels) >= 4096 and (port, channel) not in self._channels:
            self._channels.clear()                                      # bounded, whatever ports appear
        state = self._channels.setdefault((port, channel), _ChannelState())
        found: list[tuple[str, int, int, int | None]] = [("cc", cc, channel, value)]
        if cc < 32:
            state.msb[cc] = value
            found.append(("cc14", cc, channel, value << 7))
        elif cc < 64 and cc - 32 in state.msb and cc != 38:
            found.append(("cc14", cc - 32, channel, state.msb[cc - 32] << 7 | value))
        if cc in (99, 98):                                              # NRPN select (MSB, LSB)
            if cc == 99:
                state.nrpn_msb = value
            else:
                state.nrpn_lsb = value
            state.nrpn = None if state.nrpn_msb is None or state.nrpn_lsb is None else \
                state.nrpn_msb << 7 | state.nrpn_lsb
        elif cc in (101, 100):                                          # an RPN deselects the NRPN
            state.nrpn = state.nrpn_msb = state.nrpn_lsb = None
        elif state.nrpn is not None and cc in (6, 38, 96, 97):
            if cc == 6:
                state.data_msb = value
                found.append(("nrpn", state.nrpn, channel, value << 7))
            elif cc == 38:
                found.append(("nrpn", state.nrpn, channel, state.data_msb << 7 | value))
            else:
                found.append(("nrpn", state.nrpn, channel, -1 if cc == 97 else -2))   # inc / dec markers
        return found

    def decode(self, message: Any, port: str, now: float) -> list[InputEvent]:
        """The events one MIDI message means under the bindings (empty if none matches)."""
        events: list[InputEvent] = []
        matched = False
        for kind, number, channel, value in self.controls(message, port):
            for index, binding in enumerate(self.bindings):
                if binding.matches(kind, number, channel):
                    matched = True
                    event = self._event(index, binding, kind, message, value, now)
                    if event is not None:
                        events.append(event)
        if not matched and message.type in ("control_change", "note_on", "program_change"):
            self.unmapped += 1
        return events

    def _event(self, index: int, b: MidiBinding, kind: str, message: Any, value: int | None,
               now: float) -> InputEvent | None:
        if b.is_trigger:
            return self._trigger(index, b, value, message, now)
        if b.param is None or value is None:
            return None
        if kind == "nrpn" and value < 0:                              # data increment / decrement
            return InputEvent(now, SOURCE, "step", b.param, b.step if value == -1 else -b.step)
        if b.relative is not None:
            raw = value if kind == "cc" else value >> 7
            return InputEvent(now, SOURCE, "step", b.param, decode_relative(raw, b.relative) * b.step)
        top = {"cc": 127, "cc14": 16383, "nrpn": 16383 if b.bits == 14 else 127}[kind]
        if kind == "nrpn" and b.bits == 7:
            if message.control != 6:
                return None
            value >>= 7
        position = value / top
        return InputEvent(now, SOURCE, "norm", b.param, 1.0 - position if b.invert else position)

    def _trigger(self, index: int, b: MidiBinding, value: int | None, message: Any, now: float) -> InputEvent | None:
        pressed = value is not None and value > 0
        if b.param is not None:
            if b.momentary:
                return InputEvent(now, BUTTON_SOURCE, "norm", b.param, 1.0 if pressed else 0.0)
            if not pressed:
                return None
            if b.toggle:
                self.toggles[index] = not self.toggles.get(index, False)
                return InputEvent(now, BUTTON_SOURCE, "norm", b.param, 1.0 if self.toggles[index] else 0.0)
            velocity = getattr(message, "velocity", 127) if b.velocity else 127
            return InputEvent(now, BUTTON_SOURCE, "norm", b.param, velocity / 127)
        if not pressed:
            return None
        if b.cue is not None:
            return InputEvent(now, SOURCE, "command", "start", b.cue)
        if b.seed is not None:
            return walk_event(now, SOURCE, b.seed, b.glide)
        return InputEvent(now, SOURCE, "command", str(b.command))


# --------------------------------------------------------------------------------------- controller maps
@dataclasses.dataclass(frozen=True)
class DeviceControl:
    kind: str               # cc or note
    number: int
    channel: int            # 0..15
    button: bool = False
    led: bool = False
    led_on: int = 127
    led_off: int = 0


@dataclasses.dataclass(frozen=True)
class DeviceMap:
    """A controller's controls by name, from a YAML file in controllers/maps/ (see nanokontrol2.yaml)."""

    name: str
    ports: tuple[str, ...]
    controls: dict[str, DeviceControl]
    hello: tuple[tuple[int, ...], ...] = ()      # SysEx sent when its output opens (select a template)


def device_names() -> list[str]:
    """The controller maps that ship with the engine (file names without .yaml)."""
    try:
        return sorted(f[:-5] for f in os.listdir(MAPS_DIR) if f.endswith(".yaml") and _is_device(f))
    except OSError:
        return []


def _is_device(filename: str) -> bool:
    try:
        with open(os.path.join(MAPS_DIR, filename), encoding="utf-8") as f:
            return "controls:" in f.read(65536)
    except OSError:
        return False


def load_device(name: str) -> DeviceMap:
    """A shipped controller map by name (``nanokontrol2``); ValueError naming the known ones otherwise."""
    if not _NAME.match(name) or name not in device_names():
        raise ValueError(f"unknown MIDI controller map {name[:40]!r}; known: {', '.join(device_names()) or 'none'}")
    path = os.path.join(MAPS_DIR, name + ".yaml")
    with open(path, encoding="utf-8") as f:
        return parse_device(yaml.safe_load(f), path)


def parse_device(data: Any, path: str) -> DeviceMap:
    """Validate a controller map (ValueError: the file, the control and what was expected)."""
    if not isinstance(data, dict) or data.get("format") != 1 or not isinstance(data.get("controls"), dict):
        raise ValueError(f"{path}: expected a mapping with format: 1 and controls:")
    base = _channel(data.get("channel", 1), f"{path}: channel")
    led = data.get("led") or {}
    ports = data.get("ports") or []
    if not isinstance(ports, list) or not all(isinstance(p, str) and p for p in ports):
        raise ValueError(f"{path}: ports: expected a list of name patterns")
    controls: dict[str, DeviceControl] = {}
    seen: dict[tuple[str, int, int], str] = {}
    for name, spec in data["controls"].items():
        where = f"{path}: controls.{name}"
        if not isinstance(name, str) or not _NAME.match(name) or not isinstance(spec, dict):
            raise ValueError(f"{where}: expected a lower-case name and a mapping such as {{cc: 7}}")
        kinds = [k for k in ("cc", "note") if k in spec]
        if len(kinds) != 1 or isinstance(spec[kinds[0]], bool) or not isinstance(spec[kinds[0]], int) \
                or not 0 <= spec[kinds[0]] <= 127:
            raise ValueError(f"{where}: expected exactly one of cc or note, 0..127")
        own_led = spec.get("led", False)
        leds = own_led if isinstance(own_led, dict) else led
        if not isinstance(leds, dict) or any(not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= 127
                                             for v in leds.values()) or not set(leds) <= {"on", "off"}:
            raise ValueError(f'{where}: led: expected {{"on": 0..127, "off": 0..127}} (quote on and off: YAML '
                             "reads them as true and false)")
        control = DeviceControl(kinds[0], spec[kinds[0]], _channel(spec.get("channel", base + 1), f"{where}.channel"),
                                button=bool(spec.get("button", kinds[0] == "note")), led=bool(own_led),
                                led_on=int(leds.get("on", 127)), led_off=int(leds.get("off", 0)))
        key = (control.kind, control.number, control.channel)
        if key in seen:
            raise ValueError(f"{where}: the same {control.kind} {control.number} as {seen[key]}")
        seen[key] = name
        controls[name] = control
    hellos = data.get("hello") or []
    if not isinstance(hellos, list):
        raise ValueError(f"{path}: hello: expected a list of SysEx messages in hex")
    hello = tuple(_sysex(text, f"{path}: hello[{i}]") for i, text in enumerate(hellos[:8]))
    return DeviceMap(str(data.get("name", os.path.basename(path)))[:60], tuple(ports), controls, hello)


def _sysex(text: Any, where: str) -> tuple[int, ...]:
    """``"F0 00 20 29 02 11 77 08 F7"``: a SysEx message in hex, its data bytes 7-bit."""
    try:
        data = tuple(int(part, 16) for part in str(text).split())
    except ValueError:
        data = ()
    if not (3 <= len(data) <= 256 and data[0] == 0xF0 and data[-1] == 0xF7 and all(b < 0x80 for b in data[1:-1])):
        raise ValueError(f"{where}: expected a SysEx message in hex, F0 … F7, got {str(text)[:40]!r}")
    return data


def _channel(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 16:
        raise ValueError(f"{where}: expected a MIDI channel 1..16, got {value!r}")
    return value - 1


def binding_for_control(device: DeviceMap, control: str, **target: Any) -> MidiBinding:
    """A binding on a named control of a controller map."""
    try:
        c = device.controls[control]
    except KeyError:
        raise ValueError(f"{device.name} has no control {control[:40]!r}; it has "
                         f"{', '.join(sorted(device.controls))}") from None
    return MidiBinding(c.kind, c.number, c.channel, button=c.button and c.kind == "cc", led=c.led,
                       led_on=c.led_on, led_off=c.led_off, control=control, **target)


def port_matches(name: str, patterns: Sequence[str]) -> bool:
    """Whether a port name matches one of the patterns: globs (``nanoKONTROL2*``) or, without wildcards,
    a part of the name; case does not matter.

    >>> port_matches("nanoKONTROL2:nanoKONTROL2 MIDI 1 24:0", ["nanokontrol2"])
    True
    """
    lowered = name.lower()
    for pattern in patterns:
        p = pattern.lower()
        if any(c in p for c in "*?["):
            if fnmatch.fnmatchcase(lowered, p):
                return True
        elif p in lowered:
            return True
    return False


# ------------------------------------------------------------------------------------- show file entries
_ENTRY_KEYS = ("control", *CONTROL_KINDS, "channel", "param", "command", "cue", "seed", "glide", "relative",
               "step", "toggle", "momentary", "velocity", "invert", "bits", "button", "led")


def parse_binding(data: Any, where: str, device: DeviceMap | None = None) -> MidiBinding:
    """One entry of a show's ``inputs: midi: map:`` as a binding; ValueError (one line starting with
    ``where``) otherwise. ``{control: fader1, param: gen.psi}`` needs the show's ``device:``;
    ``{cc: 16, channel: 1, param: walk.speed}``, ``{note: 36, command: go}``, ``{program: 3, cue: intro}``,
    ``{cc: 20, relative: twos, step: 0.01, param: fx.glow}``, ``{note: 40, seed: 42, glide: 2}``."""
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected a mapping such as {{cc: 16, param: walk.speed}}")
    unknown = [str(k) for k in data if k not in _ENTRY_KEYS]
    if unknown:
        raise ValueError(f"{where}: unknown key {unknown[0][:30]!r}; expected some of {', '.join(_ENTRY_KEYS)}")
    controls = [k for k in ("control", *CONTROL_KINDS) if k in data]
    if len(controls) != 1:
        raise ValueError(f"{where}: give exactly one control: control (a name in the device map) or one of "
                         f"{', '.join(CONTROL_KINDS)}")
    target: dict[str, Any] = {}
    for key, kind in (("param", str), ("command", str), ("cue", str), ("seed", int), ("glide", float),
                      ("relative", str), ("step", float), ("bits", int), ("toggle", bool), ("momentary", bool),
                      ("velocity", bool), ("invert", bool), ("button", bool), ("led", bool)):
        if key in data:
            value = data[key]
            ok = isinstance(value, bool) if kind is bool else (
                isinstance(value, (int, float)) and not isinstance(value, bool)) if kind is float else \
                isinstance(value, int) and not isinstance(value, bool) if kind is int else isinstance(value, str)
            if not ok:
                raise ValueError(f"{where}.{key}: expected {kind.__name__ if kind is not str else 'text'}, "
                                 f"got {str(value)[:30]!r}")
            target[key] = float(value) if kind is float else value
    if "glide" in target and not 0 <= target["glide"] <= 1e6:
        raise ValueError(f"{where}.glide: expected 0..1e6 seconds")
    if "seed" in target and not 0 <= target["seed"] <= 2 ** 32 - 1:
        raise ValueError(f"{where}.seed: expected a seed 0..{2 ** 32 - 1}")
    channel = None
    if "channel" in data:
        channel = _channel(data["channel"], f"{where}.channel")
    try:
        if controls[0] == "control":
            if device is None:
                raise ValueError("a named control needs the section's device: (a controller map)")
            name = data["control"]
            if not isinstance(name, str):
                raise ValueError("control: expected a control's name")
            binding = binding_for_control(device, name, **target)
            return dataclasses.replace(binding, channel=channel) if channel is not None else binding
        number = data[controls[0]]
        if isinstance(number, bool) or not isinstance(number, int):
            raise ValueError(f"{controls[0]}: expected a whole number, got {str(number)[:20]!r}")
        return MidiBinding(controls[0], number, channel, **target)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{where}: {exc}") from None
