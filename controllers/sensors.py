"""Biofeedback and other sensors over OSC: addresses → conditioned sources, pulses and contact quality.

A sensor app (Mind Monitor for the Muse headband, EmotiBit's Oscilloscope, a heart-rate bridge,
TouchDesigner) sends OSC; a :class:`SensorMapping` says what one address means:

- ``source: bio.hr`` — a reading, passed through a :mod:`controllers.conditioning` chain (range learning,
  smoothing, clamps, baseline, gating) and posted as a ``source`` event. ``reduce`` says what to do with
  several floats in one message: ``mean`` (a Muse band power per electrode), ``each`` (several samples in
  one message, as EmotiBit sends them) or ``last``; ``arg`` picks one argument instead.
- ``pulse: bio.beat`` — each message is a moment (a heart beat's inter-beat interval arriving): a ``pulse``.
- ``quality: eeg`` — the message is contact quality for the mappings that say ``contact: eeg``; ``levels``
  translates the sender's codes (Mind Monitor's horseshoe: 1 good, 2 medium, 4 bad) into 0..1.

Presets for the common apps are YAML files in ``controllers/maps/`` with a ``sensors:`` list (muse.yaml,
emotibit.yaml, heartrate.yaml); a show names them (``inputs: osc: sensors: [emotibit]``) and may add its
own entries to ``inputs: osc: map:``. One vocabulary is validated by :func:`parse_sensor` for both.

    >>> bank = SensorBank([parse_sensor({"address": "/heartrate", "source": "bio.hr"}, "map[0]")])
    >>> bank.handle("/heartrate", [72.0], now=1.0)
    [InputEvent(time=1.0, source='bio', kind='source', key='bio.hr', value=72.0)]
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Iterable, Sequence
from typing import Any

import yaml

from engine.inputs import SOURCE_KEY, InputEvent

from controllers.conditioning import Conditioner, Conditioning, parse_conditioning

MAPS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "maps")
REDUCTIONS = ("last", "mean", "each")
MAX_SENSORS = 256
MAX_ARGS = 64                   # floats read from one message ("each": samples per message)
_ADDRESS = re.compile(r"/[!-~]{1,199}\Z")
_KEYS = ("address", "source", "pulse", "quality", "contact", "levels", "reduce", "arg", "condition")


@dataclasses.dataclass(frozen=True)
class SensorMapping:
    address: str
    source: str | None = None             # a reading, conditioned
    pulse: str | None = None              # a moment per message
    quality: str | None = None            # contact quality for a group
    contact: str | None = None            # the group whose quality gates this reading
    levels: tuple[tuple[float, float], ...] = ()   # the sender's quality codes -> 0..1
    reduce: str = "last"
    arg: int | None = None
    condition: Conditioning = dataclasses.field(default_factory=lambda: parse_conditioning(None, ""))


def parse_sensor(data: Any, where: str) -> SensorMapping:
    """One sensor entry (a preset's or a show's); ValueError, one line starting with ``where``, otherwise."""
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected a mapping such as {{address: /heartrate, source: bio.hr}}")
    unknown = [str(k) for k in data if k not in _KEYS]
    if unknown:
        raise ValueError(f"{where}: unknown key {unknown[0][:30]!r}; expected some of {', '.join(_KEYS)}")
    address = data.get("address")
    if not isinstance(address, str) or not _ADDRESS.match(address) or any(c in address for c in " #*,?[]{}"):
        raise ValueError(f"{where}.address: expected an OSC address (/ then printable characters, none of "
                         f"#*,?[]{{}}), got {str(address)[:40]!r}")
    kinds = [k for k in ("source", "pulse", "quality") if k in data]
    if len(kinds) != 1:
        raise ValueError(f"{where}: give exactly one of source (a reading), pulse (a moment) or quality (contact)")
    name = data[kinds[0]]
    if kinds[0] == "quality":
        if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_]{0,39}", name):
            raise ValueError(f"{where}.quality: expected a group name such as eeg, got {str(name)[:40]!r}")
    elif not isinstance(name, str) or not SOURCE_KEY.match(name):
        raise ValueError(f"{where}.{kinds[0]}: expected a source name such as bio.hr, got {str(name)[:40]!r}")
    contact = data.get("contact")
    if contact is not None and (not isinstance(contact, str) or not re.fullmatch(r"[a-z][a-z0-9_]{0,39}", contact)):
        raise ValueError(f"{where}.contact: expected a group name such as eeg, got {str(contact)[:40]!r}")
    levels: list[tuple[float, float]] = []
    raw_levels = data.get("levels", {})
    if not isinstance(raw_levels, dict) or len(raw_levels) > 16:
        raise ValueError(f"{where}.levels: expected at most 16 'code: quality' pairs")
    for code, quality in raw_levels.items():
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in (code, quality)) \
                or not 0 <= quality <= 1:
            raise ValueError(f"{where}.levels: expected 'code: quality 0..1' pairs, got {code!r}: {quality!r}")
        levels.append((float(code), float(quality)))
    reduce = data.get("reduce", "last")
    if reduce not in REDUCTIONS:
        raise ValueError(f"{where}.reduce: expected one of {', '.join(REDUCTIONS)}, got {str(reduce)[:20]!r}")
    arg = data.get("arg")
    if arg is not None and (isinstance(arg, bool) or not isinstance(arg, int) or not 0 <= arg < MAX_ARGS):
        raise ValueError(f"{where}.arg: expected an argument index 0..{MAX_ARGS - 1}, got {str(arg)[:20]!r}")
    return SensorMapping(address=address, source=data.get("source"), pulse=data.get("pulse"),
                         quality=data.get("quality"), contact=contact, levels=tuple(levels), reduce=str(reduce),
                         arg=arg, condition=parse_conditioning(data.get("condition"), f"{where}.condition"))


def preset_names() -> list[str]:
    """The sensor presets that ship with the engine."""
    try:
        names = sorted(f[:-5] for f in os.listdir(MAPS_DIR) if f.endswith(".yaml"))
    except OSError:
        return []
    return [n for n in names if _has_sensors(n)]


def _has_sensors(name: str) -> bool:
    try:
        with open(os.path.join(MAPS_DIR, name + ".yaml"), encoding="utf-8") as f:
            return "sensors:" in f.read(65536)
    except OSError:
        return False


def load_preset(name: str) -> list[SensorMapping]:
    """A shipped preset's mappings (``muse``, ``emotibit``, ``heartrate``); ValueError naming the known ones."""
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,39}", name) or name not in preset_names():
        raise ValueError(f"unknown sensor preset {name[:40]!r}; known: {', '.join(preset_names()) or 'none'}")
    path = os.path.join(MAPS_DIR, name + ".yaml")
    with open(path, encoding="utf-8") as f:
        data = yaml.safe_load(f)
    if not isinstance(data, dict) or data.get("format") != 1 or not isinstance(data.get("sensors"), list):
        raise ValueError(f"{path}: expected a mapping with format: 1 and a sensors: list")
    return [parse_sensor(entry, f"{path}: sensors[{i}]") for i, entry in enumerate(data["sensors"][:MAX_SENSORS])]


class SensorBank:
    """The sensor mappings of one OSC input, with a conditioner each; called from the OSC server's thread."""

    source = "bio"

    def __init__(self, mappings: Iterable[SensorMapping]) -> None:
        self.mappings: dict[str, list[tuple[SensorMapping, Conditioner]]] = {}
        for mapping in list(mappings)[:MAX_SENSORS]:
            self.mappings.setdefault(mapping.address, []).append((mapping, Conditioner(mapping.condition)))
        self.refused = 0
        self._last: dict[str, float] = {}           # address -> when its last message came

    def __contains__(self, address: str) -> bool:
        return address in self.mappings

    def capture_baseline(self, now: float) -> None:
        for entries in self.mappings.values():
            for _, conditioner in entries:
                conditioner.capture_baseline(now)

    def handle(self, address: str, values: Sequence[Any], now: float) -> list[InputEvent] | None:
        """The events one message means (None: not a sensor address). Text and non-finite values are
        refused (counted); a message gated by bad contact gives nothing."""
        entries = self.mappings.get(address)
        if entries is None:
            return None
        numbers = [float(v) for v in list(values)[:MAX_ARGS]
                   if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)]
        if len(numbers) < min(len(values), MAX_ARGS):
            self.refused += 1
        events: list[InputEvent] = []
        last, self._last[address] = self._last.get(address, now), now
        for mapping, conditioner in entries:
            picked = numbers if mapping.arg is None else numbers[mapping.arg:mapping.arg + 1]
            if mapping.pulse is not None:
                events.append(InputEvent(now, self.source, "pulse", mapping.pulse, 1.0))
                continue
            if not picked:
                continue
            if mapping.quality is not None:
                self._quality(mapping, picked)
                continue
            samples = picked if mapping.reduce == "each" else \
                [sum(picked) / len(picked)] if mapping.reduce == "mean" else [picked[-1]]
            for i, sample in enumerate(samples):      # several samples: spread over the time since the last
                at = now if len(samples) == 1 else last + (now - last) * (i + 1) / len(samples)
                reading = conditioner.process(at, sample)
                if reading is not None:
                    assert mapping.source is not None
                    events.append(InputEvent(now, self.source, "source", mapping.source, reading))
        return events

    def _quality(self, mapping: SensorMapping, codes: list[float]) -> None:
        levels = dict(mapping.levels)
        qualities = [levels.get(code, min(1.0, max(0.0, code))) if levels else min(1.0, max(0.0, code))
                     for code in codes]
        quality = sum(qualities) / len(qualities)
        for entries in self.mappings.values():
            for other, conditioner in entries:
                if other.contact == mapping.quality:
                    conditioner.quality(quality)
