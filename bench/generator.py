"""Generator speed: ms/frame and frames/s per path, with ratios and accuracy against an fp32 baseline.

    python bench/generator.py                      # 256² (paper256) and 1024² (official StyleGAN2), + default
    python bench/generator.py --configs 256 --repeats 21
    python bench/generator.py --json               # one JSON object: {"models": [...], "busy_core": {...}}
    python bench/generator.py --busy-core          # + launch.py --render beside one busy core (see below)

Paths, all measured in this one process on the same weights and the same ws:

* ``baseline``   fp32, NCHW, eager, the official algorithm as its CPU path runs it (bench/reference_synthesis.py)
* ``fp32``       ours: fp32, channels_last, modulation per layer by cost, depthwise FIR
* ``bf16``       ours: bf16 + channels_last in the blocks the config marks for fp16 (CPU with native bf16)
* ``fp16``       ours on CUDA (when a GPU is present)

Accuracy is max |diff| and PSNR (peak-to-peak 2, i.e. the [-1, 1] range) against the baseline's output.
Timings are medians after warm-up; the ratio is baseline median / path median.

``--busy-core`` renders the default walk with ``launch.py --render`` while another process keeps one core
busy, three ways: the engine's own choice (threads measured at start, engine.tuning), ``--threads 1``, and
torch's default of one thread per core. The goal: the engine's choice keeps at least 90% of ``--threads 1``
(torch's default collapses when a core is taken).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench.reference_synthesis import reference_synthesis  # noqa: E402
from engine.models import Generator, GeneratorConfig  # noqa: E402
from engine.models.default import build_default_generator  # noqa: E402
from engine.models.load import cpu_has_native_bf16  # noqa: E402

CONFIGS: dict[str, GeneratorConfig] = {
    "256": GeneratorConfig(z_dim=512, c_dim=0, w_dim=512, img_resolution=256, img_channels=3, mapping_layers=8,
                           channel_base=16384, channel_max=512, num_fp16_res=4, conv_clamp=256.0),
    "1024": GeneratorConfig(z_dim=512, c_dim=0, w_dim=512, img_resolution=1024, img_channels=3, mapping_layers=8,
                            channel_base=32768, channel_max=512, num_fp16_res=4, conv_clamp=256.0),
}


def median_ms(fn: Callable[[], torch.Tensor], warmup: int, repeats: int, sync: Callable[[], None]) -> float:
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float((a.float() - b.float()).square().mean())
    return math.inf if mse == 0 else 10 * math.log10(4.0 / mse)


def bench_model(name: str, G: Generator, device: torch.device, warmup: int, repeats: int,
                quiet: bool = False) -> dict[str, object]:
    G = G.to(device)
    torch.manual_seed(0)
    ws = G.mapping(torch.randn(1, G.z_dim, device=device), None, truncation_psi=0.7)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    baseline_img = reference_synthesis(G, ws)
    base_ms = median_ms(lambda: reference_synthesis(G, ws), max(1, warmup // 2), max(3, repeats // 2), sync)
    say = (lambda *a: None) if quiet else print
    say(f"\n{name}: {G.img_resolution}², {sum(p.numel() for p in G.synthesis.parameters()) / 1e6:.1f} M "
        f"synthesis parameters, batch 1, {device}, {torch.get_num_threads()} threads")
    say(f"  {'path':<10} {'ms/frame':>9} {'frames/s':>9} {'ratio':>7} {'max|diff|':>10} {'PSNR dB':>8}")
    say(f"  {'baseline':<10} {base_ms:9.1f} {1000 / base_ms:9.1f} {1.0:7.2f} {0.0:10.2e} {'ref':>8}")
    result: dict[str, object] = {"model": name, "resolution": G.img_resolution, "device": device.type,
                                 "threads": torch.get_num_threads(),
                                 "paths": [{"path": "baseline", "ms": round(base_ms, 2), "fps": round(1000 / base_ms, 2),
                                            "ratio": 1.0, "max_diff": 0.0, "psnr_db": None}]}
    paths = ["fp32"] + (["fp16"] if device.type == "cuda" else ["bf16"])
    for path in paths:
        G.set_precision(path)
        with torch.inference_mode():
            out = G.synthesis(ws)
            ms = median_ms(lambda: G.synthesis(ws), warmup, repeats, sync)
        note = "" if path != "bf16" or cpu_has_native_bf16() else "  (no native bf16 on this CPU)"
        diff, quality = float((out - baseline_img).abs().max()), psnr(out, baseline_img)
        say(f"  {path:<10} {ms:9.1f} {1000 / ms:9.1f} {base_ms / ms:7.2f} {diff:10.2e} {quality:8.1f}{note}")
        result["paths"].append({"path": path, "ms": round(ms, 2), "fps": round(1000 / ms, 2),  # type: ignore[attr-defined]
                                "ratio": round(base_ms / ms, 3), "max_diff": diff,
                                "psnr_db": None if math.isinf(quality) else round(quality, 2)})
    G.set_precision("fp32")
    return result


def render_fps(extra: list[str], frames: int) -> float:
    """Frames/s of ``launch.py --render`` of the default walk (the render's own figure, from its last line)."""
    with tempfile.TemporaryDirectory() as folder:
        done = subprocess.run([sys.executable, os.path.join(ROOT, "launch.py"), "--render",
                               os.path.join(folder, "walk.mp4"), "--frames", str(frames), "--quiet", *extra],
                              capture_output=True, text=True, timeout=1800, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"launch.py --render failed: {done.stderr.strip().splitlines()[-1:]}")
    match = re.search(r"([0-9.]+) frames/s", done.stderr + done.stdout)
    if match is None:
        raise SystemExit(f"launch.py --render printed no frames/s: {done.stderr[-300:]}")
    return float(match.group(1))


def beside_a_busy_core(frames: int, repeats: int) -> dict[str, object]:
    """Render beside a process that keeps one core busy: the engine's choice against --threads 1 and torch's
    default (one thread per core). Medians of ``repeats`` renders each."""
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        ways = {"engine": [], "threads_1": [], "torch_default": []}  # type: dict[str, list[float]]
        for _ in range(repeats):
            ways["engine"].append(render_fps([], frames))
            ways["threads_1"].append(render_fps(["--threads", "1"], frames))
            ways["torch_default"].append(render_fps(["--threads", str(os.cpu_count() or 1)], frames))
    finally:
        spinner.kill()
        spinner.wait()
    medians = {k: statistics.median(v) for k, v in ways.items()}
    return {"frames": frames, "repeats": repeats, "fps": {k: round(v, 2) for k, v in medians.items()},
            "engine_vs_threads_1": round(medians["engine"] / medians["threads_1"], 3),
            "torch_default_vs_threads_1": round(medians["torch_default"] / medians["threads_1"], 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", default="256,1024,default", help="comma list of 256, 1024, default")
    parser.add_argument("--repeats", type=int, default=11, help="timed frames per path (median reported)")
    parser.add_argument("--warmup", type=int, default=6, help="untimed frames per path first")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (CI machines have 2 cores)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--busy-core", action="store_true", help="also: renders beside one busy core")
    parser.add_argument("--busy-frames", type=int, default=240, help="frames per render of --busy-core")
    parser.add_argument("--busy-repeats", type=int, default=3, help="renders per way of --busy-core")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the tables")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))
    if not args.json:
        print(f"torch {torch.__version__}; native bf16 on this CPU: {cpu_has_native_bf16()}")
    models = []
    for name in args.configs.split(","):
        if name == "default":
            models.append(bench_model("default", build_default_generator(), device, args.warmup, args.repeats,
                                      quiet=args.json))
        else:
            torch.manual_seed(0)
            models.append(bench_model(f"paper{name}" if name == "256" else f"official{name}", Generator(CONFIGS[name]),
                                      device, args.warmup, args.repeats, quiet=args.json))
    busy = beside_a_busy_core(args.busy_frames, args.busy_repeats) if args.busy_core else None
    if args.json:
        print(json.dumps({"torch": torch.__version__, "native_bf16": cpu_has_native_bf16(), "models": models,
                          "busy_core": busy}, indent=1))
    elif busy is not None:
        fps = busy["fps"]
        print(f"\nlaunch.py --render of {args.busy_frames} frames beside one busy core (median of "
              f"{args.busy_repeats}): engine's choice {fps['engine']:.1f} frames/s, --threads 1 "  # type: ignore[index]
              f"{fps['threads_1']:.1f}, torch's default {fps['torch_default']:.1f}; "  # type: ignore[index]
              f"engine / threads 1 = {busy['engine_vs_threads_1']:.0%}")


if __name__ == "__main__":
    main()
