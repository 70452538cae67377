"""The controller interface: how every input family plugs into the engine the same way.

A controller turns something outside (keys, OSC packets, MIDI messages, audio, a camera) into
:class:`~engine.inputs.InputEvent` s and posts them; it never calls into the engine. The engine starts it with
the function to post to and the engine's clock (events carry engine time), stops it at the end, and shows
its one-line status on the HUD.

    class Metronome(Controller):
        name = "metronome"
        def start(self, post, clock):
            ...  # a thread that posts InputEvent(clock.now(), self.name, "command", "go") every bar
        def stop(self): ...
        def status(self): return "metronome: 120 bpm"
"""

from __future__ import annotations

import abc
from collections.abc import Callable

from engine.clock import Clock
from engine.feedback import FeedbackState
from engine.inputs import InputEvent

Post = Callable[[InputEvent], None]


class Controller(abc.ABC):
    """An input family. Subclasses set ``name`` and implement the three methods."""

    name: str = "controller"

    @abc.abstractmethod
    def start(self, post: Post, clock: Clock) -> None:
        """Begin posting events (threads, sockets and devices are opened here, not in __init__)."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Stop posting and release what start() opened; safe to call twice."""

    @abc.abstractmethod
    def status(self) -> str:
        """One line for the HUD: what it is connected to, how many events, the last problem."""


class Listening(Controller):
    """A controller that also follows the engine's state (LED feedback, MIDI learn, baseline commands)."""

    @abc.abstractmethod
    def offer(self, state: FeedbackState) -> None:
        """The newest state, from the frame loop: keep a reference, never block."""


class FeedbackTap:
    """Hands the frame loop's feedback to a :class:`Listening` controller (the controller starts and stops
    with the inputs, so as a feedback sink it has nothing to start)."""

    def __init__(self, controller: Listening) -> None:
        self.controller = controller

    def start(self) -> None:
        """Nothing: the controller started with the inputs."""

    def offer(self, state: FeedbackState) -> None:
        self.controller.offer(state)

    def stop(self) -> None:
        """Nothing: the controller stops with the inputs."""

    def status(self) -> str:
        return ""
