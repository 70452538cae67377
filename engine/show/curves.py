"""Fade curves for cues: progress in [0, 1] → blend amount in [0, 1].

Theatre consoles fade on an S-curve by default: it starts and lands softly, so a fade never "clicks" in or
out. All curves fix 0 and 1 and never decrease.

    >>> apply_curve("s", 0.5), apply_curve("linear", 0.25)
    (0.5, 0.25)
"""

from __future__ import annotations

import math

CURVES: tuple[str, ...] = ("s", "linear", "ease-in", "ease-out", "sine")
DEFAULT_CURVE = "s"


def apply_curve(curve: str, u: float) -> float:
    u = min(max(u, 0.0), 1.0)
    if curve == "s":
        return u * u * (3.0 - 2.0 * u)
    if curve == "linear":
        return u
    if curve == "ease-in":
        return u * u
    if curve == "ease-out":
        return 1.0 - (1.0 - u) * (1.0 - u)
    if curve == "sine":
        return 0.5 - 0.5 * math.cos(math.pi * u)
    raise ValueError(f"unknown curve {curve!r}; expected one of {', '.join(CURVES)}")
