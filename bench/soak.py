"""Soak: the demo show, headless, for an hour, its feedback effect held on, under a storm of parameter changes.

    python bench/soak.py                       # one hour at 1280x720 (what the README quotes)
    python bench/soak.py --seconds 150 --json  # what CI runs (tests/test_soak.py checks the figures)

A gallery engine is judged by what it looks like after a week, not after a minute. This runs the real live
loop (default model, cue runner, GL compositor with the demo's effect chain, offscreen through EGL) at the
live loop's 30 fps cap, while another thread posts input events that set random values on the show's
parameters ``--storm-hz`` times a second (as a flood of OSC or MIDI would). The engine is built by the same
session as ``launch.py SHOW --headless``. It measures:

* resident memory (RSS, the engine's and its generator process's together) at the start, after the warm-up
  and at the end, and its slope over the run after the warm-up (a least-squares fit; a leak shows as a steady
  slope, allocator noise does not);
* GL objects alive (the output's inventory) over the run: flat when nothing is made per frame;
* frames shown, the display rate (median of one-second windows) and the longest stall between two shown
  frames (a freeze would show here);
* generator frames, generator errors, faults of the frame stages.

The baseline for the memory figures is the same run's own warm-up: the slope is relative to nothing else.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

from engine.inputs import InputEvent  # noqa: E402
from engine.models import load_generator  # noqa: E402
from engine.session import Session, SessionConfig  # noqa: E402
from engine.show import load_show  # noqa: E402
from engine.show.model import FadeAction, Show  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STORM = ("gen.psi", "walk.speed", "vignette.amount", "colour_grade.saturation", "colour_grade.exposure",
         "colour_grade.hue", "kaleidoscope.amount", "kaleidoscope.spin", "feedback.zoom", "feedback.rotate")


def rss_bytes(pid: int | str = "self") -> int:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:   # a generator process between a death and its restart
        return 0


def pin(show: Show, key: str, value: float) -> Show:
    """The show with ``key`` held at ``value``: set initially, no cue fades it."""
    cues = tuple(dataclasses.replace(c, actions=tuple(a for a in c.actions
                                                      if not (isinstance(a, FadeAction) and a.param == key)))
                 for c in show.cues)
    return dataclasses.replace(show, cues=cues, initial={**show.initial, key: value})


def slope_per_minute(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, value) samples, per minute."""
    if len(samples) < 3:
        return 0.0
    ts, vs = [t for t, _ in samples], [v for _, v in samples]
    mt, mv = statistics.fmean(ts), statistics.fmean(vs)
    var = sum((t - mt) ** 2 for t in ts)
    return 60.0 * sum((t - mt) * (v - mv) for t, v in zip(ts, vs)) / var if var else 0.0


def soak(seconds: float, size: tuple[int, int], storm_hz: float, sample_seconds: float, warmup: float,
         display_fps: float = 30.0) -> dict[str, object]:
    rss_launch = rss_bytes()
    G = load_generator("default", device="cpu")
    show = pin(load_show(os.path.join(ROOT, "shows", "demo.yaml")), "feedback.amount", 0.6)
    session = Session.from_parts(G, show=show, config=SessionConfig(headless=True, size=size, max_fps=display_fps))
    engine = session.open_live()               # the demo autostarts: its first GO is already given
    output = engine.outputs[0]
    params = engine.params
    engine.worker.start()

    stop = threading.Event()
    changes = [0]

    def storm() -> None:
        rng = random.Random(0)
        keys = [k for k in STORM if k in params.keys()]
        period = 1.0 / storm_hz
        while not stop.wait(period):
            key = rng.choice(keys)
            spec = params.spec(key)
            engine.post(InputEvent(engine.clock.now(), "storm", "set", key, rng.uniform(spec.minimum, spec.maximum)))
            changes[0] += 1
    storm_thread = threading.Thread(target=storm, name="parameter-storm", daemon=True)
    storm_thread.start()

    period = 1.0 / display_fps
    start = time.perf_counter()
    last_shown, longest_stall, frames = start, 0.0, 0
    windows: list[float] = []
    window_start, window_frames = start, 0
    rss: list[tuple[float, float]] = []
    gl: list[int] = []
    feedback: set[str] = set()
    next_sample = start
    try:
        while (now := time.perf_counter()) - start < seconds:
            engine.frame()
            frames += 1
            shown = time.perf_counter()
            longest_stall = max(longest_stall, shown - last_shown)
            last_shown = shown
            window_frames += 1
            if shown - window_start >= 1.0:
                windows.append(window_frames / (shown - window_start))
                window_start, window_frames = shown, 0
            if shown >= next_sample:
                child = getattr(engine.worker, "pid", None)         # the generator's own process, if it has one
                rss.append((shown - start, (rss_bytes() + (rss_bytes(child) if child else 0)) / 2 ** 20))
                gl.append(output.gl.count)
                feedback.update(output.compositor.feedback_effects)
                next_sample += sample_seconds
            spare = period - (time.perf_counter() - now)
            if spare > 0:
                time.sleep(spare)
    finally:
        stop.set()
        storm_thread.join()
        status = engine.worker.status
        generated, errors = status.frames, status.errors
        renderer = str(output.ctx.info.get("GL_RENDERER"))
        engine.close()
    after = [(t, v) for t, v in rss if t >= warmup]
    steady_gl = [c for (t, _), c in zip(rss, gl) if t >= warmup]
    return {
        "seconds": round(time.perf_counter() - start, 1), "output": f"{size[0]}x{size[1]}",
        "threads": torch.get_num_threads(), "gl_renderer": renderer,
        "frames_shown": frames, "display_fps_median": round(statistics.median(windows), 2) if windows else 0.0,
        "longest_stall_ms": round(longest_stall * 1000, 1), "generator_frames": generated,
        "generator_errors": errors, "stage_faults": sorted(engine.faults), "parameter_changes": changes[0],
        "producer": type(engine.worker).__name__,
        "rss_launch_mb": round(rss_launch / 2 ** 20, 1), "rss_start_mb": round(rss[0][1], 1) if rss else None,
        "rss_after_warmup_mb": round(after[0][1], 1) if after else None,
        "rss_end_mb": round(rss[-1][1], 1) if rss else None,
        "rss_slope_mb_per_min": round(slope_per_minute(after), 3),
        "gl_objects_after_warmup": steady_gl[0] if steady_gl else None, "gl_objects_max": max(steady_gl, default=None),
        "gl_objects_end": gl[-1] if gl else None, "warmup_seconds": warmup,
        "feedback_effects_drawn": sorted(feedback),
        "rss_samples": [[round(t, 1), round(v, 1)] for t, v in rss],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3600.0, help="how long to run")
    parser.add_argument("--size", default="1280x720", help="output size")
    parser.add_argument("--storm-hz", type=float, default=200.0, help="parameter changes per second")
    parser.add_argument("--sample-seconds", type=float, default=5.0, help="RSS and GL sampling interval")
    parser.add_argument("--warmup", type=float, default=None, help="seconds before the slope counts "
                        "(default: a tenth of the run, at least 20 s)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    size = tuple(int(v) for v in args.size.split("x"))
    warmup = args.warmup if args.warmup is not None else max(20.0, args.seconds / 10)
    result = soak(args.seconds, size, args.storm_hz, args.sample_seconds, warmup)  # type: ignore[arg-type]
    if args.json:
        print(json.dumps(result))
        return
    print(f"soak: demo show, {result['output']}, {result['seconds']} s, GL {result['gl_renderer']}, "
          f"{result['threads']} torch threads")
    print(f"  frames shown      {result['frames_shown']}  (display {result['display_fps_median']} fps median; "
          f"longest stall {result['longest_stall_ms']} ms)")
    print(f"  generator         {result['generator_frames']} frames, {result['generator_errors']} errors; "
          f"stage faults: {', '.join(result['stage_faults']) or 'none'}")  # type: ignore[arg-type]
    print(f"  parameter storm   {result['parameter_changes']} changes")
    print(f"  memory (RSS)      {result['rss_start_mb']} MB at start, {result['rss_after_warmup_mb']} MB after "
          f"{warmup:.0f} s, {result['rss_end_mb']} MB at the end; slope {result['rss_slope_mb_per_min']} MB/min")
    print(f"  GL objects        {result['gl_objects_after_warmup']} after warm-up, at most "
          f"{result['gl_objects_max']}, {result['gl_objects_end']} at the end")


if __name__ == "__main__":
    main()
