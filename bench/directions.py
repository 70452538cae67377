"""Latent directions: how long finding them takes, per model, and what steering costs a frame.

    python bench/directions.py               # default, paper256 and an official-size 1024² model (random weights)
    python bench/directions.py --json

* ``sefa``: SeFa's closed form (the style affines' eigenvectors) plus the spread of W along each direction
  from 4,096 seeded samples — what every run does at load (dir.sefa0 … 7).
* ``ganspace``: PCA of 20,000 seeded W — what a show's ``from: ganspace`` costs at the first load of a model,
  and from the cache (keyed by the model's hash) afterwards.
* ``apply``: adding 8 directions to one frame's W (the frame loop's share), against copying that W, the
  least any change to it costs (the baseline measured in the same run).
* ``project``: projection optimiser steps per second (forward and backward through the synthesis network),
  against plain forward synthesis frames per second in the same run.

Medians of ``--repeats`` runs. Weights are random (no trained weights can be fetched here); the timings
depend on the shapes only.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.generator import CONFIGS  # noqa: E402
from engine.latent.directions import ganspace, sefa  # noqa: E402
from engine.latent.project import project  # noqa: E402
from engine.models import Generator  # noqa: E402
from engine.models.default import build_default_generator  # noqa: E402


def median_s(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _uncached(fn: Callable[[], object]) -> object:
    """Run ``fn`` with an empty direction cache (a first start on this model)."""
    import tempfile
    before = os.environ.get("XDG_CACHE_HOME")
    with tempfile.TemporaryDirectory() as folder:
        os.environ["XDG_CACHE_HOME"] = folder
        try:
            return fn()
        finally:
            if before is None:
                del os.environ["XDG_CACHE_HOME"]
            else:
                os.environ["XDG_CACHE_HOME"] = before


def bench(name: str, G: Generator, repeats: int, project_steps: int) -> dict[str, Any]:
    found = sefa(G, count=8)
    ws = G.mapping(torch.randn(1, G.z_dim), None)
    alphas = {n: 1.0 for n in found.names}
    apply_s = median_s(lambda: found.apply(ws, alphas), repeats * 20)
    copy_s = median_s(lambda: ws.clone(), repeats * 20)
    target = np.zeros((G.img_resolution, G.img_resolution, 3), np.uint8)
    steps = max(2, project_steps)
    start = time.perf_counter()
    project(G, target, steps=steps, w_samples=1000)
    step_s = (time.perf_counter() - start) / steps
    with torch.no_grad():
        forward_s = median_s(lambda: G.synthesis(ws), max(2, repeats // 2))
    return {"model": name, "w_dim": G.w_dim,
            "project_steps_per_s": round(1 / step_s, 2), "synthesis_fps": round(1 / forward_s, 2),
            "step_over_forward": round(step_s / forward_s, 2), "num_ws": G.num_ws, "resolution": G.img_resolution,
            "sefa_ms": round(median_s(lambda: sefa(G, count=8), repeats) * 1000, 1),
            "ganspace_ms": round(median_s(lambda: _uncached(lambda: ganspace(G, count=8)), max(1, repeats // 2)) * 1000, 1),
            "ganspace_cached_ms": round(median_s(lambda: ganspace(G, count=8), repeats) * 1000, 1),
            "apply_us": round(apply_s * 1e6, 1), "copy_us": round(copy_s * 1e6, 1),
            "apply_over_copy": round(apply_s / copy_s, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", default="default,256,1024", help="comma list of default, 256, 1024")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--project-steps", type=int, default=5, help="projection steps timed per model")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for name in args.configs.split(","):
        with torch.no_grad():
            torch.manual_seed(0)
            G = build_default_generator() if name == "default" else Generator(CONFIGS[name]).eval()
        label = "default" if name == "default" else f"{'paper' if name == '256' else 'official'}{name}"
        rows.append(bench(label, G, args.repeats, args.project_steps))
    if args.json:
        print(json.dumps({"torch": torch.__version__, "threads": args.threads, "models": rows}, indent=1))
        return
    for r in rows:
        print(f"{r['model']:>12} ({r['resolution']}², W {r['num_ws']}x{r['w_dim']}): SeFa + spread {r['sefa_ms']} ms, "
              f"GANSpace {r['ganspace_ms']} ms ({r['ganspace_cached_ms']} ms cached); 8 directions on a frame {r['apply_us']} µs = "
              f"{r['apply_over_copy']}x a copy of W ({r['copy_us']} µs); projection {r['project_steps_per_s']} "
              f"steps/s = {r['step_over_forward']}x a synthesis frame ({r['synthesis_fps']} frames/s)")


if __name__ == "__main__":
    main()
