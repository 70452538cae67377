"""The live loop, headless: display fps, the generator's rate inside the loop against its rate alone, and the
latency from a parameter change to the first frame that shows it, for each producer (thread, process).

    python bench/live.py                                   # default and 256² models, both producers, 1280x720
    python bench/live.py --models default --producers process --effects demo --seconds 10
    python bench/live.py --json                            # one JSON object: {"runs": [...], "machine": {...}}

Each run builds the engine as ``launch.py --headless`` does (engine.session) and drives its frames at the
display rate (30 fps, the cap where GL renders on the CPU). Figures, all medians:

* ``generator_fps_standalone``: the generator alone in this process, with every core (its baseline, measured
  in the same run, just before the loop);
* ``generator_fps_live``: generated frames per second while the loop runs (median of one-second windows), and
  ``share``, its ratio to the standalone rate (the goal: at least 65% without effects, 40% with the demo's),
  and ``share_of_useful``, its ratio to the most that can be shown: the standalone rate or the display rate,
  whichever is lower (the loop asks for one frame per display frame; more would never be seen);
* ``display_fps`` and ``display_busy_ms`` (the display thread's work per frame: routing, cues, compositing,
  the read-back);
* ``latency_ms``: ``gen.psi`` jumps from 0.7 to 0.0 with the walk held still, until the first displayed frame
  whose picture moved by more than the noise floor measured while holding still.

``effects``: ``none`` (every effect at rest, which costs nothing) or ``demo`` (the demo show's chain at its
busiest cue: feedback, kaleidoscope and vignette on). The 256² model is a paper256 StyleGAN2 (random weights,
saved to a temporary file so the process producer loads it as it would a user's model).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from typing import Any

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.generator import CONFIGS  # noqa: E402
from engine.generate import FrameSynthesizer  # noqa: E402
from engine.gl.outputs import shared_egl_context  # noqa: E402
from engine.latent import Keyframe, LatentWalker, WalkSettings  # noqa: E402
from engine.models import Generator, load_generator, save_generator  # noqa: E402
from engine.models.load import cpu_has_native_bf16  # noqa: E402
from engine.session import Session, SessionConfig  # noqa: E402
from engine.tuning import plan_cpu, usable_cores  # noqa: E402

# The demo show's effects at its busiest (cue 3 of shows/demo.yaml, with feedback on).
DEMO_EFFECTS = {"feedback.amount": 0.6, "kaleidoscope.amount": 1.0, "vignette.amount": 0.35,
                "colour_grade.saturation": 1.2}


def standalone_fps(G: Generator, model: str, walker: LatentWalker, seconds: float) -> tuple[float, int]:
    """The generator alone, with the threads the engine measures for it when it has the machine."""
    plan = plan_cpu(G, model, reserved=0) if G.device.type == "cpu" else None
    before = torch.get_num_threads(), G.precision
    if plan is not None:
        torch.set_num_threads(plan.threads)
        G.set_precision(plan.precision)
    synthesizer = FrameSynthesizer(G)
    synthesizer.render(walker.frame_at(0.0))
    times = []
    start = time.perf_counter()
    while time.perf_counter() - start < seconds or len(times) < 5:
        t0 = time.perf_counter()
        synthesizer.render(walker.frame_at(len(times) * 0.03))
        times.append(time.perf_counter() - t0)
    torch.set_num_threads(before[0])
    G.set_precision(before[1])
    return 1.0 / statistics.median(times), plan.threads if plan is not None else before[0]


def run(name: str, G: Generator, model: str, producer: str, effects: str, size: tuple[int, int], seconds: float,
        trials: int, display_fps: float, threads: int | None = None) -> dict[str, Any]:
    walker = LatentWalker(G, WalkSettings(keyframes=tuple(Keyframe(seed=s) for s in range(4)),
                                          seconds_per_keyframe=2.0))
    alone, alone_threads = standalone_fps(G, model, walker, seconds=min(seconds, 4.0))
    config = SessionConfig(model=model, headless=True, size=size, max_fps=display_fps,
                           generator=producer, threads=threads)
    engine = Session.from_parts(G, walker=walker, config=config).open_live()  # as launch.py --headless builds it
    output, params = engine.outputs[0], engine.params
    for key, value in (DEMO_EFFECTS if effects == "demo" else {}).items():
        params.set(key, value, immediate=True)
    engine.worker.start()
    period = 1.0 / display_fps

    def paced_frame() -> float:
        """One display frame at the target rate, as the live loop runs it; returns its busy time in ms."""
        t0 = time.perf_counter()
        engine.frame()
        busy = time.perf_counter() - t0
        if busy < period:
            time.sleep(period - busy)
        return busy * 1000

    try:
        deadline = time.perf_counter() + 120
        while engine.worker.frames.latest() is None and time.perf_counter() < deadline:   # started, model loaded
            paced_frame()
        for _ in range(int(display_fps)):                                               # one second of warm-up
            paced_frame()
        # 1) Throughput at the display rate.
        display, generated, frame_ms = [], [], []
        start = time.perf_counter()
        last_t, last_d, last_g = start, engine.stats.display_frames, engine.worker.status.frames
        while time.perf_counter() - start < seconds:
            frame_ms.append(paced_frame())
            now = time.perf_counter()
            if now - last_t >= 1.0:
                display.append((engine.stats.display_frames - last_d) / (now - last_t))
                generated.append((engine.worker.status.frames - last_g) / (now - last_t))
                last_t, last_d, last_g = now, engine.stats.display_frames, engine.worker.status.frames
        # 2) Latency from a parameter change to the first displayed frame that shows it.
        params.set("walk.speed", 0.0)
        latencies = []
        for _ in range(trials):
            params.set("gen.psi", 0.7)
            settle = time.perf_counter()
            while time.perf_counter() - settle < 1.5:
                paced_frame()
            still = []
            for _ in range(3):
                paced_frame()
                still.append(output.read().astype(np.int16))
            noise = max(float(np.abs(still[0] - s).mean()) for s in still[1:]) + 0.5
            reference = still[-1]
            changed_at = time.perf_counter()
            params.set("gen.psi", 0.0)
            while time.perf_counter() - changed_at < 10:
                paced_frame()
                if float(np.abs(output.read().astype(np.int16) - reference).mean()) > noise * 2:
                    latencies.append((time.perf_counter() - changed_at) * 1000)
                    break
        threads_live = getattr(engine.worker, "threads", torch.get_num_threads())
        precision_live = getattr(engine.worker, "precision", G.precision)
        work = output.compositor.work_size
    finally:
        engine.close()
    live = statistics.median(generated) if generated else 0.0
    return {"model": name, "resolution": G.img_resolution, "producer": producer, "effects": effects,
            "output": f"{size[0]}x{size[1]}", "display_fps_target": display_fps,
            "display_fps": round(statistics.median(display), 2) if display else 0.0,
            "display_busy_ms": round(statistics.median(frame_ms), 2) if frame_ms else 0.0,
            "generator_fps_live": round(live, 2), "generator_fps_standalone": round(alone, 2),
            "share": round(live / alone, 3) if alone else 0.0,
            "share_of_useful": round(live / min(alone, display_fps), 3) if alone else 0.0,
            "latency_ms": round(statistics.median(latencies), 1) if latencies else None,
            "threads_standalone": alone_threads, "threads_live": threads_live, "precision_live": precision_live,
            "effects_drawn_at": f"{work[0]}x{work[1]}"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="default,256", help="comma list of default, 256")
    parser.add_argument("--producers", default="thread,process", help="comma list of thread, process")
    parser.add_argument("--effects", default="none,demo", help="comma list of none, demo")
    parser.add_argument("--seconds", type=float, default=8.0, help="throughput measurement per run")
    parser.add_argument("--trials", type=int, default=5, help="latency trials per run")
    parser.add_argument("--size", default="1280x720", help="output size")
    parser.add_argument("--display-fps", type=float, default=30.0, help="the live loop's frame-rate target")
    parser.add_argument("--threads", type=int, default=None, help="the live generator's threads (default: measured)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    renderer = shared_egl_context().info["GL_RENDERER"]
    runs = []
    with tempfile.TemporaryDirectory() as folder:
        for name in args.models.split(","):
            if name == "default":
                model, G = "default", load_generator("default")
            else:
                torch.manual_seed(0)
                model = os.path.join(folder, f"paper{name}.safetensors")
                save_generator(Generator(CONFIGS[name]), model)
                G = load_generator(model)
            for producer in args.producers.split(","):
                for effects in args.effects.split(","):
                    result = run(name, G, model, producer, effects, size, args.seconds, args.trials,  # type: ignore[arg-type]
                                 args.display_fps, args.threads)
                    runs.append(result)
                    if not args.json:
                        print(f"{name:>8} {producer:>8} effects {effects:<5} display {result['display_fps']:5.1f} fps "
                              f"(busy {result['display_busy_ms']:5.1f} ms)  generator {result['generator_fps_live']:5.1f}"
                              f" / {result['generator_fps_standalone']:5.1f} alone = {result['share']:5.0%}  latency "
                              f"{result['latency_ms']} ms", flush=True)
    machine = {"processor": platform.processor() or platform.machine(), "cores": usable_cores(), "gl": renderer,
               "torch": torch.__version__, "native_bf16": cpu_has_native_bf16()}
    if args.json:
        print(json.dumps({"runs": runs, "machine": machine}, indent=1))
    else:
        print(f"machine: {machine}")


if __name__ == "__main__":
    main()
