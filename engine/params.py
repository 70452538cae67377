"""Named engine parameters: ``group.name`` keys with a range and a default.

This is the store the frame loop reads once per frame (shader uniforms, walk settings). Parameters are
declared by whoever owns them — a shader file declares its uniforms, the walker its speed and ψ — and set by
anyone (keyboard, OSC, MIDI, cues). A value outside the range is clamped; an unknown key or a non-number is a
clear error. The same key is the OSC address ``/param/group/name``.

    >>> store = ParamStore()
    >>> store.declare(ParamSpec("vignette.amount", default=0.0, minimum=0.0, maximum=1.0))
    >>> store.set("vignette.amount", 1.7); store.get("vignette.amount")
    1.0
"""

from __future__ import annotations

import dataclasses
import math
import re
import threading

_KEY = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")


@dataclasses.dataclass(frozen=True)
class ParamSpec:
    key: str            # group.name, lower case
    default: float
    minimum: float
    maximum: float
    doc: str = ""

    def __post_init__(self) -> None:
        if not _KEY.match(self.key):
            raise ValueError(f"parameter key must look like 'group.name' (lower case), got {self.key!r}")
        if not (math.isfinite(self.minimum) and math.isfinite(self.maximum) and self.minimum <= self.maximum):
            raise ValueError(f"{self.key}: range must be finite with min <= max, got {self.minimum}..{self.maximum}")
        if not self.minimum <= self.default <= self.maximum:
            raise ValueError(f"{self.key}: default {self.default} is outside {self.minimum}..{self.maximum}")

    def clamp(self, value: float) -> float:
        return min(max(value, self.minimum), self.maximum)


class ParamStore:
    """Thread-safe parameter values; :meth:`snapshot` gives the frame loop one consistent view per frame."""

    def __init__(self) -> None:
        self._specs: dict[str, ParamSpec] = {}
        self._values: dict[str, float] = {}
        self._lock = threading.Lock()

    def declare(self, spec: ParamSpec) -> None:
        """Add a parameter, or update its range (keeping the current value, clamped) if it exists."""
        with self._lock:
            old = self._specs.get(spec.key)
            self._specs[spec.key] = spec
            self._values[spec.key] = spec.default if old is None else spec.clamp(self._values[spec.key])

    def spec(self, key: str) -> ParamSpec:
        try:
            return self._specs[key]
        except KeyError:
            raise KeyError(f"unknown parameter {key!r}; known: {', '.join(sorted(self._specs)) or 'none'}") from None

    def set(self, key: str, value: float) -> float:
        """Set a value (clamped to the range); returns the value stored."""
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"{key}: expected a finite number, got {value!r}")
        with self._lock:
            stored = self.spec(key).clamp(float(value))
            self._values[key] = stored
            return stored

    def get(self, key: str) -> float:
        with self._lock:
            self.spec(key)
            return self._values[key]

    def reset(self, group: str | None = None) -> None:
        """Back to defaults (one group, or everything)."""
        with self._lock:
            for key, spec in self._specs.items():
                if group is None or key.startswith(group + "."):
                    self._values[key] = spec.default

    def snapshot(self) -> dict[str, float]:
        with self._lock:
            return dict(self._values)

    def keys(self) -> list[str]:
        with self._lock:
            return sorted(self._specs)
