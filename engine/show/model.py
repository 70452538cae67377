"""The show, as validated data: what a show file means once it has passed the loader's checks.

Cues follow theatre practice (and Linux Show Player's / QLab's models): a cue has a unique id, an optional
pre-wait, actions that start together, and a continue mode — ``none`` (wait for GO), ``auto-continue`` (start
the next cue ``post_wait`` seconds after this one starts its actions) or ``auto-follow`` (start the next cue
when this one's actions have finished). Everything here is immutable: the runner keeps the state.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal, Union

from engine.defaults import DEFAULT_FIT, DEFAULT_LIVE_SIZE
from engine.latent.spec import Keyframe

OSC_RESERVED = frozenset("#*,/?[]{}")    # characters with a meaning in OSC addresses and patterns


def is_cue_id(text: str) -> bool:
    """Whether ``text`` can be a cue id: 1-64 printable characters, no spaces, none of OSC_RESERVED (cue ids
    are typed by operators and carried in OSC addresses, /show/cue/{id}/start).

    >>> is_cue_id("intro-2"), is_cue_id("act 1"), is_cue_id("a/b")
    (True, False, False)
    """
    return 0 < len(text) <= 64 and not any(c in OSC_RESERVED or c.isspace() or not c.isprintable() for c in text)


ContinueMode = Literal["none", "auto-continue", "auto-follow"]
CONTINUE_MODES: tuple[str, ...] = ("none", "auto-continue", "auto-follow")


@dataclasses.dataclass(frozen=True)
class WalkAction:
    """Start walking through keyframes, crossfading from wherever the picture is now."""

    keyframes: tuple[Keyframe, ...]
    seconds_per_keyframe: float = 4.0
    interpolation: str = "cubic"
    loop: bool = True
    transition: float = 2.0            # seconds of crossfade in W from the current picture
    curve: str = "s"
    easing: str = "linear"             # speed profile within each segment (see engine.latent.interpolate)
    noise: str = "const"               # per-pixel noise: const (fixed), random (seeded per frame), none

    @property
    def duration(self) -> float:
        """When the action is over: a looping walk never is (an open-ended action)."""
        if self.loop and len(self.keyframes) > 1:
            return math.inf
        return max(self.transition, (len(self.keyframes) - 1) * self.seconds_per_keyframe)


@dataclasses.dataclass(frozen=True)
class FadeAction:
    """Fade a parameter from its current value to ``to`` over ``time`` seconds (0 = set at once)."""

    param: str
    to: float
    time: float = 0.0
    curve: str = "s"

    @property
    def duration(self) -> float:
        return self.time


@dataclasses.dataclass(frozen=True)
class ShadersAction:
    """Replace the effect chain of every output."""

    chain: tuple[str, ...]

    @property
    def duration(self) -> float:
        return 0.0


@dataclasses.dataclass(frozen=True)
class GotoAction:
    """Move the playhead (the standby cue) to another cue; the next GO or continue starts it."""

    cue: str

    @property
    def duration(self) -> float:
        return 0.0


Action = Union[WalkAction, FadeAction, ShadersAction, GotoAction]


@dataclasses.dataclass(frozen=True)
class Cue:
    id: str
    name: str = ""
    pre_wait: float = 0.0
    actions: tuple[Action, ...] = ()
    continue_mode: ContinueMode = "none"
    post_wait: float = 0.0
    at: str | None = None               # wall-clock trigger "HH:MM[:SS]", daily
    line: int = 0                       # where the cue starts in the show file (for messages)

    @property
    def duration(self) -> float:
        """Pre-wait plus the longest action (infinite if an action is open-ended)."""
        return self.pre_wait + max((a.duration for a in self.actions), default=0.0)

    @property
    def label(self) -> str:
        return f"cue {self.id}" + (f" ({self.name})" if self.name else "")


@dataclasses.dataclass(frozen=True)
class ParamDecl:
    key: str
    default: float
    minimum: float
    maximum: float
    smoothing: float = 0.0
    curve: str = "linear"


@dataclasses.dataclass(frozen=True)
class OutputConfig:
    size: tuple[int, int] = DEFAULT_LIVE_SIZE
    screen: int = 0
    fullscreen: bool = False
    region: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0)
    fit: str = DEFAULT_FIT
    chain: tuple[str, ...] | None = None  # None = the show's chain


@dataclasses.dataclass(frozen=True)
class DirectionDecl:
    """A show's latent direction (``directions:``): the parameter ``dir.{name}`` moves along it."""

    name: str
    origin: str                                 # sefa, ganspace or file
    index: int = 0                              # which one of the model's (or the file's) directions
    path: str | None = None                     # for a file: resolved against the show's folder
    layers: str | None = None                   # all, coarse, middle, fine, a:b (None: the file's own, or all)
    reach: float = 3.0                          # the knob's range ±reach, in units of W's spread


@dataclasses.dataclass(frozen=True)
class Show:
    path: str
    format: int
    name: str
    model: str                                  # "default" or a path (resolved against the show file)
    precision: str
    outputs: tuple[OutputConfig, ...]
    declare: tuple[ParamDecl, ...]
    initial: dict[str, float]
    chain: tuple[str, ...]
    walk: WalkAction
    cues: tuple[Cue, ...]
    panic_time: float = 2.0
    go_lockout: float = 0.5
    inputs: dict[str, object] = dataclasses.field(default_factory=dict)
    panic_rest: dict[str, float] = dataclasses.field(default_factory=dict)  # rest values besides the defaults
    autostart: bool = False                     # GO by itself when the show opens (unattended installations)
    directions: tuple[DirectionDecl, ...] = ()  # latent directions, each a dir.{name} parameter

    def cue_index(self, cue_id: str) -> int:
        for i, cue in enumerate(self.cues):
            if cue.id == cue_id:
                return i
        raise KeyError(cue_id)
