"""A running show: its cue list and its latent source, wired together.

    runner = ShowRunner(show, G, params)
    runner.go(now)                 # start the standby cue (GO lockout guards against double presses)
    runner.update(now, walk_time)  # once per frame: the cue list, then the walk it chose
    frame = runner.frame_at(walk_time, truncation_psi)   # the W to draw

The cue logic (GO, waits, continues, fades, panic, triggers) is :class:`~engine.show.cues.CueRunner`, which
needs neither torch nor a model; the W (walks, crossfades, truncation) is
:class:`~engine.show.latents.ShowLatents`, which the cue list commands through ``on_walk``. This class
pairs them for the engine and offers the cue list's operations and state.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from engine.inputs import InputError
from engine.latent.files import LatentFileError, read_latents
from engine.latent.spec import Keyframe
from engine.latent.walker import WalkFrame
from engine.models.networks import Generator
from engine.params import ParamStore
from engine.show.cues import MAX_EVENTS_PER_UPDATE, MAX_UPDATE_SECONDS, CueRunner, RunningCue, \
    seconds_since_midnight
from engine.show.latents import MAX_CROSSFADE_DEPTH, PreparedShow, ShowLatents
from engine.show.model import Cue, Show
from engine.show.state import RunnerState

MAX_LIVE_LATENT_BYTES = 4 * 2 ** 20     # a live /walk/latent reads its file in the frame loop: keep that short

__all__ = ["MAX_CROSSFADE_DEPTH", "MAX_EVENTS_PER_UPDATE", "MAX_UPDATE_SECONDS", "PreparedShow", "RunningCue",
           "ShowRunner"]


class ShowRunner:
    """One show for one generator: a :class:`CueRunner` and the :class:`ShowLatents` it commands."""

    def __init__(self, show: Show, G: Generator, params: ParamStore,
                 on_chain: Callable[[tuple[str, ...]], None] | None = None,
                 time_of_day: Callable[[], float] = seconds_since_midnight) -> None:
        self.G = G
        self.params = params
        self.latents = ShowLatents(show, G)
        self.cues = CueRunner(show, params, on_walk=self.latents.start_walk, on_chain=on_chain,
                              time_of_day=time_of_day)

    # ------------------------------------------------------------------------------------------ the picture
    def frame_at(self, walk_time: float, truncation_psi: float | None = None) -> WalkFrame:
        psi = truncation_psi if truncation_psi is not None else self.params.get("gen.psi")
        return self.latents.frame_at(walk_time, psi)

    def update(self, now: float, walk_time: float | None = None) -> None:
        """Advance to engine time ``now``; walks that cues start now start at ``walk_time``."""
        self.latents.update(now, walk_time if walk_time is not None else self.latents.walk_time)
        self.cues.update(now)

    # ---------------------------------------------------------------------------------------- operations
    def go(self, now: float) -> str:
        return self.cues.go(now)

    def walk_to(self, seed: int, seconds: float, now: float, origin: str = "performer") -> str:
        """Glide to a seed's image over ``seconds`` (0: jump) and hold it, from wherever the picture is."""
        self.latents.walk_to(Keyframe(seed=seed), seconds, now, origin)
        return f"walk to seed {seed}" + (f" over {seconds:g} s" if seconds > 0 else "")

    def walk_to_latent(self, name: str, row: int, seconds: float, now: float, origin: str = "performer") -> str:
        """Glide to a row of a latent file from the show's own folder (a name, never a path; a link that
        points outside the folder is refused) and hold it. Small files only: this runs in the frame loop."""
        folder = os.path.realpath(os.path.dirname(os.path.abspath(self.show.path)))
        path = os.path.realpath(os.path.join(folder, name))
        if os.path.dirname(path) != folder or os.path.basename(name) != name:
            raise InputError(f"walk latent {name[:60]}: only files in the show's folder ({folder})")
        try:
            size = os.stat(path).st_size
        except OSError as exc:
            raise InputError(f"walk latent {name[:60]}: {exc.strerror or exc}") from None
        if size > MAX_LIVE_LATENT_BYTES:
            raise InputError(f"walk latent {name[:60]}: {size // 2 ** 20} MiB; a live walk reads at most "
                             f"{MAX_LIVE_LATENT_BYTES // 2 ** 20} MiB (put larger walks in the show's cues)")
        try:
            rows = read_latents(path).rows
        except LatentFileError as exc:
            raise InputError(str(exc)) from None
        if row >= rows:
            raise InputError(f"walk latent {name[:60]}: row {row}, but the file has {rows}")
        self.latents.walk_to(Keyframe(path=path, row=row, origin=f"{origin} /walk/latent"), seconds, now, origin)
        return f"walk to {name} row {row}" + (f" over {seconds:g} s" if seconds > 0 else "")

    def start_cue(self, cue_id: str, now: float) -> str:
        return self.cues.start_cue(cue_id, now)

    def stop(self, now: float) -> str:
        return self.cues.stop(now)

    def panic(self, now: float) -> str:
        return self.cues.panic(now)

    def reset(self, now: float) -> str:
        return self.cues.reset(now)

    def move_playhead(self, step: int) -> str:
        return self.cues.move_playhead(step)

    # -------------------------------------------------------------------------------------- the cue list
    @property
    def show(self) -> Show:
        return self.cues.show

    @property
    def standby(self) -> Cue | None:
        return self.cues.standby

    @property
    def running(self) -> list[RunningCue]:
        return self.cues.running

    @property
    def fades(self) -> dict:  # type: ignore[type-arg]
        return self.cues.fades

    @property
    def messages(self):  # type: ignore[no-untyped-def]
        return self.cues.messages

    @property
    def catching_up(self) -> bool:
        return self.cues.catching_up

    @property
    def chain(self) -> tuple[str, ...] | None:
        return self.cues.chain

    @property
    def on_chain(self) -> Callable[[tuple[str, ...]], None] | None:
        return self.cues.on_chain

    @on_chain.setter
    def on_chain(self, callback: Callable[[tuple[str, ...]], None] | None) -> None:
        self.cues.on_chain = callback

    # ---------------------------------------------------------------------------------- crash and resume
    def snapshot(self, now: float) -> RunnerState:
        cue, index, start = self.latents.position()
        state = self.cues.snapshot(now)
        return RunnerState(state.standby, state.running, state.fades, cue, index, start, state.chain)

    def restore(self, state: RunnerState, now: float, walk_time: float) -> str:
        self.latents.restore(state.walk_cue, state.walk_action, state.walk_start, now, walk_time)
        return self.cues.restore(state, now)

    # -------------------------------------------------------------------------------------------- reload
    def prepare(self, show: Show) -> PreparedShow:
        """Resolve every walk of ``show`` (on the reload thread); see ShowLatents.prepare."""
        return self.latents.prepare(show)

    def apply(self, show: Show | PreparedShow) -> str:
        prepared = show if isinstance(show, PreparedShow) else self.latents.prepare(show)
        self.latents.apply(prepared)
        return self.cues.apply(prepared.show)
