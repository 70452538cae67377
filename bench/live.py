"""The live loop, headless: display fps, generator fps, and parameter-to-screen latency.

    python bench/live.py                      # the default model and a 256² (paper256) model, CPU, 1280x720
    python bench/live.py --models default --seconds 10

For each model the loop runs offscreen (EGL) at the live loop's target rate (60 fps) for a while; then ``gen.psi`` jumps from 0.7 to 0.0 and we time
how long until the first displayed frame that shows it (the first frame whose picture moved by more than the
noise floor measured while holding still). The walk is held still (``walk.speed`` 0) during that part so only
the parameter changes the picture. All figures are medians; ratios compare the display rate with the
generator rate (how much the blending covers).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.generator import CONFIGS  # noqa: E402
from engine.gl.outputs import shared_egl_context  # noqa: E402
from engine.latent import Keyframe, LatentWalker, WalkSettings  # noqa: E402
from engine.models import Generator, load_generator  # noqa: E402
from engine.session import Session, SessionConfig  # noqa: E402

SHADERS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "shaders")


def run_model(name: str, G: Generator, size: tuple[int, int], seconds: float, trials: int,
              display_fps: float) -> None:
    walker = LatentWalker(G, WalkSettings(keyframes=tuple(Keyframe(seed=s) for s in range(4)),
                                          seconds_per_keyframe=2.0))
    config = SessionConfig(headless=True, size=size, max_fps=display_fps, fit="fit")
    engine = Session.from_parts(G, walker=walker, config=config).open_live()   # as launch.py --headless builds it
    output, params = engine.outputs[0], engine.params
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

    # 1) Throughput at the display rate the live loop targets.
    display, generated, frame_ms = [], [], []
    start = time.perf_counter()
    last_t, last_d, last_g = start, 0, 0
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
        while time.perf_counter() - settle < 2.0:
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
    engine.close()
    d, g = statistics.median(display), statistics.median(generated)
    print(f"\n{name}: {G.img_resolution}² model, {G.device.type} {G.precision}, output {size[0]}x{size[1]}, "
          f"{torch.get_num_threads()} torch threads")
    print(f"  display    {d:6.1f} fps  (target {display_fps:.0f}; median of {len(display)} one-second windows; "
          f"busy {statistics.median(frame_ms):.1f} ms per frame)")
    print(f"  generator  {g:6.1f} fps  (display/generator ratio {d / max(g, 1e-9):.1f}x: the compositor blends)")
    if latencies:
        print(f"  latency    {statistics.median(latencies):6.0f} ms  parameter change -> first frame showing it "
              f"(median of {len(latencies)}; min {min(latencies):.0f}, max {max(latencies):.0f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="default,256", help="comma list of default, 256")
    parser.add_argument("--seconds", type=float, default=6.0, help="throughput measurement per model")
    parser.add_argument("--trials", type=int, default=5, help="latency trials per model")
    parser.add_argument("--size", default="1280x720", help="output size")
    parser.add_argument("--precision", default="auto", help="auto / fp32 / bf16 / fp16")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--display-fps", type=float, default=60.0, help="the live loop's frame-rate target")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    size = tuple(int(v) for v in args.size.split("x"))
    print(f"GL: {shared_egl_context().info['GL_RENDERER']}")
    for name in args.models.split(","):
        if name == "default":
            G = load_generator("default", precision=args.precision)
        else:
            torch.manual_seed(0)
            G = Generator(CONFIGS[name])
            G = G.to("cuda" if torch.cuda.is_available() else "cpu")
            G.set_precision("fp16" if G.device.type == "cuda" else
                            (args.precision if args.precision != "auto" else "fp32"))
        run_model(f"{name} model", G, size, args.seconds, args.trials, args.display_fps)  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
