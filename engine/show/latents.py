"""The latent source of a show: its walks, the crossfades in W between them, truncation.

The cue list (:mod:`engine.show.cues`) commands it: a walk action crossfades from whatever is on screen to
the new walk (:meth:`ShowLatents.start_walk`); the frame loop asks it for each frame's W
(:meth:`ShowLatents.frame_at`). Every walk of a show is resolved when the show is taken
(:meth:`ShowLatents.prepare`: the mapping network runs for each seed), before the show goes live or, for a
reload, on the reload thread, never at GO on the display thread.

    latents = ShowLatents(show, G)
    latents.start_walk(action, now, cue_id="2", index=0)      # from the cue list
    latents.update(now, walk_time)                            # once per frame
    frame = latents.frame_at(walk_time, truncation_psi=0.7)   # what the generator draws
"""

from __future__ import annotations

import dataclasses

import torch

from engine.latent.interpolate import lerp
from engine.latent.walker import LatentWalker, WalkFrame, WalkSettings
from engine.models.networks import Generator
from engine.show.curves import apply_curve
from engine.latent.spec import Keyframe
from engine.show.model import Show, WalkAction

MAX_CROSSFADE_DEPTH = 3           # crossfades from crossfades kept moving; older ones are held still


class _Source:
    """Untruncated ws as a function of walk time."""

    def ws(self, walk_time: float, now: float) -> torch.Tensor:
        raise NotImplementedError


class _WalkSource(_Source):
    def __init__(self, walker: LatentWalker, walk_start: float, cue: str | None = None, action: int = 0) -> None:
        self.walker, self.walk_start = walker, walk_start
        self.cue, self.action = cue, action     # where the walk was written (None: the show's opening walk)

    def ws(self, walk_time: float, now: float) -> torch.Tensor:
        return self.walker.raw_ws_at(walk_time - self.walk_start)


class _Transition(_Source):
    """A crossfade in W from one source to another over engine time."""

    def __init__(self, old: _Source, new: _Source, start: float, duration: float, curve: str) -> None:
        self.old, self.new, self.start, self.duration, self.curve = old, new, start, duration, curve

    def progress(self, now: float) -> float:
        return 1.0 if self.duration <= 0 else apply_curve(self.curve, (now - self.start) / self.duration)

    def ws(self, walk_time: float, now: float) -> torch.Tensor:
        u = self.progress(now)
        if u >= 1.0:
            return self.new.ws(walk_time, now)
        return lerp(self.old.ws(walk_time, now), self.new.ws(walk_time, now), u)


class _Frozen(_Source):
    """What a source showed at one moment, held still: the far side of a crossfade that a newer one replaced."""

    def __init__(self, ws: torch.Tensor) -> None:
        self._ws = ws

    def ws(self, walk_time: float, now: float) -> torch.Tensor:
        return self._ws


def _simplified(source: _Source, walk_time: float, now: float, depth: int = 0) -> _Source:
    """The same picture from fewer parts: finished crossfades collapse to their new side, and beyond
    MAX_CROSSFADE_DEPTH the oldest side is frozen. Walk cues that start faster than their transitions end
    would otherwise nest crossfades without end (thousands deep: a RecursionError every frame, and every
    old walker kept alive for weeks)."""
    while isinstance(source, _Transition) and source.progress(now) >= 1.0:
        source = source.new
    if isinstance(source, _Transition):
        if depth >= MAX_CROSSFADE_DEPTH:
            return _Frozen(source.ws(walk_time, now))
        source.old = _simplified(source.old, walk_time, now, depth + 1)
    return source


@dataclasses.dataclass(frozen=True)
class PreparedShow:
    """A show with every walk resolved (see :meth:`ShowLatents.prepare`)."""

    show: Show
    walkers: dict[WalkAction, LatentWalker]


class ShowLatents:
    """The W of a running show, frame by frame."""

    def __init__(self, show: Show, G: Generator) -> None:
        self.G = G
        self.show = show
        self._walkers: dict[WalkAction, LatentWalker] = {}   # every walk of the show, resolved before it runs
        self._walkers = self.prepare(show).walkers
        self._now = 0.0
        self._walk_time = 0.0
        self._source: _Source = _WalkSource(self._walker(show.walk), 0.0)

    def frame_at(self, walk_time: float, truncation_psi: float = 1.0) -> WalkFrame:
        """The W for this frame: the current walk (or crossfade between walks), truncated."""
        ws = self._source.ws(walk_time, self._now).unsqueeze(0)
        walk = self._source.new if isinstance(self._source, _Transition) else self._source
        assert isinstance(walk, _WalkSource)     # noise follows the walk on screen (or the one faded to)
        return WalkFrame(t=walk_time, ws=self.G.mapping.truncate(ws, truncation_psi),
                         noise_mode=walk.walker.settings.noise_mode,
                         noise_seed=walk.walker.noise_seed_at(walk_time - walk.walk_start))

    @property
    def walk_time(self) -> float:
        return self._walk_time

    def update(self, now: float, walk_time: float) -> None:
        """Move to engine time ``now`` and walk time ``walk_time`` (walks started now start there)."""
        self._now, self._walk_time = now, walk_time
        self._source = _simplified(self._source, walk_time, now)

    def start_walk(self, action: WalkAction, now: float, cue: str | None, index: int) -> None:
        """Crossfade from what is on screen to ``action``'s walk over its transition (None: the opening walk,
        at once, as a reset does)."""
        new = _WalkSource(self._walker(action), self._walk_time, cue, index)
        if cue is None:
            self._source = new
            return
        old = _simplified(self._source, self._walk_time, now)
        self._source = _Transition(old, new, now, action.transition, action.curve)

    def walk_to(self, keyframe: Keyframe, seconds: float, now: float, origin: str) -> None:
        """Glide in W to one keyframe over ``seconds`` (0: cut) and hold it: a performer's walk command
        (``/walk/glide``). Its walk is not kept among the show's (a week of seeds must not pile up)."""
        action = WalkAction(keyframes=(keyframe,), loop=False, transition=seconds, curve="s")
        walker = self.prepare(dataclasses.replace(self.show, walk=action, cues=())).walkers[action]
        new = _WalkSource(walker, self._walk_time, origin, 0)
        old = _simplified(self._source, self._walk_time, now)
        self._source = _Transition(old, new, now, seconds, "s") if seconds > 0 else new

    # ---------------------------------------------------------------------------------- crash and resume
    def position(self) -> tuple[str | None, int, float]:
        """The walk on screen (or being faded to): its cue id (None: the opening walk), its action index and
        the walk time it started at."""
        source = self._source.new if isinstance(self._source, _Transition) else self._source
        assert isinstance(source, _WalkSource)
        return source.cue, source.action, source.walk_start

    def restore(self, cue_id: str | None, index: int, walk_start: float, now: float, walk_time: float) -> None:
        """Put back the walk of :meth:`position` (no crossfade from the opening walk); the opening walk if that
        cue or action no longer exists."""
        self._now, self._walk_time = now, walk_time
        cue = next((c for c in self.show.cues if c.id == cue_id), None) if cue_id is not None else None
        action = cue.actions[index] if cue is not None and index < len(cue.actions) else None
        if isinstance(action, WalkAction) and cue is not None:
            self._source = _WalkSource(self._walker(action), walk_start, cue.id, index)
        else:
            self._source = _WalkSource(self._walker(self.show.walk), walk_start)

    # -------------------------------------------------------------------------------------------- reload
    def prepare(self, show: Show) -> PreparedShow:
        """Resolve every walk of ``show``: the slow part of taking a show. Walks already resolved are reused.
        Safe to call on another thread (it only reads what the running show has)."""
        walkers = {}
        for action in (show.walk, *(a for c in show.cues for a in c.actions if isinstance(a, WalkAction))):
            if action in walkers:
                continue
            walker = self._walkers.get(action)
            if walker is None:
                settings = WalkSettings(keyframes=action.keyframes, seconds_per_keyframe=action.seconds_per_keyframe,
                                        interpolation=action.interpolation,  # type: ignore[arg-type]
                                        easing=action.easing, loop=action.loop,  # type: ignore[arg-type]
                                        noise_mode=action.noise)  # type: ignore[arg-type]
                walker = LatentWalker(self.G, settings)
            walkers[action] = walker
        return PreparedShow(show, walkers)

    def apply(self, prepared: PreparedShow) -> None:
        """Take the walks of a reloaded show (the walk on screen goes on)."""
        self.show = prepared.show
        self._walkers = dict(prepared.walkers)

    def _walker(self, action: WalkAction) -> LatentWalker:
        """The resolved walk of an action (prepared with the show; built here only if it was not)."""
        walker = self._walkers.get(action)
        if walker is None:
            walker = self.prepare(dataclasses.replace(self.show, walk=action, cues=())).walkers[action]
            self._walkers[action] = walker
        return walker
