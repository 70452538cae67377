"""Named engine parameters: ``group.name`` keys with a range and a default.

This is the store the frame loop reads once per frame (shader uniforms, walk settings). Parameters are
declared by whoever owns them — a shader file declares its uniforms, the walker its speed and ψ, a show its
own — and set by anyone (keyboard, OSC, MIDI, cues). A value outside the range is clamped; an unknown key or a
non-number is a clear error. The same key is the OSC address ``/param/group/name``.

Every write carries its **source** (``cue``, ``keyboard``, ``osc``, ``midi``, …) and gets a write number, so
whoever drives a parameter can tell whether someone else wrote it since: a cue fade lets go of a parameter a
performer has moved (:meth:`ParamStore.last_write`).

A parameter may be **smoothed**: ``set`` then moves its target, and :meth:`ParamStore.advance` (once per frame,
on the engine clock) glides the value towards it with that time constant — jittery sensors and stepped MIDI
faders become smooth motion. Fades from cues set values directly (they are smooth already). A **curve** maps
a normalised control (0..1, e.g. a MIDI fader) onto the range: ``linear``, ``square`` (fine control at the
low end) or ``sqrt`` (at the high end).

    >>> store = ParamStore()
    >>> store.declare(ParamSpec("vignette.amount", default=0.0, minimum=0.0, maximum=1.0))
    >>> store.set("vignette.amount", 1.7)           # clamped to the range; returns what was stored
    1.0
    >>> store.last_write("vignette.amount")         # who wrote it, and that write's number
    ('engine', 1)
"""

from __future__ import annotations

import dataclasses
import math
import re
import threading

_KEY = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")
ENGINE_SOURCES = frozenset({"engine", "cue", "panic", "reset", "initial", "resume"})   # not performers
MAX_MAGNITUDE = 1e9      # bound on ranges: fades and smoothing compute differences of values
PARAM_CURVES: tuple[str, ...] = ("linear", "square", "sqrt")


def shape_position(curve: str, u: float) -> float:
    """A 0..1 control position through a curve of PARAM_CURVES: ``square`` gives fine control at the low
    end, ``sqrt`` at the high end.

    >>> shape_position("square", 0.5), shape_position("sqrt", 0.25), shape_position("linear", 0.3)
    (0.25, 0.5, 0.3)
    """
    return u * u if curve == "square" else math.sqrt(u) if curve == "sqrt" else u


@dataclasses.dataclass(frozen=True)
class ParamSpec:
    key: str            # group.name, lower case
    default: float
    minimum: float
    maximum: float
    doc: str = ""
    smoothing: float = 0.0      # seconds (time constant of the glide towards a new value); 0 = immediate
    curve: str = "linear"       # how set_normalized maps 0..1 onto the range

    def __post_init__(self) -> None:
        if not _KEY.match(self.key):
            raise ValueError(f"parameter key must look like 'group.name' (lower case), got {self.key!r}")
        if not (abs(self.minimum) <= MAX_MAGNITUDE and abs(self.maximum) <= MAX_MAGNITUDE
                and self.minimum <= self.maximum):
            raise ValueError(f"{self.key}: range must lie within ±{MAX_MAGNITUDE:g} with min <= max, got "
                             f"{self.minimum}..{self.maximum}")
        if not self.minimum <= self.default <= self.maximum:
            raise ValueError(f"{self.key}: default {self.default} is outside {self.minimum}..{self.maximum}")
        if not (0 <= self.smoothing <= 1e6):
            raise ValueError(f"{self.key}: smoothing must be >= 0 seconds, got {self.smoothing}")
        if self.curve not in PARAM_CURVES:
            raise ValueError(f"{self.key}: curve must be one of {PARAM_CURVES}, got {self.curve!r}")

    def clamp(self, value: float) -> float:
        return min(max(value, self.minimum), self.maximum)


class ParamStore:
    """Thread-safe parameter values; :meth:`snapshot` gives the frame loop one consistent view per frame."""

    def __init__(self) -> None:
        self._specs: dict[str, ParamSpec] = {}
        self._values: dict[str, float] = {}
        self._targets: dict[str, float] = {}
        self._writes: dict[str, tuple[str, int]] = {}      # key -> (source, write number) of its last write
        self._write_count = 0
        self._last_advance: float | None = None
        self._offsets: dict[str, float] = {}               # modulations on top of the base values, this frame
        self._lock = threading.Lock()

    def declare(self, spec: ParamSpec) -> None:
        """Add a parameter, or update its range (keeping the current value, clamped) if it exists."""
        with self._lock:
            old = self._specs.get(spec.key)
            self._specs[spec.key] = spec
            value = spec.default if old is None else spec.clamp(self._values[spec.key])
            self._values[spec.key] = value
            self._targets[spec.key] = value if old is None else spec.clamp(self._targets[spec.key])

    def spec(self, key: str) -> ParamSpec:
        try:
            return self._specs[key]
        except KeyError:
            raise KeyError(f"unknown parameter {key!r}; known: {', '.join(sorted(self._specs)) or 'none'}") from None

    def set(self, key: str, value: float, immediate: bool = False, source: str = "engine") -> float:
        """Set a value (clamped to the range); returns the value stored. A smoothed parameter glides there
        over the following frames unless ``immediate``. ``source`` says who wrote it (see the module)."""
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"{key}: expected a finite number, got {value!r}")
        with self._lock:
            spec = self.spec(key)
            stored = spec.clamp(float(value))
            self._targets[key] = stored
            if immediate or spec.smoothing == 0:
                self._values[key] = stored
            self._write_count += 1
            self._writes[key] = (source, self._write_count)
            return stored

    def last_write(self, key: str) -> tuple[str, int]:
        """Who wrote ``key`` last and that write's number (("", 0) if nobody has since it was declared)."""
        with self._lock:
            return self._writes.get(key, ("", 0))

    def normalized(self, key: str) -> float:
        """The value as a 0..1 control position (the inverse of :meth:`set_normalized`)."""
        spec = self.spec(key)
        span = spec.maximum - spec.minimum
        u = 0.0 if span == 0 else (self.get(key) - spec.minimum) / span
        return math.sqrt(u) if spec.curve == "square" else u * u if spec.curve == "sqrt" else u

    def set_normalized(self, key: str, position: float, source: str = "engine") -> float:
        """Set from a 0..1 control (a fader), through the parameter's curve."""
        spec = self.spec(key)
        shaped = shape_position(spec.curve, min(max(float(position), 0.0), 1.0))
        return self.set(key, spec.minimum + (spec.maximum - spec.minimum) * shaped, source=source)

    def advance(self, now: float) -> None:
        """Move smoothed parameters towards their targets (call once per frame with the engine time)."""
        with self._lock:
            dt = 0.0 if self._last_advance is None else max(now - self._last_advance, 0.0)
            self._last_advance = now
            for key, spec in self._specs.items():
                if spec.smoothing > 0 and self._values[key] != self._targets[key]:
                    alpha = 1.0 - math.exp(-dt / spec.smoothing)
                    value = self._values[key] + (self._targets[key] - self._values[key]) * alpha
                    self._values[key] = self._targets[key] if abs(value - self._targets[key]) < 1e-9 else value

    def get(self, key: str) -> float:
        with self._lock:
            self.spec(key)
            return self._values[key]

    def reset(self, group: str | None = None) -> None:
        """Back to defaults (one group, or everything)."""
        with self._lock:
            for key, spec in self._specs.items():
                if group is None or key.startswith(group + "."):
                    self._values[key] = self._targets[key] = spec.default

    def snapshot(self) -> dict[str, float]:
        """Every parameter's base value: what performers and cues set (saved for --resume, sent as feedback)."""
        with self._lock:
            return dict(self._values)

    def modulate(self, offsets: dict[str, float]) -> None:
        """This frame's modulations (engine.sources): added to the base values by :meth:`modulated`, never
        stored in them, so a sensor cannot drag a fader's value along."""
        with self._lock:
            self._offsets = {key: offset for key, offset in offsets.items()
                             if key in self._specs and math.isfinite(offset)}

    def modulated(self) -> dict[str, float]:
        """What the frame draws with: each base value plus its modulation, clamped to the range.

        >>> store = ParamStore()
        >>> store.declare(ParamSpec("fx.glow", default=0.5, minimum=0.0, maximum=1.0))
        >>> store.modulate({"fx.glow": 0.8})
        >>> store.modulated()["fx.glow"], store.get("fx.glow")
        (1.0, 0.5)
        """
        with self._lock:
            values = dict(self._values)
            for key, offset in self._offsets.items():
                values[key] = self._specs[key].clamp(values[key] + offset)
            return values

    def spans(self) -> dict[str, float]:
        """Each parameter's max - min (how far a modulation of amount 1 moves it)."""
        with self._lock:
            return {key: spec.maximum - spec.minimum for key, spec in self._specs.items()}

    def specs(self) -> list[ParamSpec]:
        """Every parameter's spec, sorted by key (safe from any thread: OSCQuery serves them)."""
        with self._lock:
            return [self._specs[key] for key in sorted(self._specs)]

    def keys(self) -> list[str]:
        with self._lock:
            return sorted(self._specs)


DIRECTION_RANGE = 3.0           # a direction knob's reach, in units of W's spread along it
SEFA_KNOBS = 8                  # the model's own SeFa directions every run offers (dir.sefa0 …)


def direction_spec(name: str, reach: float = DIRECTION_RANGE, doc: str = "") -> ParamSpec:
    """The parameter of a latent direction: ``dir.{name}``, 0 at rest, ±reach in units of W's spread."""
    return ParamSpec(f"dir.{name}", 0.0, -reach, reach, doc or f"latent direction {name} (units of W's spread)")


# The engine's own parameters; shaders and shows declare theirs.
ENGINE_PARAMS = (
    ParamSpec("walk.speed", 1.0, 0.0, 8.0, "walk time per second of real time"),
    ParamSpec("gen.psi", 0.7, -1.0, 2.0, "truncation psi"),
    ParamSpec("react.chroma", 1.0, 0.0, 1.0, "share of the audio chroma gesture's amount (a cue fades it out)"),
    *(direction_spec(f"sefa{i}", doc=f"the model's SeFa direction {i} (units of W's spread)")
      for i in range(SEFA_KNOBS)),
)


def engine_params() -> ParamStore:
    """A parameter store with the engine's own parameters declared (shaders and shows add theirs)."""
    params = ParamStore()
    for spec in ENGINE_PARAMS:
        params.declare(spec)
    return params
