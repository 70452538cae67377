"""The cue list: a show operated like a theatre cue list, on the engine clock. No torch, no GL.

    cues = CueRunner(show, params, on_walk=latents.start_walk, on_chain=compositor_chain)
    cues.go(now)              # start the standby cue (a GO lockout guards against double presses)
    cues.update(now)          # once per frame: pre-waits, fades, continues, follows, wall-clock triggers

State lives here; the show itself is immutable data (:mod:`engine.show.model`). Every time comes from the
caller's clock, so an offline render of a show is frame-exact and repeatable. A walk action is handed to
``on_walk`` (the show's latent source, :mod:`engine.show.latents`, crossfades to it); a shaders action to
``on_chain``. Semantics:

* **GO** starts the standby cue and moves the playhead to the next one. A GO within ``go_lockout`` seconds of
  the previous one is ignored.
* A cue waits its **pre-wait**, then starts all its actions at once. **auto-continue** starts the standby cue
  ``post_wait`` seconds after that; **auto-follow** starts it when the cue's actions have all finished.
* **Fades** start from the parameter's current value — also mid-fade — so nothing ever jumps. A performer who
  moves a parameter during a fade takes it over: the fade lets go of it.
* **Stop** ends all cues and freezes fades where they are. **Panic** stops everything and fades every
  parameter to rest over ``panic_time``; a second panic during that fade cuts to rest at once.
  **Reset** returns to the show's opening state with the playhead on the first cue.
* **Wall-clock triggers** (``at: "18:30"``) start a cue once a day when the time of day passes.
* After a long stall one frame does a bounded share of the catching up (:data:`MAX_EVENTS_PER_UPDATE`,
  :data:`MAX_UPDATE_SECONDS`); the rest follows in the next frames, in order.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import math
import time
from collections.abc import Callable

from engine.logs import Throttle
from engine.params import ENGINE_SOURCES, ParamSpec, ParamStore
from engine.show.curves import CURVES, apply_curve
from engine.show.model import Cue, FadeAction, GotoAction, ShadersAction, Show, WalkAction
from engine.show.state import CueState, FadeState, RunnerState

log = logging.getLogger(__name__)
_throttle = Throttle(log)
MAX_EVENTS_PER_UPDATE = 10_000     # cue starts and continues handled in one frame; the rest follow next frame
MAX_UPDATE_SECONDS = 0.05         # and at most this long: a frame's share of catching up
MAX_MESSAGES = 100

OnWalk = Callable[[WalkAction, float, "str | None", int], None]   # (action, engine time, cue id or None, index)


def seconds_since_midnight() -> float:
    t = time.localtime()
    return t.tm_hour * 3600 + t.tm_min * 60 + t.tm_sec + (time.time() % 1)


@dataclasses.dataclass
class _Fade:
    param: str
    start_value: float
    to: float
    start: float
    duration: float
    curve: str
    written: int = 0            # the write number of this fade's last write (another one means a takeover)

    def value(self, now: float) -> float:
        if self.duration <= 0:
            return self.to
        u = apply_curve(self.curve, (now - self.start) / self.duration)
        return self.start_value * (1.0 - u) + self.to * u   # never overflows, unlike start + (to - start) * u

    def done(self, now: float) -> bool:
        return now >= self.start + self.duration


@dataclasses.dataclass
class RunningCue:
    cue: Cue
    started: float                      # when GO (or a continue) started it
    actions_at: float                   # when its actions start (after the pre-wait)
    actions_started: bool = False
    continued: bool = False
    walk_replaced: bool = False          # a later cue started another walk: this cue's walk is over

    def ends_at(self) -> float:
        def duration(action: object) -> float:
            if isinstance(action, WalkAction) and self.walk_replaced:
                return action.transition
            return action.duration  # type: ignore[attr-defined, no-any-return]
        return self.actions_at + max((duration(a) for a in self.cue.actions), default=0.0)


class CueRunner:
    """Runs the cue list of one show; see the module docstring for the semantics."""

    def __init__(self, show: Show, params: ParamStore, on_walk: OnWalk | None = None,
                 on_chain: Callable[[tuple[str, ...]], None] | None = None,
                 time_of_day: Callable[[], float] = seconds_since_midnight) -> None:
        self.params = params
        self.on_walk = on_walk
        self.on_chain = on_chain
        self.time_of_day = time_of_day
        self.show = show
        self.running: list[RunningCue] = []
        self.fades: dict[str, _Fade] = {}
        self.messages: collections.deque[str] = collections.deque(maxlen=MAX_MESSAGES)
        self.catching_up = False            # the last update left due cue starts for the next frames
        self.chain: tuple[str, ...] | None = None   # the effect chain the last shaders action set
        self.playhead: int | None = 0 if show.cues else None
        self._last_go = -math.inf
        self._panic_until: float | None = None
        self._now = 0.0
        self._last_time_of_day: float | None = None
        self._declare(show)
        self._apply_initial()

    # ---------------------------------------------------------------------------------------- operations
    def go(self, now: float) -> str:
        """Start the standby cue. Returns what happened (for the HUD and OSC replies)."""
        if now - self._last_go < self.show.go_lockout:
            return f"GO ignored: within the {self.show.go_lockout:g} s lockout"
        self._last_go = now
        if self.playhead is None:
            return "GO: no cue on standby (end of the list)"
        cue = self.show.cues[self.playhead]
        self._start(self.playhead, now)
        return f"GO {cue.label}"

    def start_cue(self, cue_id: str, now: float) -> str:
        """Start a cue by id (``/show/cue/{id}/start``), whatever is on standby."""
        try:
            index = self.show.cue_index(cue_id)
        except KeyError:
            return f"no cue with id {cue_id!r}"
        self._start(index, now)
        return f"started {self.show.cues[index].label}"

    def stop(self, now: float) -> str:
        self.running.clear()
        for fade in list(self.fades.values()):
            self.params.set(fade.param, fade.value(now), immediate=True, source="cue")
        self.fades.clear()
        return "stopped all cues"

    def panic(self, now: float) -> str:
        """First press: fade everything to rest over panic_time. Second press during that fade: cut to rest."""
        self.running.clear()
        rest = self._rest_values()
        if self._panic_until is not None and now < self._panic_until:
            self.fades.clear()
            for key, value in rest.items():
                self.params.set(key, value, immediate=True, source="panic")
            self._panic_until = None
            return "PANIC: cut to rest"
        for key, value in rest.items():
            self._fade(key, value, self.show.panic_time, "s", now)
        self._panic_until = now + self.show.panic_time
        return f"PANIC: fading to rest over {self.show.panic_time:g} s (press again to cut)"

    def reset(self, now: float) -> str:
        self.running.clear()
        self.fades.clear()
        self._panic_until = None
        self.playhead = 0 if self.show.cues else None
        if self.on_walk is not None:
            self.on_walk(self.show.walk, now, None, 0)   # back to the opening walk
        self._apply_initial()
        if self.chain is not None:
            self.chain = None
            if self.on_chain is not None:
                self.on_chain(self.show.chain)
        return "reset: playhead on the first cue"

    def move_playhead(self, step: int) -> str:
        if not self.show.cues:
            return "no cues"
        current = self.playhead if self.playhead is not None else len(self.show.cues)
        self.playhead = min(max(current + step, 0), len(self.show.cues) - 1)
        return f"standby: {self.show.cues[self.playhead].label}"

    @property
    def standby(self) -> Cue | None:
        return self.show.cues[self.playhead] if self.playhead is not None else None

    # ---------------------------------------------------------------------------------------- per frame
    def update(self, now: float) -> None:
        """Advance the cue list to engine time ``now``: pre-waits, continues, fades, triggers."""
        self._now = now
        self._wall_clock_triggers(now)
        # Start what is due, in time order; a continue can start a cue whose own continue is due too. Continue
        # cycles that take no time are refused when the show is loaded, and every time is 0 or at least a
        # millisecond; still, after a long stall (a machine asleep for a day) thousands of continues can fall
        # due at once, so one frame handles at most MAX_EVENTS_PER_UPDATE and the next frames the rest, in order.
        self.catching_up = False
        deadline = time.perf_counter() + MAX_UPDATE_SECONDS
        for _ in range(MAX_EVENTS_PER_UPDATE):
            if not self._start_due(now):
                break
            self._drop_finished(now)
            if time.perf_counter() > deadline:
                self.catching_up = True
                break
        else:
            self.catching_up = True
            _throttle.warning("behind", "the cue list is catching up: more than %d cue starts fell due in one "
                                        "frame; the rest follow in the next frames", MAX_EVENTS_PER_UPDATE)
        self._drop_finished(now)
        for key, fade in list(self.fades.items()):
            try:
                writer, number = self.params.last_write(key)
                if number != fade.written and writer not in ENGINE_SOURCES:
                    # A performer moved this parameter during the fade: the fade lets go of it.
                    del self.fades[key]
                    self.messages.append(f"{key}: taken over by {writer} from the fade")
                    continue
                self.params.set(key, fade.value(now), immediate=True, source="cue")
                fade.written = self.params.last_write(key)[1]
            except (KeyError, ValueError) as exc:  # a parameter gone with a reload: the fade lets go
                del self.fades[key]
                self.messages.append(f"fade of {key} stopped: {exc}")
                continue
            if fade.done(now):
                del self.fades[key]
        if self._panic_until is not None and now >= self._panic_until:
            self._panic_until = None

    def _drop_finished(self, now: float) -> None:
        """Forget cues that have continued, or that have nothing left to do (fades live on in self.fades)."""
        self.running = [r for r in self.running if not (r.actions_started and (
            r.continued or (r.cue.continue_mode == "none" and now >= r.ends_at())))]

    def _start_due(self, now: float) -> bool:
        """Start the earliest due event (a cue's actions after its pre-wait, or a continue); False if none."""
        events: list[tuple[float, int, RunningCue]] = []
        for running in self.running:
            if not running.actions_started:
                events.append((running.actions_at, 0, running))
            elif not running.continued and running.cue.continue_mode != "none":
                due = (running.actions_at + running.cue.post_wait if running.cue.continue_mode == "auto-continue"
                       else running.ends_at())
                events.append((due, 1, running))
        due_events = [e for e in events if e[0] <= now]
        if not due_events:
            return False
        at, kind, running = min(due_events, key=lambda e: (e[0], e[1]))
        if kind == 0:
            self._start_actions(running, at)
        else:
            running.continued = True
            if self.playhead is not None:
                self._start(self.playhead, at)
        return True

    # ---------------------------------------------------------------------------------- crash and resume
    def snapshot(self, now: float) -> RunnerState:
        """Where the cue list is (the walk fields are the latent source's to fill in)."""
        return RunnerState(
            standby=self.standby.id if self.standby is not None else None,
            running=tuple(CueState(r.cue.id, max(now - r.started, 0.0), r.actions_started, r.continued,
                                   r.walk_replaced) for r in self.running),
            fades=tuple(FadeState(f.param, f.start_value, f.to, max(now - f.start, 0.0), f.duration, f.curve)
                        for f in self.fades.values()),
            walk_cue=None, walk_action=0, walk_start=0.0, chain=self.chain)

    def restore(self, state: RunnerState, now: float) -> str:
        """Continue from a snapshot taken before a restart: nothing is started again, nothing jumps.
        Cues and fades that no longer exist in the show (it was edited in between) are skipped."""
        self._now = now
        ids = {c.id: c for c in self.show.cues}
        if state.standby in ids:
            self.playhead = self.show.cue_index(state.standby)
        elif state.standby is None and self.show.cues:
            self.playhead = None
        self.running = []
        for saved in state.running:
            cue = ids.get(saved.id)
            if cue is not None:
                started = now - saved.started_ago
                self.running.append(RunningCue(cue, started, started + cue.pre_wait, saved.actions_started,
                                               saved.continued, saved.walk_replaced))
        known = set(self.params.keys())
        self.fades = {f.param: _Fade(f.param, f.start_value, f.to, now - f.started_ago, f.duration, f.curve,
                                     self.params.last_write(f.param)[1])
                      for f in state.fades if f.param in known and f.curve in CURVES}
        if state.chain is not None:
            self.chain = state.chain
            if self.on_chain is not None:
                self.on_chain(state.chain)
        running = ", ".join(r.cue.id for r in self.running) or "none"
        standby = self.standby.id if self.standby is not None else "(end)"
        return f"resumed: running {running}, standby {standby}"

    # -------------------------------------------------------------------------------------------- reload
    def apply(self, show: Show) -> str:
        """Take a new version of the show file while running: cues and declarations change, nothing jumps
        (running cues and fades go on; the standby cue is kept by id where it still exists)."""
        standby = self.standby.id if self.standby is not None else None
        self.show = show
        self._declare(show)
        ids = [c.id for c in show.cues]
        if standby in ids:
            self.playhead = ids.index(standby)
        elif self.playhead is not None:
            self.playhead = min(self.playhead, len(ids) - 1) if ids else None
        return f"reloaded {show.path}: {len(show.cues)} cues"

    # ------------------------------------------------------------------------------------------ internals
    def _start(self, index: int, now: float) -> None:
        cue = self.show.cues[index]
        self.playhead = index + 1 if index + 1 < len(self.show.cues) else None
        running = RunningCue(cue=cue, started=now, actions_at=now + cue.pre_wait)
        self.running.append(running)
        log.info("cue %s started at %.3f", cue.id, now)
        if cue.pre_wait == 0:
            self._start_actions(running, now)

    def _start_actions(self, running: RunningCue, now: float) -> None:
        running.actions_started = True
        for i, action in enumerate(running.cue.actions):
            if isinstance(action, WalkAction):
                for other in self.running:
                    if other is not running:
                        other.walk_replaced = True
                if self.on_walk is not None:
                    self.on_walk(action, now, running.cue.id, i)
            elif isinstance(action, FadeAction):
                self._fade(action.param, action.to, action.time, action.curve, now)
            elif isinstance(action, ShadersAction):
                self.chain = action.chain
                if self.on_chain is not None:
                    self.on_chain(action.chain)
            elif isinstance(action, GotoAction):
                self.playhead = self.show.cue_index(action.cue)

    def _fade(self, key: str, to: float, duration: float, curve: str, now: float) -> None:
        running = self.fades.get(key)  # take over from wherever it is now, also mid-fade between updates
        start_value = running.value(now) if running is not None else self.params.get(key)
        self.fades[key] = _Fade(key, start_value, to, now, duration, curve, self.params.last_write(key)[1])
        if duration <= 0:
            self.params.set(key, to, immediate=True, source="cue")
            del self.fades[key]

    def _declare(self, show: Show) -> None:
        for decl in show.declare:
            self.params.declare(ParamSpec(decl.key, decl.default, decl.minimum, decl.maximum,
                                          smoothing=decl.smoothing, curve=decl.curve))

    def _apply_initial(self) -> None:
        self.params.reset()
        for key, value in self.show.initial.items():
            self.params.set(key, value, immediate=True, source="initial")

    def _rest_values(self) -> dict[str, float]:
        rest = {key: self.params.spec(key).default for key in self.params.keys()}
        rest.update(self.show.panic_rest)
        return rest

    def _wall_clock_triggers(self, now: float) -> None:
        triggered = [c for c in self.show.cues if c.at is not None]
        if not triggered:
            return
        tod = self.time_of_day()
        last, self._last_time_of_day = self._last_time_of_day, tod
        if last is None:
            return
        for cue in triggered:
            assert cue.at is not None
            parts = [int(p) for p in cue.at.split(":")] + [0]
            at = parts[0] * 3600 + parts[1] * 60 + parts[2]
            crossed = last < at <= tod if last <= tod else (at > last or at <= tod)  # midnight wrap
            if crossed:
                self.messages.append(f"{cue.at}: {cue.label} started by the clock")
                self._start(self.show.cue_index(cue.id), now)
