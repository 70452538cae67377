"""Offline rendering of a show: cues, fades and effects on a frame clock, frame-exact and repeatable.

Each output frame: GOs scheduled at or before its time fire, the cue runner advances to it, the generator makes
that frame's W (synchronously: no frame is ever skipped or blended offline), and the same GL compositor and
effect chain as the live loop (offscreen, EGL) draws it. Time never comes from the wall clock, so rendering a
show twice gives identical frames.

    >>> render_show(show, G, "show.mp4", RenderSettings(fps=30, duration=60), go_at=[0.0, 12.5])  # doctest: +SKIP
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence

import numpy as np

from engine.generate import FrameSynthesizer
from engine.live import engine_params
from engine.models.networks import Generator
from engine.gl.outputs import HeadlessOutput, OutputSpec, shared_egl_context
from engine.render import RenderSettings, RenderStats, render_frames
from engine.show.model import GotoAction, Show
from engine.show.runner import ShowRunner
from engine.video import FrameSink
from engine.worker import GeneratedFrame

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
    """Render ``show`` offline. ``go_at``: times of manual GOs (default: one GO at 0)."""
    params = engine_params()
    config = show.outputs[0]
    size = settings.size or config.size
    spec = OutputSpec(size=size, fit=config.fit, chain=config.chain or show.chain)
    ctx = shared_egl_context()
    # Offline, a slow effect only makes the render slower; the probe still refuses an endless loop.
    out = HeadlessOutput(ctx, shader_dir, params, spec, shader_budget_ms=OFFLINE_SHADER_BUDGET_MS)
    runner = ShowRunner(show, G, params, on_chain=lambda chain: setattr(out.compositor, "chain", list(chain)),
                        time_of_day=lambda: -1.0)
    synthesizer = FrameSynthesizer(G)
    pending = sorted(go_at) if go_at is not None else [0.0]
    state = {"walk_time": 0.0, "last_t": 0.0}

    def produce(i: int, t: float) -> np.ndarray:
        while pending and pending[0] <= t + 1e-9:
            runner.go(pending.pop(0))
        state["walk_time"] += (t - state["last_t"]) * params.get("walk.speed")
        state["last_t"] = t
        params.advance(t)
        runner.update(t, state["walk_time"])
        rgb = synthesizer.render(runner.frame_at(state["walk_time"]))
        frame = GeneratedFrame(rgb=rgb, stamp=t, sequence=i + 1, latency=0.0)
        out.draw(t, [frame], params.snapshot(), blend=False)
        return out.read()

    total = settings.frame_count(show_length(show, go_at))
    try:
        return render_frames(produce, total, output, size, settings, progress)
    finally:
        out.close()
        ctx.release()
