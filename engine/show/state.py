"""Where a running show is, as plain data: enough to resume it after a crash at the cue that was running.

:meth:`~engine.show.runner.ShowRunner.snapshot` makes a :class:`RunnerState`; after a restart,
:meth:`~engine.show.runner.ShowRunner.restore` puts the runner back: the standby cue, the running cues with
their elapsed times (so their continues fire when they would have), the fades part-way (same start, target,
curve and progress), the walk that was on screen (no crossfade from the opening walk), the effect chain.
Times are stored relative to the moment of the snapshot ("started so many seconds ago"), so they mean the
same on the new process's clock.

Read back from a file, a state is untrusted (a power cut can truncate it): :meth:`RunnerState.from_dict`
checks every field and raises ValueError naming the first bad one.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

MAX_RUNNING = 1_000
MAX_FADES = 10_000


@dataclasses.dataclass(frozen=True)
class CueState:
    id: str
    started_ago: float                  # seconds between the cue's start and the snapshot
    actions_started: bool
    continued: bool
    walk_replaced: bool


@dataclasses.dataclass(frozen=True)
class FadeState:
    param: str
    start_value: float
    to: float
    started_ago: float
    duration: float
    curve: str


@dataclasses.dataclass(frozen=True)
class RunnerState:
    standby: str | None                         # the cue on standby (None: the end of the list)
    running: tuple[CueState, ...]
    fades: tuple[FadeState, ...]
    walk_cue: str | None                        # the cue whose walk is on screen (None: the opening walk)
    walk_action: int                            # which of that cue's actions
    walk_start: float                           # the walk time that walk started at
    chain: tuple[str, ...] | None               # the effect chain a cue set (None: the show's own)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> RunnerState:
        if not isinstance(data, dict):
            raise ValueError(f"runner state must be an object, got {type(data).__name__}")
        running = _list(data.get("running"), "running", MAX_RUNNING)
        fades = _list(data.get("fades"), "fades", MAX_FADES)
        chain = data.get("chain")
        return cls(
            standby=_optional_text(data.get("standby"), "standby"),
            running=tuple(CueState(id=_text(r.get("id"), "running.id"),
                                   started_ago=_seconds(r.get("started_ago"), "running.started_ago"),
                                   actions_started=_flag(r.get("actions_started"), "running.actions_started"),
                                   continued=_flag(r.get("continued"), "running.continued"),
                                   walk_replaced=_flag(r.get("walk_replaced"), "running.walk_replaced"))
                          for r in running),
            fades=tuple(FadeState(param=_text(f.get("param"), "fades.param"),
                                  start_value=_number(f.get("start_value"), "fades.start_value"),
                                  to=_number(f.get("to"), "fades.to"),
                                  started_ago=_seconds(f.get("started_ago"), "fades.started_ago"),
                                  duration=_seconds(f.get("duration"), "fades.duration"),
                                  curve=_text(f.get("curve"), "fades.curve")) for f in fades),
            walk_cue=_optional_text(data.get("walk_cue"), "walk_cue"),
            walk_action=int(_number(data.get("walk_action"), "walk_action", 0, 10_000)),
            walk_start=_number(data.get("walk_start"), "walk_start"),
            chain=None if chain is None else tuple(_text(c, "chain") for c in _list(chain, "chain", 64)),
        )


def _list(value: Any, name: str, limit: int) -> list[Any]:
    if not isinstance(value, list) or len(value) > limit:
        raise ValueError(f"{name} must be a list of at most {limit} entries")
    if name != "chain" and not all(isinstance(v, dict) for v in value):
        raise ValueError(f"{name} entries must be objects")
    return value


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= 200:
        raise ValueError(f"{name} must be a short text")
    return value


def _optional_text(value: Any, name: str) -> str | None:
    return None if value is None else _text(value, name)


def _flag(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false")
    return value


def _number(value: Any, name: str, low: float = -1e12, high: float = 1e12) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or (isinstance(value, float) and not math.isfinite(value)) or not low <= value <= high:
        raise ValueError(f"{name} must be a number in {low:g}..{high:g}")
    return float(value)


def _seconds(value: Any, name: str) -> float:
    return _number(value, name, 0.0, 1e9)
