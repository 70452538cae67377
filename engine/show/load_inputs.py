"""The ``inputs:`` section of a show file beyond the keyboard and OSC addresses: MIDI, sensors, Ableton Link,
quantised GO and modulations. Validated with the rest of the show, each problem at its file:line:column.

    inputs:
      midi:
        ports: [nanoKONTROL2]          # name patterns (a part of the name, or a glob)
        device: nanokontrol2           # a controller map from controllers/maps/ (names its controls)
        takeover: pickup               # pickup | scale | none (soft takeover of faders and knobs)
        clock: true                    # follow MIDI clock: sources midi.clock.bpm, .beat, .bar
        map:
          - {control: fader1, param: gen.psi}
          - {cc: 20, channel: 2, relative: twos, param: walk.speed}
          - {control: play, command: go}
          - {note: 36, cue: intro}
      link: {bpm: 120, quantum: 4}     # join an Ableton Link session: link.bpm, .beat, .bar
      quantize: {clock: link, to: bar} # GO waits for the next beat or bar of that clock
      osc:
        sensors: [emotibit]            # presets from controllers/maps/ (muse, emotibit, heartrate)
      modulate:                        # sources on top of parameters (engine.sources)
        - {source: bio.eda, param: walk.speed, amount: 0.3}
        - {source: bio.hr, param: vignette.amount, beats: true, envelope: [0.02, 0.3], amount: 0.4}

MIDI and sensor entries are checked by the same validators the controllers use (controllers.midi_map,
controllers.sensors), so a show and a preset file speak one vocabulary; the show adds where each is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import yaml
from yaml import Node

from engine.inputs import SOURCE_KEY, TAKEOVER_MODES

if TYPE_CHECKING:
    from engine.show.load import _Reader

MAX_MIDI_MAPPINGS = 512
MAX_MODULATIONS = 256
MAX_PORT_PATTERNS = 16
CLOCKS = ("midi.clock", "link")


def plain(node: Node) -> Any:
    """A node's plain data (dicts, lists, numbers, text) for the validators that read plain data; the file
    was bounded when it was composed, so this cannot grow past it."""
    return yaml.constructor.SafeConstructor().construct_object(node, deep=True)


def midi(r: _Reader, node: Node, where: str) -> dict[str, object] | None:
    from controllers.midi_map import load_device, parse_binding
    f = r.mapping(node, where, ("ports", "device", "takeover", "clock", "map"))
    ok = True
    values: dict[str, object] = {}
    if "ports" in f:
        items = f["ports"][1]
        patterns = [r.scalar(n, f"{where}.ports") for n in r.sequence(items, f"{where}.ports")] \
            if isinstance(items, yaml.SequenceNode) else [r.scalar(items, f"{where}.ports")]
        if len(patterns) > MAX_PORT_PATTERNS or any(p is None or not 0 < len(p) <= 100 for p in patterns):
            r.error(items, "E016", f"{where}.ports: expected up to {MAX_PORT_PATTERNS} port name patterns")
            ok = False
        values["ports"] = tuple(p for p in patterns if p)
    device = None
    if "device" in f:
        name = r.scalar(f["device"][1], f"{where}.device")
        try:
            device = load_device(name or "")
            values["device"] = name
            values.setdefault("ports", device.ports)
        except ValueError as exc:
            r.error(f["device"][1], "E016", f"{where}.device: {exc}")
            ok = False
    if "takeover" in f:
        values["takeover"] = r.choice(f["takeover"][1], f"{where}.takeover", TAKEOVER_MODES)
        ok = ok and values["takeover"] is not None
    if "clock" in f:
        values["clock"] = r.boolean(f["clock"][1], f"{where}.clock")
        ok = ok and values["clock"] is not None
    if "map" in f:
        items = r.sequence(f["map"][1], f"{where}.map")
        if len(items) > MAX_MIDI_MAPPINGS:
            r.error(f["map"][1], "E005", f"{where}.map: {len(items)} mappings; at most {MAX_MIDI_MAPPINGS}")
            items, ok = [], False
        bindings = []
        for i, item in enumerate(items):
            try:
                binding = parse_binding(plain(item), f"{where}.map[{i}]", device)
            except ValueError as exc:
                r.error(item, "E016", str(exc))
                ok = False
                continue
            if binding.param is not None and r.param_key(_node_of(item, "param"), f"{where}.map[{i}].param") is None:
                ok = False
            elif binding.cue is not None:              # cues are read after the inputs: checked then
                r.pending_cues.append((binding.cue, item, f"{where}.map[{i}].cue"))
            bindings.append(binding)
        values["map"] = tuple(bindings)
    return values if ok else None


def sensors(r: _Reader, node: Node, where: str) -> tuple[Any, ...] | None:
    """``sensors: [emotibit, muse]``: presets by name, their mappings in order."""
    from controllers.sensors import load_preset
    found: list[Any] = []
    ok = True
    for item in r.sequence(node, where)[:16]:
        name = r.scalar(item, where)
        try:
            found.extend(load_preset(name or ""))
        except ValueError as exc:
            r.error(item, "E016", f"{where}: {exc}")
            ok = False
    return tuple(found) if ok else None


def sensor_entry(r: _Reader, node: Node, where: str) -> Any:
    """A show's own sensor address in ``inputs: osc: map:`` (an entry with source, pulse or quality)."""
    from controllers.sensors import parse_sensor
    try:
        return parse_sensor(plain(node), where)
    except ValueError as exc:
        r.error(node, "E016", str(exc))
        return None


def is_sensor_entry(node: Node) -> bool:
    return isinstance(node, yaml.MappingNode) and any(
        isinstance(k, yaml.ScalarNode) and k.value in ("source", "pulse", "quality") for k, _ in node.value)


def link(r: _Reader, node: Node, where: str) -> dict[str, object] | None:
    f = r.mapping(node, where, ("bpm", "quantum"))
    values: dict[str, object] = {"bpm": 120.0, "quantum": 4}
    if "bpm" in f:
        values["bpm"] = r.number(f["bpm"][1], f"{where}.bpm", 20.0, 999.0)
    if "quantum" in f:
        values["quantum"] = r.integer(f["quantum"][1], f"{where}.quantum", 1, 16)
    return values if None not in values.values() else None


def quantize(r: _Reader, node: Node, where: str) -> tuple[str, str] | None:
    f = r.mapping(node, where, ("clock", "to"), required=("clock",))
    clock = r.choice(f["clock"][1], f"{where}.clock", CLOCKS) if "clock" in f else None
    unit = r.choice(f["to"][1], f"{where}.to", ("beat", "bar")) if "to" in f else "beat"
    return (clock, unit) if clock is not None and unit is not None else None


def modulations(r: _Reader, node: Node, where: str) -> tuple[Any, ...] | None:
    """``modulate:`` entries as engine.sources.Modulation (a source, a parameter and how)."""
    from engine.params import PARAM_CURVES
    from engine.sources import Modulation
    items = r.sequence(node, where)
    if len(items) > MAX_MODULATIONS:
        r.error(node, "E005", f"{where}: {len(items)} modulations; at most {MAX_MODULATIONS}")
        return None
    found = []
    ok = True
    for i, item in enumerate(items):
        at = f"{where}[{i}]"
        f = r.mapping(item, at, ("source", "param", "range", "amount", "curve", "invert", "centre", "envelope",
                                 "beats", "stale", "fade"), required=("source", "param"))
        if "source" not in f or "param" not in f:
            ok = False
            continue
        values: dict[str, Any] = {}
        source = r.scalar(f["source"][1], f"{at}.source")
        if source is not None and not SOURCE_KEY.match(source):
            r.error(f["source"][1], "E016", f"{at}.source: '{source[:40]}' is not a source name (like bio.hr)")
            source = None
        values["source"] = source
        values["param"] = r.param_key(f["param"][1], f"{at}.param")
        if "range" in f:
            values["range"] = r.pair(f["range"][1], f"{at}.range")
        if "amount" in f:
            values["amount"] = r.number(f["amount"][1], f"{at}.amount", -16.0, 16.0)
        if "curve" in f:
            values["curve"] = r.choice(f["curve"][1], f"{at}.curve", PARAM_CURVES, "E009")
        for flag in ("invert", "centre", "beats"):
            if flag in f:
                values[flag] = r.boolean(f[flag][1], f"{at}.{flag}")
        for seconds in ("stale", "fade"):
            if seconds in f:
                values[seconds] = r.number(f[seconds][1], f"{at}.{seconds}", 0.0, 3600.0)
        if "envelope" in f:
            values["envelope"] = r.pair(f["envelope"][1], f"{at}.envelope", 0.0, 3600.0)
        if any(v is None for v in values.values()):
            ok = False
            continue
        try:
            found.append(Modulation(**values))
        except ValueError as exc:
            r.error(item, "E016", f"{at}: {exc}")
            ok = False
    return tuple(found) if ok else None


def _node_of(mapping: Node, key: str) -> Node:
    for k, v in mapping.value:
        if isinstance(k, yaml.ScalarNode) and k.value == key:
            return v
    return mapping
