"""The ``inputs:`` section of a show file: the keyboard, OSC (addresses, sensors, feedback targets), MIDI,
Ableton Link, quantised GO and modulations. Validated with the rest of the show, each problem at its
file:line:column.

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
        - {source: audio.band.high, param: vignette.amount, amount: 0.3, smooth: [0.01, 0.4]}
      audio: {file: music/track.flac, react: {pulse: {direction: sefa0}}}   # engine.show.load_audio

MIDI and sensor entries are checked by the same validators the controllers use (controllers.midi_map,
controllers.sensors), so a show and a preset file speak one vocabulary; the show adds where each is.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import yaml
from yaml import Node

from engine.inputs import SOURCE_KEY, TAKEOVER_MODES
from engine.show.model import OSC_RESERVED
from engine.show.yaml_nodes import clip as _clip, kind_of as _kind

if TYPE_CHECKING:
    from engine.show.load import _Reader

MAX_OSC_MAPPINGS = 256          # custom OSC mappings in a show
MAX_KEYS = 128                   # keys in a show's keyboard map
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
                                 "beats", "wraps", "stale", "fade", "smooth"), required=("source", "param"))
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
        for flag in ("invert", "centre", "beats", "wraps"):
            if flag in f:
                values[flag] = r.boolean(f[flag][1], f"{at}.{flag}")
        for seconds in ("stale", "fade"):
            if seconds in f:
                values[seconds] = r.number(f[seconds][1], f"{at}.{seconds}", 0.0, 3600.0)
        if "envelope" in f:
            values["envelope"] = r.pair(f["envelope"][1], f"{at}.envelope", 0.0, 3600.0)
        if "smooth" in f:
            values["smooth"] = r.pair(f["smooth"][1], f"{at}.smooth", 0.0, 3600.0)
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


def osc(r: _Reader, node: Node, where: str) -> dict[str, object] | None:
    """``osc: {port: 9000, host: 127.0.0.1, allow: [192.168.1.20], out: ["192.168.1.20:9001"]}``: where to
    listen, (optionally) the only senders to listen to, and where feedback goes."""
    import ipaddress
    fields = r.mapping(node, where, ("port", "host", "allow", "out", "map", "sensors"))
    values: dict[str, object] = {}
    ok = True
    if "port" in fields:
        port = r.integer(fields["port"][1], f"{where}.port", minimum=0, maximum=65535)
        ok = ok and port is not None
        values["port"] = port
    if "host" in fields:
        from controllers.osc import is_host
        host = r.scalar(fields["host"][1], f"{where}.host")
        if host is not None and not is_host(host):
            r.error(fields["host"][1], "E016", f"{where}.host: '{_clip(host)}' is not an address to listen on")
            host = None
        ok = ok and host is not None
        values["host"] = host
    if "allow" in fields:
        allowed = []
        for item in r.sequence(fields["allow"][1], f"{where}.allow")[:256]:
            text = r.scalar(item, f"{where}.allow")
            try:
                allowed.append(str(ipaddress.ip_address(text or "")))
            except ValueError:
                r.error(item, "E016", f"{where}.allow: '{_clip(str(text))}' is not an IP address")
                ok = False
        values["allow"] = tuple(allowed)
    if "out" in fields:
        from controllers.osc import parse_endpoint
        targets = []
        for item in r.sequence(fields["out"][1], f"{where}.out")[:16]:
            text = r.scalar(item, f"{where}.out")
            try:
                parse_endpoint(text or "")
                targets.append(text or "")
            except ValueError as exc:
                r.error(item, "E016", f"{where}.out: {exc}")
                ok = False
        values["out"] = tuple(targets)
    if "map" in fields:
        items = r.sequence(fields["map"][1], f"{where}.map")
        if len(items) > MAX_OSC_MAPPINGS:
            r.error(fields["map"][1], "E005", f"{where}.map: {len(items)} mappings; at most {MAX_OSC_MAPPINGS}")
            items, ok = [], False
        sensed = [sensor_entry(r, item, f"{where}.map[{i}]")
                  for i, item in enumerate(items) if is_sensor_entry(item)]
        mappings = [osc_mapping(r, item, f"{where}.map[{i}]") for i, item in enumerate(items)
                    if not is_sensor_entry(item)]
        ok = ok and all(m is not None for m in mappings) and all(m is not None for m in sensed)
        values["map"] = tuple(m for m in mappings if m is not None)
        values["sensors"] = tuple(m for m in sensed if m is not None)
    if "sensors" in fields:
        presets = sensors(r, fields["sensors"][1], f"{where}.sensors")
        ok = ok and presets is not None
        own: Any = values.get("sensors", ())
        values["sensors"] = (presets or ()) + tuple(own)
    return values if ok else None


def osc_mapping(r: _Reader, node: Node, where: str) -> dict[str, object] | None:
    """``{address: /heartrate, param: walk.speed, range: [40, 180], to: [0.2, 2], curve: sqrt, invert: false,
    smoothing: 0.5, arg: 0}`` or ``{address: /td/go, command: go}``."""
    from engine.inputs import COMMANDS
    from engine.params import PARAM_CURVES
    f = r.mapping(node, where, ("address", "arg", "param", "command", "range", "to", "curve", "invert",
                                   "smoothing"), required=("address",))
    ok = True
    out: dict[str, object] = {}
    address = r.scalar(f["address"][1], f"{where}.address") if "address" in f else None
    well_formed = address is not None and re.fullmatch(r"/[!-~]{1,199}", address) is not None \
        and not any(c in OSC_RESERVED - {"/"} for c in address)
    if address is not None and not well_formed:
        r.error(f["address"][1], "E016", f"{where}.address: '{_clip(str(address))}' is not an OSC address "
                                            "(a / then printable characters, none of #*,?[]{{}})")
        ok = False
    out["address"] = address
    if ("param" in f) == ("command" in f):
        r.error(node, "E012", f"{where}: give exactly one of 'param' or 'command'")
        return None
    if "command" in f:
        command = r.choice(f["command"][1], f"{where}.command", COMMANDS)
        for extra in ("range", "to", "curve", "invert", "smoothing"):
            if extra in f:
                r.error(f[extra][0], "E001", f"{where}: '{extra}' belongs to a parameter mapping")
                ok = False
        out["command"] = command
        ok = ok and command is not None
    else:
        key = r.param_key(f["param"][1], f"{where}.param")
        ok = ok and key is not None
        out["param"] = key
        low, high = r.param_range(key) if key is not None else (0.0, 1.0)
        out["range"] = r.pair(f["range"][1], f"{where}.range") if "range" in f else (0.0, 1.0)
        out["to"] = r.pair(f["to"][1], f"{where}.to", low, high) if "to" in f else (low, high)
        out["curve"] = r.choice(f["curve"][1], f"{where}.curve", PARAM_CURVES) if "curve" in f else "linear"
        out["invert"] = r.boolean(f["invert"][1], f"{where}.invert") if "invert" in f else False
        out["smoothing"] = r.number(f["smoothing"][1], f"{where}.smoothing", time=True) \
            if "smoothing" in f else 0.0
        ok = ok and all(out[k] is not None for k in ("range", "to", "curve", "invert", "smoothing"))
    out["arg"] = r.integer(f["arg"][1], f"{where}.arg", minimum=0, maximum=15) if "arg" in f else 0
    ok = ok and out["arg"] is not None
    return out if ok else None


def keyboard(r: _Reader, node: Node, where: str) -> dict[str, str] | None:
    """``keys: {g: go, x: panic, space: none, l: learn gen.psi}``: the default key map with these changes
    (``none`` frees a key; ``learn PARAM`` arms MIDI learn for a parameter, a second press disarms). Key
    names are the window's (``space``, ``up``, ``a``, ``_1`` for the digit 1)."""
    from engine.inputs import COMMANDS
    fields = r.mapping(node, where, ("keys",), required=("keys",))
    if "keys" not in fields:
        return None
    entries = fields["keys"][1]
    if not isinstance(entries, yaml.MappingNode):
        r.error(entries, "E011", f"{where}.keys: expected a mapping of key: command, found {_kind(entries)}")
        return None
    keys: dict[str, str] = {}
    ok = True
    for key_node, value_node in entries.value[:MAX_KEYS]:
        key = key_node.value if isinstance(key_node, yaml.ScalarNode) else ""
        if not re.fullmatch(r"[a-z0-9_]{1,24}", str(key)):
            r.error(key_node, "E016", f"{where}.keys: '{_clip(str(key))}' is not a key name (lower case, "
                                         "like space, up, a, _1, f5)")
            ok = False
            continue
        if key in ("f", "f11"):
            r.error(key_node, "E016", f"{where}.keys: '{key}' toggles fullscreen in the window")
            ok = False
            continue
        text = value_node.value if isinstance(value_node, yaml.ScalarNode) else ""
        command: str | None
        nudge = re.fullmatch(r"nudge (\S{1,81}) ([-+]?\d{1,6}(?:\.\d{1,6})?)", text) if isinstance(text, str) else None
        if nudge is not None:                                       # "nudge dir.sefa0 0.5": a step of a parameter
            target = r.param_key(yaml.ScalarNode("tag:yaml.org,2002:str", nudge[1], value_node.start_mark,
                                                 value_node.end_mark), f"{where}.keys.{key}")
            command = f"nudge {target} {float(nudge[2])!r}" if target is not None else None
        elif isinstance(text, str) and re.fullmatch(r"(positive|negative) [a-z][a-z0-9_]{0,39}", text):
            command = text                                          # label the frame for a direction
        elif isinstance(text, str) and text.startswith("learn "):    # "learn gen.psi": arm MIDI learn
            target = r.param_key(yaml.ScalarNode("tag:yaml.org,2002:str", text[6:].strip(),
                                                    value_node.start_mark, value_node.end_mark),
                                    f"{where}.keys.{key}")
            command = f"learn {target}" if target is not None else None
        else:
            command = r.choice(value_node, f"{where}.keys.{key}", (*COMMANDS, "none"))
        if command is None:
            ok = False
        else:
            keys[key] = command
    if len(entries.value) > MAX_KEYS:
        r.error(entries, "E005", f"{where}.keys: {len(entries.value)} keys; at most {MAX_KEYS}")
        ok = False
    return keys if ok else None
