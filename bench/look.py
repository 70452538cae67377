"""Look benchmark: is a model's output worth watching? The measures of engine/look.py for any model, against
real photographs measured in the same run, its walk's smoothness, and its speed.

    python -m bench.look                            # the default model: a table
    python -m bench.look --model ffhq.safetensors   # any model the engine loads
    python -m bench.look --json                     # the same figures for scripts
    python -m bench.look --sheet docs/default_seeds.png   # and a contact sheet of the seeds (4 a row)

1. The measures (spectral slope, fine-edge ratio, border ratio, diversity, colourfulness, gradient kurtosis,
   coherence; see engine/look.py) over ``--seeds`` (16 by default) at ``--psi`` 0.7, 256² (larger models are
   averaged down to 256²), as medians over the seeds; beside them the same measures of ten photographs that
   scikit-image ships in its wheel (astronaut, chelsea, coffee, rocket, …, three of them grey, which lowers
   their colourfulness: the baseline, centre-cropped to 256²) when scikit-image is installed
   (``pip install .[bench]``), and the floor a default model must clear (engine.look.FLOOR).
2. The walk at 30 fps: the mean change from frame to frame (RMS at 32², as the diversity), and its ratio to
   the diversity (the floor: under a tenth).
3. Speed: frames/s of the generator alone (fp32, ``--threads``, batch 1, medians), and bf16 where the CPU
   has native bf16, with its ratio to fp32.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from typing import Any

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from engine import look  # noqa: E402
from engine.latent.keyframes import seed_to_z  # noqa: E402
from engine.models import load_generator  # noqa: E402
from engine.models.load import cpu_has_native_bf16  # noqa: E402
from engine.models.tone import to_uint8_hwc  # noqa: E402

SIDE = 256
PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "retina", "immunohistochemistry",
          "camera", "coins", "moon")   # the last three are grey


def seed_frames(G: Any, seeds: list[int], psi: float) -> np.ndarray:
    """One frame per seed (const noise), as RGB uint8 at most 256² (larger ones averaged down)."""
    frames = []
    for seed in seeds:
        z = torch.from_numpy(seed_to_z(seed, G.z_dim)).float()[None].to(G.device)
        with torch.inference_mode():
            image = G.synthesis(G.mapping(z, None, truncation_psi=psi), noise_mode="const")
        frames.append(_fit(to_uint8_hwc(image, G.tone_map)[0].cpu().numpy()))
    return np.stack(frames)


def _fit(image: np.ndarray) -> np.ndarray:
    """Centre-crop to a square and average down to 256² (never up)."""
    import cv2
    h, w = image.shape[:2]
    side = min(h, w)
    image = image[(h - side) // 2:(h - side) // 2 + side, (w - side) // 2:(w - side) // 2 + side]
    if side > SIDE:
        image = cv2.resize(image, (SIDE, SIDE), interpolation=cv2.INTER_AREA)
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    return np.ascontiguousarray(image[..., :3])


def photographs() -> np.ndarray | None:
    """The baseline: the photographs scikit-image ships in its wheel (None without scikit-image)."""
    try:
        import skimage.data
    except ImportError:
        return None
    images = []
    for name in PHOTOS:
        image = getattr(skimage.data, name)()
        if image.dtype != np.uint8:
            image = (image * 255 if image.max() <= 1 else image).astype(np.uint8)
        images.append(_fit(image))
    return np.stack(images)


def walk_step(G: Any, psi: float, fps: float = 30.0, count: int = 12) -> float:
    """The mean frame-to-frame change of the engine's walk between seeds 0 and 1 at ``fps``."""
    from engine.generate import FrameSynthesizer
    from engine.latent import Keyframe, LatentWalker, WalkSettings
    walker = LatentWalker(G, WalkSettings(keyframes=(Keyframe(seed=0), Keyframe(seed=1)), truncation_psi=psi))
    synthesizer = FrameSynthesizer(G)
    return look.step_change(np.stack([_fit(synthesizer.render(walker.frame_at(i / fps))) for i in range(count)]))


def speed(G: Any, repeats: int) -> float:
    """Frames/s of the generator alone (batch 1, const noise), the median of ``repeats`` frames."""
    z = torch.from_numpy(seed_to_z(0, G.z_dim)).float()[None]
    with torch.inference_mode():
        ws = G.mapping(z, None, truncation_psi=0.7)
        for _ in range(3):
            G.synthesis(ws, noise_mode="const")
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            G.synthesis(ws, noise_mode="const")
            times.append(time.perf_counter() - started)
    return 1.0 / statistics.median(times)


def _processor() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown processor"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="default", help="a model file, or 'default'")
    parser.add_argument("--seeds", type=int, default=16, help="how many seeds (0, 1, …)")
    parser.add_argument("--psi", type=float, default=0.7)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=30, help="frames timed for the speed")
    parser.add_argument("--sheet", default=None, metavar="OUT.png", help="write a contact sheet of the seeds")
    parser.add_argument("--sheet-tile", type=int, default=192, help="each seed's side on the sheet (px)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if not 2 <= args.seeds <= 256:
        parser.error("--seeds must be 2..256")
    torch.set_num_threads(max(1, args.threads))
    G = load_generator(args.model, device="cpu", precision="fp32")
    seeds = list(range(args.seeds))
    frames = seed_frames(G, seeds, args.psi)
    figures: dict[str, Any] = {"model": args.model, "seeds": args.seeds, "psi": args.psi,
                               "processor": _processor(), "threads": torch.get_num_threads(),
                               "look": look.measure(frames)}
    photos = photographs()
    figures["photos"] = look.measure(photos) if photos is not None else None
    figures["failures"] = look.failures(figures["look"])
    step = walk_step(G, args.psi)
    figures["walk"] = {"step_change": step, "ratio_to_diversity": step / figures["look"]["diversity"]}
    fp32 = speed(G, args.repeats)                          # the model measured above, in fp32
    figures["speed"] = {"fp32_fps": fp32}
    if cpu_has_native_bf16():
        bf16 = speed(load_generator(args.model, device="cpu", precision="bf16"), args.repeats)
        figures["speed"].update(bf16_fps=bf16, bf16_x=bf16 / fp32)
    if args.sheet:
        import cv2
        columns, tile = 4, max(32, min(SIDE, args.sheet_tile))
        tiles = [cv2.resize(frame, (tile, tile), interpolation=cv2.INTER_AREA) for frame in frames]
        rows = [np.concatenate(tiles[r:r + columns], axis=1) for r in range(0, len(tiles) - columns + 1, columns)]
        os.makedirs(os.path.dirname(os.path.abspath(args.sheet)), exist_ok=True)
        cv2.imwrite(args.sheet, np.concatenate(rows, axis=0)[..., ::-1], [cv2.IMWRITE_PNG_COMPRESSION, 9])
        figures["sheet"] = args.sheet
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    print(f"{args.model}: {args.seeds} seeds at psi {args.psi}, 256² (medians over the seeds)")
    print(f"  {'measure':<18} {'model':>9} {'photos':>9} {'ratio':>7}   floor")
    for name, value in figures["look"].items():
        base = figures["photos"][name] if figures["photos"] else float("nan")
        low, high = look.FLOOR[name]
        floor = f"{low if low is not None else ''}..{high if high is not None else ''}"
        print(f"  {name:<18} {value:9.3f} {base:9.3f} {value / base if base else float('nan'):7.2f}   {floor}")
    if photos is None:
        print("  (photos: install scikit-image, `pip install .[bench]`, to measure them beside the model)")
    w = figures["walk"]
    print(f"walk at 30 fps: {w['step_change']:.4f} a frame, {w['ratio_to_diversity']:.3f} of the diversity (floor < 0.1)")
    s = figures["speed"]
    line = f"speed ({figures['processor']}, {figures['threads']} threads): fp32 {s['fp32_fps']:.1f} frames/s"
    if "bf16_fps" in s:
        line += f", bf16 {s['bf16_fps']:.1f} frames/s ({s['bf16_x']:.2f}x)"
    print(line)
    print("clears the floor" if not figures["failures"] else "below the floor: " + "; ".join(figures["failures"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
