"""What the engine tells the outside world: once per frame, the frame loop offers a :class:`FeedbackState` to
each feedback sink (OSC out now; a web console later). A sink keeps only the newest state and does its
sending on its own thread, so a slow network or a vanished receiver never holds a frame up.

    sink.offer(FeedbackState(now=12.0, values={"gen.psi": 0.7}, standby="2", running=("1",)))
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Protocol


@dataclasses.dataclass(frozen=True)
class FeedbackState:
    """One frame's worth of what the outside may follow."""

    now: float                                   # engine time
    values: dict[str, float]                     # every parameter's current value
    standby: str | None = None                   # the standby cue's id (None: no show, or the end of the list)
    running: tuple[str, ...] = ()                # ids of the running cues
    display_fps: float = 0.0
    generator_fps: float = 0.0
    errors: tuple[str, ...] = ()                 # faults shown on the HUD now, one line each
    sources: dict[str, float] = dataclasses.field(default_factory=dict)   # what the inputs measure (read-only)
    live: tuple[str, ...] = ()                   # sources heard from lately (a sensor that went quiet is not)
    learning: str | None = None                  # the parameter armed for MIDI learn
    baseline: int = 0                            # baseline captures commanded so far (a change: capture now)


class Feedback(Protocol):
    """A feedback sink."""

    def start(self) -> None: ...

    def offer(self, state: FeedbackState) -> None:
        """Take the newest state (never blocks; older states not yet sent are dropped)."""

    def stop(self) -> None: ...

    def status(self) -> str: ...


class Mailbox:
    """The newest state, handed from the frame loop to a sender thread (older ones are replaced)."""

    def __init__(self) -> None:
        self._state: FeedbackState | None = None
        self._ready = threading.Condition()

    def put(self, state: FeedbackState) -> None:
        with self._ready:
            self._state = state
            self._ready.notify()

    def take(self, timeout: float) -> FeedbackState | None:
        """The newest state not yet taken, waiting up to ``timeout`` seconds (None if none came)."""
        with self._ready:
            if self._state is None:
                self._ready.wait(timeout)
            state, self._state = self._state, None
            return state
