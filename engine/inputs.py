"""Input events: the one way anything outside the frame loop steers the engine.

Every input (the keyboard now; OSC, MIDI, audio, camera and sensors next) *posts* :class:`InputEvent` s onto
one thread-safe :class:`EventQueue`; the frame loop drains it once per frame and hands each event to the
:class:`Router`, which calls whatever handler is mapped to the event's kind. No input thread ever touches
the parameters, the cue runner or GL itself: a controller only posts.

    >>> queue = EventQueue()
    >>> queue.post(InputEvent(0.5, "osc", "set", "vignette.amount", 0.8))      # from any thread
    >>> router = Router()
    >>> router.map("set", lambda event: print(event.key, event.value))
    >>> for event in queue.drain():                                             # in the frame loop
    ...     router.route(event)
    vignette.amount 0.8

Kinds and what their fields mean:

==========  =====================================  ============================================
kind        key                                    value
==========  =====================================  ============================================
``set``     a parameter (``group.name``)           a value in its range
``norm``    a parameter                            a 0..1 control position, through its curve
``nudge``   a parameter                            a change, in the parameter's units
``command`` go, stop, panic, reset, up, down,      a cue id for ``start``, a parameter for
            start, quit, hud, learn, baseline,     ``learn`` (MIDI learn; None disarms), a direction's name
            positive, negative                     for ``positive``/``negative`` (label the frame), else None
``walk``    glide, or latent                       a seed (SEED@SECONDS), or a latent file's row
                                                   (NAME#ROW@SECONDS; the show's folder only)
``step``    a parameter                            a change of its 0..1 control position (encoders)
``source``  a source (``bio.hr``, ``midi.clock.bpm``)  what an input measures (read-only, DESIGN §3)
``pulse``   a source (``bio.beat``)                a moment's strength (0..1): a heart beat, a pad hit
==========  =====================================  ============================================

Sources are what inputs measure, named like parameters but with any number of dot levels; they are never
set by anyone else, and mappings (engine.sources) turn them into modulations on top of parameters.

The queue is bounded (:data:`MAX_PENDING`): a sender that floods it loses its oldest events, counted in
:attr:`EventQueue.dropped`, and the frame loop still only does a bounded amount of work per frame.
"""

from __future__ import annotations

import collections
import dataclasses
import math
import re
import threading
from collections.abc import Callable, Iterator

KINDS: tuple[str, ...] = ("set", "norm", "nudge", "command", "walk", "step", "source", "pulse")
COMMANDS: tuple[str, ...] = ("go", "stop", "panic", "reset", "up", "down", "start", "quit", "hud", "learn",
                              "baseline", "positive", "negative")
SOURCE_KEY = re.compile(r"[a-z][a-z0-9_]*(\.[a-z0-9_]{1,40}){1,4}\Z")   # bio.hr, midi.clock.bpm, audio.band.bass
MAX_SEED = 2 ** 32 - 1
MAX_GLIDE_SECONDS = 1e6
MAX_PENDING = 10_000            # events waiting for the frame loop; beyond this the oldest are dropped
MAX_PER_FRAME = 2_000           # events one frame handles; the rest wait for the next frame, in order


class InputError(ValueError):
    """An event that cannot be routed; the message says what was received and what was expected."""


@dataclasses.dataclass(frozen=True)
class InputEvent:
    """Something an input did, at engine time ``time`` (seconds, from the engine's clock)."""

    time: float
    source: str                     # who: keyboard, osc, midi, audio, replay, … (parameter writes carry it)
    kind: str                       # one of KINDS
    key: str                        # a parameter, a command or a walk verb
    value: float | str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise InputError(f"event kind must be one of {KINDS}, got {self.kind!r}")
        if not isinstance(self.source, str) or not 0 < len(self.source) <= 40:
            raise InputError(f"event source must be a short name, got {self.source!r}")
        if not isinstance(self.key, str) or not 0 < len(self.key) <= 200:
            raise InputError(f"event key must be a short name, got {self.key!r}")
        if not (isinstance(self.time, (int, float)) and math.isfinite(self.time)):
            raise InputError(f"event time must be a finite number, got {self.time!r}")
        if self.kind in ("source", "pulse") and not SOURCE_KEY.match(self.key):
            raise InputError(f"{self.kind}: a source is named like bio.hr (lower case, dotted), got {self.key[:60]!r}")
        if self.kind in ("set", "norm", "nudge", "step", "source", "pulse"):
            if isinstance(self.value, bool) or not isinstance(self.value, (int, float)) \
                    or not math.isfinite(self.value):
                raise InputError(f"{self.kind} {self.key}: expected a finite number, got {self.value!r}")
            if self.kind == "pulse" and not 0.0 <= self.value <= 1.0:
                raise InputError(f"pulse {self.key}: a strength is 0..1, got {self.value!r}")
        if self.kind == "command" and self.key not in COMMANDS:
            raise InputError(f"command must be one of {COMMANDS}, got {self.key!r}")
        if self.kind == "walk":
            latent_target(self) if self.key == "latent" else walk_target(self)    # validates


def walk_event(time: float, source: str, seed: float, seconds: float = 0.0) -> InputEvent:
    """A walk command: glide to ``seed``'s image over ``seconds`` (0: jump there) and hold it.

    >>> walk_target(walk_event(1.0, "osc", 42, 2.5))
    (42, 2.5)
    """
    return InputEvent(time, source, "walk", "glide", f"{seed!r}@{seconds!r}")


LATENT_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,99}\.(npy|npz)\Z")   # a file in the show's folder, no path


def latent_event(time: float, source: str, name: str, row: int = 0, seconds: float = 0.0) -> InputEvent:
    """A walk command: glide to row ``row`` of the latent file ``name`` (in the show's own folder; never a
    path) over ``seconds`` and hold it.

    >>> latent_target(latent_event(1.0, "osc", "faces.npy", 3, 2.0))
    ('faces.npy', 3, 2.0)
    """
    return InputEvent(time, source, "walk", "latent", f"{name}#{row}@{seconds!r}")


def latent_target(event: InputEvent) -> tuple[str, int, float]:
    """(file name, row, seconds) of a latent walk event; InputError otherwise."""
    target, _, seconds_text = str(event.value).rpartition("@")
    name, _, row_text = target.rpartition("#")
    if not LATENT_NAME.match(name):
        raise InputError(f"walk latent: expected a .npy or .npz file name in the show's folder (no path), got "
                         f"{name[:60]!r}")
    try:
        row, seconds = int(row_text), float(seconds_text)
    except ValueError:
        raise InputError(f"walk latent: expected NAME#ROW@SECONDS, got {str(event.value)[:60]!r}") from None
    if not 0 <= row < 10_000:
        raise InputError(f"walk latent: a row is 0..9999, got {row}")
    if not (math.isfinite(seconds) and 0 <= seconds <= MAX_GLIDE_SECONDS):
        raise InputError(f"walk latent: a glide takes 0..{MAX_GLIDE_SECONDS:g} seconds, got {seconds_text[:40]}")
    return name, row, seconds


def walk_target(event: InputEvent) -> tuple[int, float]:
    """(seed, seconds) of a walk event ("glide", value "SEED@SECONDS"); InputError otherwise."""
    seed_text, _, seconds_text = str(event.value).partition("@")
    try:
        seed, seconds = float(seed_text), float(seconds_text)
    except ValueError:
        raise InputError(f"walk {event.key}: expected SEED@SECONDS, got {str(event.value)[:40]!r}") from None
    if event.key != "glide":
        raise InputError(f"walk: the verb is glide, got {event.key[:40]!r}")
    if not (seed.is_integer() and 0 <= seed <= MAX_SEED):
        raise InputError(f"walk: a seed is a whole number 0..{MAX_SEED}, got {seed_text[:40]}")
    if not (math.isfinite(seconds) and 0 <= seconds <= MAX_GLIDE_SECONDS):
        raise InputError(f"walk: a glide takes 0..{MAX_GLIDE_SECONDS:g} seconds, got {seconds_text[:40]}")
    return int(seed), seconds


class EventQueue:
    """Events from any thread, in order, bounded (the oldest go first when a sender floods it)."""

    def __init__(self, limit: int = MAX_PENDING) -> None:
        self._events: collections.deque[InputEvent] = collections.deque(maxlen=limit)
        self._lock = threading.Lock()
        self.posted = 0
        self.dropped = 0

    def post(self, event: InputEvent) -> None:
        with self._lock:
            if len(self._events) == self._events.maxlen:
                self.dropped += 1
            self._events.append(event)
            self.posted += 1

    def drain(self, limit: int = MAX_PER_FRAME) -> Iterator[InputEvent]:
        """The waiting events, oldest first, at most ``limit`` of them (the rest stay for the next frame)."""
        with self._lock:
            count = min(limit, len(self._events))
            events = [self._events.popleft() for _ in range(count)]
        return iter(events)

    def __len__(self) -> int:
        with self._lock:
            return len(self._events)


Handler = Callable[[InputEvent], object]


class Router:
    """Kind → handler, changeable at run time (``map`` / ``unmap``); an event with no handler is counted."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}
        self.unrouted = 0

    def map(self, kind: str, handler: Handler) -> None:
        if kind not in KINDS:
            raise InputError(f"event kind must be one of {KINDS}, got {kind!r}")
        self._handlers[kind] = handler

    def unmap(self, kind: str) -> None:
        self._handlers.pop(kind, None)

    def route(self, event: InputEvent) -> object:
        handler = self._handlers.get(event.kind)
        if handler is None:
            self.unrouted += 1
            return None
        return handler(event)


TAKEOVER_MODES: tuple[str, ...] = ("pickup", "scale", "none")


@dataclasses.dataclass
class _Pickup:
    armed: bool = True
    last: float | None = None


class SoftTakeover:
    """Soft takeover for absolute 0..1 controls (MIDI faders and knobs), in the two modes Ableton names, so a
    control that is not where its parameter is never makes the picture jump:

    - ``pickup``: the control does nothing until it is moved through the parameter's value; then it follows.
    - ``scale`` (value scaling): the control moves the parameter at once, but in proportion to the room left
      in the direction it moves, so control and parameter meet at the end of the travel (or sooner) and then
      move together.
    - ``none``: the control jumps the parameter to its position.

    A control that has caught its parameter follows it directly until something else writes the parameter
    (:meth:`release`); then it must catch it again.

        >>> soft = SoftTakeover("pickup")
        >>> soft.follow("midi", "gen.psi", position=0.9, current=0.3) is None    # far from the value: ignored
        True
        >>> soft.follow("midi", "gen.psi", position=0.25, current=0.3)           # moved through it: picked up
        0.25
        >>> scale = SoftTakeover("scale")
        >>> scale.follow("midi", "fx.glow", 0.5, current=0.8)     # the first message only says where it is
        >>> round(scale.follow("midi", "fx.glow", 0.75, current=0.8), 3)   # 1/2 of the way up: 1/2 of the room
        0.9
    """

    def __init__(self, mode: str = "pickup", window: float = 0.02) -> None:
        if mode not in TAKEOVER_MODES:
            raise ValueError(f"takeover must be one of {TAKEOVER_MODES}, got {mode!r}")
        self.mode, self.window = mode, window
        self._state: dict[tuple[str, str], _Pickup] = {}

    def follow(self, source: str, key: str, position: float, current: float) -> float | None:
        """The 0..1 position to give the parameter (None: leave it), for a control of ``source`` now at
        ``position`` while the parameter is at ``current`` (both as 0..1 positions)."""
        if self.mode == "none":
            return position
        state = self._state.get((source, key))
        if state is None:
            if len(self._state) >= 4096:               # bounded: controls × parameters a show can map
                self._state.clear()
            state = self._state[(source, key)] = _Pickup()
        last, state.last = state.last, position
        if not state.armed:
            return position
        if abs(position - current) <= self.window or (
                last is not None and min(last, position) <= current <= max(last, position)):
            state.armed = False
            return position
        if self.mode == "pickup" or last is None or position == last:
            return None
        if position > last:                            # scale the room left above (or below) the parameter
            room = 1.0 - last
            moved = current + (position - last) * (1.0 - current) / room if room > 0 else 1.0
        else:
            moved = current - (last - position) * current / last if last > 0 else 0.0
        return min(1.0, max(0.0, moved))

    def accept(self, source: str, key: str, position: float, current: float) -> bool:
        """Pick-up as a yes/no (True: the control has the parameter)."""
        return self.follow(source, key, position, current) is not None

    def release(self, key: str, writer: str) -> None:
        """Another source set ``key``: every other control must catch it again."""
        for (source, name), state in self._state.items():
            if name == key and source != writer:
                state.armed = True

    def waiting(self) -> list[tuple[str, str]]:
        """(source, parameter) pairs whose control has not caught its parameter yet (for the HUD)."""
        return [pair for pair, state in self._state.items() if state.armed]
