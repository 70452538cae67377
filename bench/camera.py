"""Camera benchmark: pix2pix speed at 256² per architecture and path, beside the StyleGAN walk, and the latency
from a captured camera frame to its layer picture.

    python -m bench.camera            # a table
    python -m bench.camera --json     # the same figures for scripts
    python -m bench.camera --quick    # ngf 16 instead of the real 64 (a smoke run)

1. pix2pix frames/s at 256², real sizes (ngf 64: unet_256 ≈ 18 GMAC, resnet_9blocks ≈ 45), for each path:
   fp32 NCHW (the baseline, as the reference implementation runs), fp32 channels_last, and bf16 channels_last
   where the CPU has native bf16 (with its max |diff| against fp32). Medians.
2. Beside the walk: the default StyleGAN generator rendering on one thread while unet_256 runs on another,
   both rates against each alone, measured in this run; and with unet_256 in its own process (as live runs
   it: controllers.camera.model_process, one torch thread) fed the newest image as fast as it takes them.
3. Capture → generator → texture: a video file through controllers.camera.live.CameraInput, the time from a
   frame's arrival to the end of its layer picture's upload into a GL texture (pre-processing only, and through
   unet_256 in its own process).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from engine.models.load import cpu_has_native_bf16  # noqa: E402
from engine.models.pix2pix import Pix2PixConfig, build  # noqa: E402


def _median_ms(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def paths(ngf: int, repeats: int) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    x = torch.rand(1, 3, 256, 256) * 2 - 1
    for net in ("unet_256", "resnet_9blocks"):
        torch.manual_seed(0)
        G = build(Pix2PixConfig(net=net, ngf=ngf, norm="batch" if net.startswith("unet") else "instance",
                                dropout=False, input_nc=3, output_nc=3)).eval().requires_grad_(False)
        with torch.inference_mode():
            reference = G(x)
            base = _median_ms(lambda: G(x), repeats)
            rows.append({"net": net, "path": "fp32", "ms": base, "fps": 1000 / base, "x": 1.0, "max_diff": 0.0})
            G_cl = G.to(memory_format=torch.channels_last)
            x_cl = x.to(memory_format=torch.channels_last)
            ms = _median_ms(lambda: G_cl(x_cl), repeats)
            diff = float((G_cl(x_cl) - reference).abs().max())
            rows.append({"net": net, "path": "fp32 channels_last", "ms": ms, "fps": 1000 / ms, "x": base / ms,
                         "max_diff": diff})
            if cpu_has_native_bf16():
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    ms = _median_ms(lambda: G_cl(x_cl), repeats)
                    diff = float((G_cl(x_cl).float() - reference).abs().max())
                rows.append({"net": net, "path": "bf16 channels_last", "ms": ms, "fps": 1000 / ms, "x": base / ms,
                             "max_diff": diff})
    return rows


def beside_the_walk(ngf: int, seconds: float = 8.0) -> dict[str, float]:
    """Frames/s of the walk and of unet_256 alone, then together on two threads (torch: one thread each)."""
    from engine.generate import FrameSynthesizer
    from engine.latent import LatentWalker, WalkSettings
    from engine.latent.spec import Keyframe
    from engine.models import load_generator
    G = load_generator("default", device="cpu", precision="fp32")
    walker = LatentWalker(G, WalkSettings(keyframes=tuple(Keyframe(seed=s) for s in range(4))))
    synth = FrameSynthesizer(G)
    torch.manual_seed(0)
    P = build(Pix2PixConfig(net="unet_256", ngf=ngf, norm="batch", dropout=False, input_nc=3, output_nc=3)).eval()
    x = torch.rand(1, 3, 256, 256) * 2 - 1

    def walk_loop(stop: threading.Event, counts: list[int]) -> None:
        t = 0.0
        while not stop.is_set():
            synth.render(walker.frame_at(t))
            t += 0.05
            counts[0] += 1

    def pix_loop(stop: threading.Event, counts: list[int]) -> None:
        with torch.inference_mode():
            while not stop.is_set():
                P(x)
                counts[0] += 1

    def rate(*loops) -> list[float]:
        stop, counts = threading.Event(), [[0] for _ in loops]
        threads = [threading.Thread(target=loop, args=(stop, c)) for loop, c in zip(loops, counts)]
        for th in threads:
            th.start()
        time.sleep(seconds)
        stop.set()
        for th in threads:
            th.join()
        return [c[0] / seconds for c in counts]

    torch.set_num_threads(1)
    walk_alone = rate(walk_loop)[0]
    pix_alone = rate(pix_loop)[0]
    walk_both, pix_both = rate(walk_loop, pix_loop)
    return {"walk_alone_fps": walk_alone, "pix2pix_alone_fps": pix_alone, "walk_beside_fps": walk_both,
            "pix2pix_beside_fps": pix_both, "walk_kept": walk_both / walk_alone if walk_alone else 0.0}


def beside_the_walk_process(ngf: int, seconds: float = 8.0) -> dict[str, float]:
    """The walk on this process's thread while unet_256 runs in its own process (ModelProcess, one thread)."""
    from controllers.camera.model_process import ModelProcess
    from engine.generate import FrameSynthesizer
    from engine.latent import LatentWalker, WalkSettings
    from engine.latent.spec import Keyframe
    from engine.models import load_generator
    G = load_generator("default", device="cpu", precision="fp32")
    walker = LatentWalker(G, WalkSettings(keyframes=tuple(Keyframe(seed=s) for s in range(4))))
    synth = FrameSynthesizer(G)
    torch.manual_seed(0)
    P = build(Pix2PixConfig(net="unet_256", ngf=ngf, norm="batch", dropout=False, input_nc=3, output_nc=3))
    image = np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "latest_net_G.pth")
        torch.save(P.state_dict(), path)
        model = ModelProcess(path, side=256, threads=1)
        deadline = time.monotonic() + 120
        while model.running is None and model.problem is None and time.monotonic() < deadline:
            model.poll()
            time.sleep(0.05)
        walked, t, sequence = 0, 0.0, 0
        started_frames = model.frames
        end = time.monotonic() + seconds
        while time.monotonic() < end:          # the walk here; the model fed between its frames
            synth.render(walker.frame_at(t))
            t += 0.05
            walked += 1
            sequence += 1
            model.offer(image, sequence)
        frames = model.frames - started_frames
        path_used = model.running or str(model.problem)
        model.close()
    return {"walk_fps": walked / seconds, "pix2pix_fps": frames / seconds, "path": path_used}  # type: ignore[dict-item]


def capture_latency(ngf: int, seconds: float = 6.0) -> dict[str, dict[str, float]]:
    """A 25 fps video file through CameraInput into a GL texture, as live: from a frame's arrival to the end of
    its layer picture's upload (``ctx.finish``), median ms; with pre-processing only (edges), and through a
    unet_256 in its own process. The frame loop here polls every millisecond: a 60 Hz display adds half a
    display frame (8 ms) on average to both."""
    import imageio_ffmpeg
    import moderngl

    from controllers.camera.live import CameraInput
    from controllers.camera.pipeline import CameraPipeline
    from controllers.camera.preprocess import Preprocess
    from engine.clock import WallClock
    ctx = moderngl.create_standalone_context(require=330, backend="egl")  # type: ignore[arg-type]
    texture = ctx.texture((256, 256), 3)
    figures: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "visitor.mp4")
        writer = imageio_ffmpeg.write_frames(path, (640, 480), fps=25, codec="libx264", pix_fmt_in="rgb24",
                                             pix_fmt_out="yuv420p", ffmpeg_log_level="error")
        writer.send(None)
        for i in range(50):
            frame = np.full((480, 640, 3), 40, np.uint8)
            frame[200:280, (i * 10) % 560:(i * 10) % 560 + 80] = 250
            writer.send(frame)
        writer.close()
        torch.manual_seed(0)
        P = build(Pix2PixConfig(net="unet_256", ngf=ngf, norm="batch", dropout=False, input_nc=3, output_nc=3))
        model_path = os.path.join(folder, "latest_net_G.pth")
        torch.save(P.state_dict(), model_path)
        for name, model in (("preprocess", None), ("unet_256", model_path)):
            camera = CameraInput(path, CameraPipeline(Preprocess(size=256, edges=(60, 160)), model=model),
                                 model_fps=30)
            camera.start(lambda event: None, WallClock())
            deadline = time.monotonic() + 120
            while model is not None and time.monotonic() < deadline and (
                    camera.pipeline.process is None or camera.pipeline.process.running is None):
                time.sleep(0.05)
            arrived: dict[int, float] = {}
            late: list[float] = []
            made: list[float] = []
            end, seen = time.monotonic() + seconds, 0
            while time.monotonic() < end:
                captured, held = camera.capture.latest(), camera.pipeline.newest()
                if captured is not None:
                    arrived.setdefault(captured.number, captured.time)
                if held is not None and held.sequence != seen:
                    seen = held.sequence
                    texture.write(np.ascontiguousarray(held.rgb).tobytes(), alignment=1)
                    ctx.finish()
                    done = time.monotonic()
                    if held.frame in arrived:
                        late.append((done - arrived[held.frame]) * 1000)
                        made.append((held.at - arrived[held.frame]) * 1000)
                time.sleep(0.001)
            camera.stop()
            figures[name] = {"capture_to_texture_ms": statistics.median(late) if late else float("nan"),
                             "capture_to_picture_ms": statistics.median(made) if made else float("nan"),
                             "frames": float(len(late)), "per_second": len(late) / seconds}
    ctx.release()
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--quick", action="store_true", help="ngf 16 instead of 64")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    ngf = 16 if args.quick else 64
    figures = {"ngf": ngf, "threads": torch.get_num_threads(), "paths": paths(ngf, args.repeats),
               "beside_the_walk": beside_the_walk(ngf), "own_process": beside_the_walk_process(ngf),
               "capture": capture_latency(ngf)}
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    print(f"pix2pix at 256², ngf {ngf}, {figures['threads']} threads (medians):")
    for row in figures["paths"]:
        print(f"  {row['net']:<15} {row['path']:<20} {row['ms']:8.1f} ms  {row['fps']:6.2f} frames/s  "
              f"{row['x']:.2f}x  max diff {row['max_diff']:.1e}")
    b = figures["beside_the_walk"]
    print(f"beside the walk (one thread each): walk {b['walk_alone_fps']:.1f} -> {b['walk_beside_fps']:.1f} frames/s "
          f"({b['walk_kept']:.0%} kept), unet_256 {b['pix2pix_alone_fps']:.2f} -> {b['pix2pix_beside_fps']:.2f} "
          "frames/s")
    o = figures["own_process"]
    print(f"with unet_256 in its own process ({o['path']}, one thread): walk {o['walk_fps']:.1f} frames/s, "
          f"unet_256 {o['pix2pix_fps']:.2f} frames/s")
    for name, c in figures["capture"].items():
        what = "pre-processing only, 256² edges" if name == "preprocess" else f"{name} in its own process"
        print(f"capture -> texture ({what}): {c['capture_to_texture_ms']:.1f} ms median (picture made after {c['capture_to_picture_ms']:.1f} ms; "
              f"{c['per_second']:.1f} pictures/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
