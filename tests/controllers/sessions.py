"""A headless session with OSC, for the controller tests."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from controllers.osc import OscInput
from engine.session import Session, SessionConfig


@contextlib.contextmanager
def osc_session(tmp_path, show_text: str) -> Iterator[tuple[Any, OscInput]]:
    """A headless session of this show (which asks for OSC on port 0), its controllers started; yields the
    engine and its OSC controller, and stops and closes everything afterwards."""
    show = tmp_path / "show.yaml"
    show.write_text(show_text)
    engine = Session(SessionConfig(show=str(show), headless=True, size=(64, 64), generator="thread")).load().open_live()
    try:
        (osc,) = [c for c in engine.controllers if c.name == "osc"]
        engine.start_controllers()
        yield engine, osc
    finally:
        engine.stop_controllers()
        engine.close()
