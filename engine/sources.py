"""Sources and modulations: what inputs measure, and how that moves parameters without fighting a fader.

A **source** is a reading from outside (``bio.hr``, ``bio.eeg.alpha``, ``midi.clock.bpm``, ``link.beat``):
read-only, named like a parameter with one or more dot levels, posted as ``source`` events by controllers
(sensor presets, the MIDI clock, Ableton Link, audio later) and kept in a :class:`SourceStore`. A **pulse**
is a moment (a heart beat, a pad hit) with a strength 0..1.

A :class:`Modulation` connects a source to a parameter *on top of its base value* (DESIGN.md §3), the way an
LFO modulates a synthesiser's cutoff: performers and cues set the base, modulations add to it, and the sum is
clamped to the parameter's range. So a sensor never fights a fader, and a cue fade of the base still works
while the heart rate wobbles the picture.

    >>> store = SourceStore()
    >>> store.update("bio.arousal", 0.8, time=10.0)
    >>> speed = Modulation(param="walk.speed", source="bio.arousal", amount=0.25, fade=0)   # no fade-in
    >>> mods = Modulator([speed])
    >>> mods.offsets(10.0, store, spans={"walk.speed": 8.0})            # 0.8 * 0.25 of the span 0..8
    {'walk.speed': 1.6}

A continuous modulation fades in over ``fade`` seconds while its source is **live** and back out when the
source has said nothing for ``stale`` seconds: a sensor that drops out hands the picture back to the
autonomous walk smoothly, and takes it again smoothly when it returns. A pulse modulation follows an
attack/decay envelope from each pulse of its source; with ``beats`` it makes its own pulses from a rate in
beats per minute (a heart rate of 72 pulses 1.2 times a second), which is what most heart-rate bridges send;
with ``wraps`` it pulses each time a phase wraps (``midi.clock.beat``, ``link.bar``), locked to a DAW's beat.
Everything runs on the engine clock, once per frame, so an offline render of a recorded run is exact.
"""

from __future__ import annotations

import dataclasses
import math

from engine.params import PARAM_CURVES, shape_position

MAX_SOURCES = 512          # distinct source keys kept; a sender inventing names cannot grow memory further
MAX_MODULATIONS = 256


@dataclasses.dataclass(frozen=True)
class Modulation:
    """One source → one parameter, added on top of the parameter's base value."""

    param: str                                  # the parameter moved (group.name)
    source: str                                 # the source read (a reading, or pulses with envelope)
    range: tuple[float, float] = (0.0, 1.0)     # source values that mean 0 and 1 (conditioned sources: 0..1)
    amount: float = 1.0                         # share of the parameter's span added at 1 (negative: subtracts)
    curve: str = "linear"                       # linear / square / sqrt, from the 0..1 reading to the offset
    invert: bool = False
    centre: bool = False                        # bipolar: 0.5 adds nothing, 0 subtracts, 1 adds
    envelope: tuple[float, float] | None = None  # (attack, decay) seconds: the source is pulses, not a reading
    beats: bool = False                         # with envelope: the source is a rate in beats/min; pulse on each
    wraps: bool = False                         # with envelope: the source is a phase 0..1 (midi.clock.beat,
                                                # link.bar); pulse each time it wraps, locked to that clock
    stale: float = 5.0                          # seconds of silence after which the source counts as gone
    fade: float = 2.0                           # seconds to hand over to / back from the autonomous walk
    smooth: tuple[float, float] | None = None   # (attack, release) time constants (s) on the reading's share

    def __post_init__(self) -> None:
        low, high = self.range
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise ValueError(f"modulation {self.source} -> {self.param}: range must be low < high, got {self.range}")
        if not (math.isfinite(self.amount) and abs(self.amount) <= 16):
            raise ValueError(f"modulation {self.source} -> {self.param}: amount must be within ±16, got {self.amount}")
        if self.curve not in PARAM_CURVES:
            raise ValueError(f"modulation {self.source} -> {self.param}: curve must be one of {PARAM_CURVES}")
        if (self.beats or self.wraps) and self.envelope is None:
            raise ValueError(f"modulation {self.source} -> {self.param}: beats and wraps need an envelope "
                             "(attack, decay)")
        if self.beats and self.wraps:
            raise ValueError(f"modulation {self.source} -> {self.param}: beats (a rate) or wraps (a phase), not both")
        for name, seconds in (("stale", self.stale), ("fade", self.fade)) + (
                (("attack", self.envelope[0]), ("decay", self.envelope[1])) if self.envelope else ()) + (
                (("smooth attack", self.smooth[0]), ("smooth release", self.smooth[1])) if self.smooth else ()):
            if not (math.isfinite(seconds) and 0 <= seconds <= 3600):
                raise ValueError(f"modulation {self.source} -> {self.param}: {name} must be 0..3600 s, got {seconds}")

    def position(self, reading: float) -> float:
        """The 0..1 (or, centred, -1..1) share of ``amount`` that a reading gives."""
        low, high = self.range
        u = min(1.0, max(0.0, (reading - low) / (high - low)))
        if self.invert:
            u = 1.0 - u
        shaped = shape_position(self.curve, u)
        return 2.0 * shaped - 1.0 if self.centre else shaped


class SourceStore:
    """The newest reading of every source, with the engine time it came (for staleness). Frame loop only."""

    def __init__(self) -> None:
        self._values: dict[str, tuple[float, float]] = {}
        self.refused = 0

    def update(self, key: str, value: float, time: float) -> None:
        if key not in self._values and len(self._values) >= MAX_SOURCES:
            self.refused += 1
            return
        self._values[key] = (float(value), float(time))

    def get(self, key: str) -> float | None:
        entry = self._values.get(key)
        return None if entry is None else entry[0]

    def age(self, key: str, now: float) -> float:
        """Seconds since ``key`` last said something (infinite if never)."""
        entry = self._values.get(key)
        return math.inf if entry is None else max(0.0, now - entry[1])

    def values(self) -> dict[str, float]:
        return {key: value for key, (value, _) in self._values.items()}

    def live(self, now: float, stale: float = 5.0) -> list[str]:
        """The sources heard from within ``stale`` seconds, sorted (the HUD's and OSC status's "live" list)."""
        return sorted(key for key, (_, at) in self._values.items() if now - at <= stale)


@dataclasses.dataclass
class _Running:
    weight: float = 0.0             # 0: the source has no say; 1: full amount
    phase: float = 0.0              # beats: the fraction of the current beat
    pulse_at: float | None = None   # the last pulse's engine time
    strength: float = 0.0
    reading: float | None = None    # wraps: the phase last seen
    last: float | None = None       # the engine time of the last frame seen
    smoothed: float | None = None   # smooth: the followed share


class Modulator:
    """Runs the modulations once per frame: :meth:`offsets` gives what to add to each parameter's base."""

    def __init__(self, modulations: list[Modulation]) -> None:
        if len(modulations) > MAX_MODULATIONS:
            raise ValueError(f"at most {MAX_MODULATIONS} modulations, got {len(modulations)}")
        self.modulations = list(modulations)
        self._running = [_Running() for _ in self.modulations]

    def pulse(self, source: str, strength: float, now: float) -> None:
        """A pulse of ``source`` (a heart beat, a pad): envelopes on that source start again."""
        for modulation, running in zip(self.modulations, self._running):
            if modulation.envelope is not None and not (modulation.beats or modulation.wraps) \
                    and modulation.source == source:
                running.pulse_at, running.strength = now, strength

    def offsets(self, now: float, sources: SourceStore, spans: dict[str, float]) -> dict[str, float]:
        """Parameter → offset (in its units) for this frame; ``spans`` are the parameters' max - min."""
        result: dict[str, float] = {}
        for modulation, running in zip(self.modulations, self._running):
            span = spans.get(modulation.param)
            if span is None:
                continue
            dt = 0.0 if running.last is None else min(max(now - running.last, 0.0), 1.0)
            running.last = now
            share = self._share(modulation, running, now, dt, sources)
            if share != 0.0:
                result[modulation.param] = result.get(modulation.param, 0.0) + share * modulation.amount * span
        return result

    @staticmethod
    def _share(modulation: Modulation, running: _Running, now: float, dt: float, sources: SourceStore) -> float:
        if modulation.envelope is not None and not (modulation.beats or modulation.wraps):
            return running.strength * _envelope(modulation.envelope, running.pulse_at, now)
        reading = sources.get(modulation.source)
        live = reading is not None and sources.age(modulation.source, now) <= modulation.stale
        step = 1.0 if modulation.fade == 0 else dt / modulation.fade
        running.weight = min(1.0, running.weight + step) if live else max(0.0, running.weight - step)
        if reading is None or running.weight == 0.0:
            return 0.0
        if not (modulation.beats or modulation.wraps):
            return running.weight * _follow(modulation.smooth, running, modulation.position(reading), dt)
        assert modulation.envelope is not None              # beats and wraps need one (checked when made)
        if modulation.wraps:
            if running.reading is not None and reading < running.reading - 0.5:     # a new beat (or bar)
                running.pulse_at, running.strength = now, 1.0
            running.reading = reading
        else:
            running.phase += dt * max(0.0, min(reading, 600.0)) / 60.0     # a rate in beats per minute
            if running.phase >= 1.0:
                running.phase %= 1.0
                running.pulse_at, running.strength = now, 1.0
        return running.weight * running.strength * _envelope(modulation.envelope, running.pulse_at, now)


def _follow(smooth: tuple[float, float] | None, running: _Running, share: float, dt: float) -> float:
    """``share`` through an attack/release follower (engine.sources' copy of controllers.conditioning's rule:
    after one time constant 63 % of a step is covered)."""
    if smooth is None:
        return share
    if running.smoothed is None:
        running.smoothed = share
        return share
    tau = smooth[0] if share > running.smoothed else smooth[1]
    running.smoothed += (share - running.smoothed) * (1.0 if tau == 0 else -math.expm1(-dt / tau))
    return running.smoothed


@dataclasses.dataclass(frozen=True)
class PulseTrigger:
    """Every ``every`` pulses of ``source`` (``audio.beat``), a command: ``go`` (the next cue) or ``seed`` (glide
    over ``seconds`` to the next of ``seeds``, round and round)."""

    source: str
    every: int = 4
    action: str = "go"                          # go | seed
    seconds: float = 1.0                        # seed: the glide's length
    seeds: tuple[int, ...] = tuple(range(8))

    def __post_init__(self) -> None:
        if not 1 <= self.every <= 1024:
            raise ValueError(f"trigger on {self.source}: every must be 1..1024 pulses, got {self.every}")
        if self.action not in ("go", "seed"):
            raise ValueError(f"trigger on {self.source}: the action is go or seed, got {self.action!r}")
        if not (math.isfinite(self.seconds) and 0 <= self.seconds <= 3600):
            raise ValueError(f"trigger on {self.source}: seconds must be 0..3600, got {self.seconds}")
        if not 1 <= len(self.seeds) <= 1024:
            raise ValueError(f"trigger on {self.source}: 1..1024 seeds, got {len(self.seeds)}")


class Triggers:
    """Counts pulses for the :class:`PulseTrigger` s; :meth:`pulse` says which fire now (frame loop only)."""

    def __init__(self, triggers: list[PulseTrigger]) -> None:
        self.triggers = list(triggers)
        self._counts = [0] * len(self.triggers)
        self._fired = [0] * len(self.triggers)

    def pulse(self, source: str) -> list[tuple[PulseTrigger, int]]:
        """The triggers that fire on this pulse of ``source``, each with how many times it has fired before."""
        fired = []
        for k, trigger in enumerate(self.triggers):
            if trigger.source == source:
                self._counts[k] += 1
                if self._counts[k] % trigger.every == 0:
                    fired.append((trigger, self._fired[k]))
                    self._fired[k] += 1
        return fired


def _envelope(envelope: tuple[float, float], start: float | None, now: float) -> float:
    """A linear attack to 1 then an exponential decay (time constant ``decay``), from a pulse at ``start``."""
    if start is None or now < start:
        return 0.0
    attack, decay = envelope
    t = now - start
    if t < attack:
        return t / attack
    if decay == 0:
        return 0.0
    value = math.exp(-(t - attack) / decay)
    return value if value > 1e-4 else 0.0
