"""Input families that steer the engine: keyboard and OSC now; MIDI, audio, biofeedback and webcam next.

Each controller posts timestamped :class:`~engine.inputs.InputEvent` s and never calls the generator, the
parameters or GL directly (DESIGN.md, section 1). :data:`REGISTRY` names them, so a show's ``inputs:`` and the
command line can build them by name (:func:`create`).
"""

from __future__ import annotations

from typing import Any

from controllers.base import Controller, Post
from controllers.keyboard import Keyboard
from controllers.osc import OscInput

REGISTRY: dict[str, type[Controller]] = {"keyboard": Keyboard, "osc": OscInput}


def create(name: str, **options: Any) -> Controller:
    """A controller by its registered name (ValueError naming the known ones otherwise)."""
    try:
        kind = REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown controller {name!r}; known: {', '.join(sorted(REGISTRY))}") from None
    return kind(**options)


__all__ = ["Controller", "Keyboard", "OscInput", "Post", "REGISTRY", "create"]
