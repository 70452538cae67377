"""Make the embedded default model's file again: engine/models/default.safetensors.

    python tools/make_default_model.py            # writes the file (a few seconds on a CPU)
    python tools/make_default_model.py OUT.safetensors

The model is not trained on any data: it is the StyleGAN2 architecture from a fixed seed, shaped by the
deterministic recipe in engine/models/default.py (saturating layers, kernel constants, toRGB scales, noise,
colour calibration). Same torch version, same file, bit for bit; the test suite checks the shipped file
against a fresh build. Weights are stored in float16 (3.3 MB); the config and the tone curve in the header.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from engine.models.default import DEFAULT_FILE, build_default_generator  # noqa: E402
from engine.models.load import save_generator  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", nargs="?", default=DEFAULT_FILE, help="where to write it (default: the package's)")
    args = parser.parse_args(argv)
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    started = time.perf_counter()
    G = build_default_generator()
    save_generator(G, args.out, dtype=torch.float16)
    print(f"{args.out}: {os.path.getsize(args.out) / 2 ** 20:.1f} MiB, made in {time.perf_counter() - started:.1f} s "
          f"(torch {torch.__version__})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
