"""Offline rendering of a show: its default length, and a short way to render one.

A render runs the live loop's own frame step on a frame clock (:meth:`engine.session.Session.render`): GOs
scheduled at or before a frame's time fire, the cue runner advances to it, the generator makes that frame's W
(synchronously: no frame is ever skipped or blended offline), and the same GL compositor and effect chain as
the live loop (offscreen, EGL) draws it. Time never comes from the wall clock, so rendering a show twice gives
identical frames.

    render_show(show, G, "show.mp4", RenderSettings(fps=30, duration=60), go_at=[0.0, 12.5])
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from engine.show.model import GotoAction, Show

if TYPE_CHECKING:
    from engine.models.networks import Generator
    from engine.render import RenderSettings, RenderStats
    from engine.video import FrameSink

SHADERS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "shaders")
OFFLINE_SHADER_BUDGET_MS = 2000.0
MAX_DEFAULT_LENGTH = 600.0     # a looping show plays its cue list once, capped at ten minutes
TAIL_SECONDS = 2.0             # after the last cue has finished its actions


def show_length(show: Show, go_at: Sequence[float] | None = None) -> float:
    """A default render length: until every GO has played its cue sequence once (continues and follows
    included), then :data:`TAIL_SECONDS`; at least 10 s, at most :data:`MAX_DEFAULT_LENGTH` past the last GO.

    Each GO starts the standby cue; a cue that continues starts the next one (or its goto target) after its
    post-wait or when its actions end; a sequence stops at a cue that waits for GO or at a cue it has already
    played (a loop).
    """
    index = {cue.id: i for i, cue in enumerate(show.cues)}
    playhead: int | None = 0 if show.cues else None
    end = 0.0
    gos = sorted(go_at) if go_at is not None else [0.0]
    for go in gos:
        end = max(end, go)
        at, played = go, set()
        while playhead is not None and playhead not in played:
            played.add(playhead)
            cue = show.cues[playhead]
            goto = next((a.cue for a in cue.actions if isinstance(a, GotoAction)), None)
            finite = [a.duration for a in cue.actions if not math.isinf(a.duration)]
            end = max(end, at + cue.pre_wait + max(finite, default=0.0))
            playhead = index[goto] if goto is not None else (playhead + 1 if playhead + 1 < len(show.cues) else None)
            if cue.continue_mode == "auto-continue":
                at += cue.pre_wait + cue.post_wait
            elif cue.continue_mode == "auto-follow" and not math.isinf(cue.duration):
                at += cue.duration
            else:
                break
    return min(max(end + TAIL_SECONDS, 10.0), (gos[-1] if gos else 0.0) + MAX_DEFAULT_LENGTH)


def render_show(show: Show, G: Generator, output: str | FrameSink, settings: RenderSettings,
                go_at: Sequence[float] | None = None, shader_dir: str = SHADERS,
                progress: Callable[[int], None] | None = None) -> RenderStats:
    """Render ``show`` offline (``go_at``: times of manual GOs, default one GO at 0), through the session's
    one frame step (:meth:`engine.session.Session.render`)."""
    from engine.session import Session, SessionConfig
    return Session.from_parts(G, show=show, config=SessionConfig(shaders=shader_dir)).render(
        output, settings, go_at=go_at, progress=progress)
