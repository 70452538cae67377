"""Generator speed: ms/frame and frames/s per path, with ratios and accuracy against an fp32 baseline.

    python bench/generator.py                      # 256² (paper256) and 1024² (official StyleGAN2), + default
    python bench/generator.py --configs 256 --repeats 21

Paths, all measured in this one process on the same weights and the same ws:

* ``baseline``   fp32, NCHW, eager, the official algorithm as its CPU path runs it (bench/reference_synthesis.py)
* ``fp32``       ours: fp32, channels_last, modulation per layer by cost, depthwise FIR
* ``bf16``       ours: bf16 + channels_last in the blocks the config marks for fp16 (CPU with native bf16)
* ``fp16``       ours on CUDA (when a GPU is present)

Accuracy is max |diff| and PSNR (peak-to-peak 2, i.e. the [-1, 1] range) against the baseline's output.
Timings are medians after warm-up; the ratio is baseline median / path median.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from collections.abc import Callable

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

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


def bench_model(name: str, G: Generator, device: torch.device, warmup: int, repeats: int) -> None:
    G = G.to(device)
    torch.manual_seed(0)
    ws = G.mapping(torch.randn(1, G.z_dim, device=device), None, truncation_psi=0.7)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    baseline_img = reference_synthesis(G, ws)
    base_ms = median_ms(lambda: reference_synthesis(G, ws), max(1, warmup // 2), max(3, repeats // 2), sync)
    print(f"\n{name}: {G.img_resolution}², {sum(p.numel() for p in G.synthesis.parameters()) / 1e6:.1f} M "
          f"synthesis parameters, batch 1, {device}, {torch.get_num_threads()} threads")
    print(f"  {'path':<10} {'ms/frame':>9} {'frames/s':>9} {'ratio':>7} {'max|diff|':>10} {'PSNR dB':>8}")
    print(f"  {'baseline':<10} {base_ms:9.1f} {1000 / base_ms:9.1f} {1.0:7.2f} {0.0:10.2e} {'ref':>8}")
    paths = ["fp32"] + (["fp16"] if device.type == "cuda" else ["bf16"])
    for path in paths:
        G.set_precision(path)
        with torch.inference_mode():
            out = G.synthesis(ws)
            ms = median_ms(lambda: G.synthesis(ws), warmup, repeats, sync)
        note = "" if path != "bf16" or cpu_has_native_bf16() else "  (no native bf16 on this CPU)"
        print(f"  {path:<10} {ms:9.1f} {1000 / ms:9.1f} {base_ms / ms:7.2f} "
              f"{float((out - baseline_img).abs().max()):10.2e} {psnr(out, baseline_img):8.1f}{note}")
    G.set_precision("fp32")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", default="256,1024,default", help="comma list of 256, 1024, default")
    parser.add_argument("--repeats", type=int, default=11, help="timed frames per path (median reported)")
    parser.add_argument("--warmup", type=int, default=6, help="untimed frames per path first")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (CI machines have 2 cores)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))
    print(f"torch {torch.__version__}; native bf16 on this CPU: {cpu_has_native_bf16()}")
    for name in args.configs.split(","):
        if name == "default":
            bench_model("embedded default model", build_default_generator(), device, args.warmup, args.repeats)
        else:
            torch.manual_seed(0)
            bench_model(f"official config {name}", Generator(CONFIGS[name]), device, args.warmup, args.repeats)


if __name__ == "__main__":
    main()
