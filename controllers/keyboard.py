"""The keyboard: key names from whatever window library delivers them, mapped to engine commands.

Windows translate their own key codes into plain names (``space``, ``escape``, ``p``, ``up`` …) and call
:meth:`Keyboard.press`; the key map is data (:data:`DEFAULT_KEYS`), so nothing here knows about pyglet.

    >>> keyboard = Keyboard()
    >>> keyboard.command_for("space"), keyboard.command_for("p")
    ('go', 'panic')
"""

from __future__ import annotations

from collections.abc import Mapping

from engine.clock import Clock
from engine.inputs import COMMANDS, InputEvent

from controllers.base import Controller, Post

DEFAULT_KEYS: dict[str, str] = {
    "space": "go", "s": "stop", "p": "panic", "r": "reset", "up": "up", "down": "down",
    "h": "hud", "escape": "quit", "q": "quit",
}


class Keyboard(Controller):
    """Posts a ``command`` event for each mapped key press."""

    name = "keyboard"

    def __init__(self, keys: Mapping[str, str] | None = None, replace: bool = False) -> None:
        """``keys`` change the default map (``none`` frees a key), or replace it with ``replace``."""
        keymap = {} if replace else dict(DEFAULT_KEYS)
        for key, command in (keys or {}).items():
            if command == "none":
                keymap.pop(key, None)
            else:
                keymap[key] = command
        unknown = sorted(c for c in keymap.values() if c not in COMMANDS and c.partition(" ")[0] not in
                         ("learn", "positive", "negative", "nudge"))
        if unknown:
            raise ValueError(f"keyboard map: unknown commands {unknown}; expected some of {COMMANDS}")
        self.keys = keymap
        self._post: Post | None = None
        self._clock: Clock | None = None
        self.presses = 0
        self.last = ""

    def start(self, post: Post, clock: Clock) -> None:
        self._post, self._clock = post, clock

    def stop(self) -> None:
        self._post = None

    def status(self) -> str:
        return f"keyboard: {self.presses} presses" + (f", last {self.last}" if self.last else "")

    def command_for(self, key: str) -> str | None:
        return self.keys.get(key)

    def press(self, key: str) -> bool:
        """A key went down; True if it was mapped (and posted)."""
        command = self.command_for(key)
        if command is None or self._post is None or self._clock is None:
            return False
        self.presses += 1
        self.last = key
        verb, _, value = command.partition(" ")          # "learn gen.psi", "positive stormy": command, argument
        if verb == "nudge":                              # "nudge dir.sefa0 0.5": a step of a parameter
            key, _, amount = value.partition(" ")
            self._post(InputEvent(self._clock.now(), self.name, "nudge", key, float(amount)))
        else:
            self._post(InputEvent(self._clock.now(), self.name, "command", verb, value or None))
        return True
