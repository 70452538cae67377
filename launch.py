#!/usr/bin/env python3
"""Latent Stage command line: play a latent walk live, or render it offline.

    python launch.py                                                # live, in a window, on the default model
    python launch.py --fullscreen --screen 1                        # fullscreen on the second screen
    python launch.py --output screen=0,region=0:0:0.5:1 --output screen=1,region=0.5:0:0.5:1   # two projectors
    python launch.py --headless --duration 60                       # the same loop offscreen (servers, tests)
    python launch.py --render out/walk.mp4                          # offline: the default model, seeds 0-7
    python launch.py shows/demo.yaml                                # run a show live (Space GO, P panic)
    python launch.py shows/demo.yaml --render demo.mp4 --go-at 0,20 # render a show offline
    python launch.py --model ffhq.pkl --seeds 10,20,30 --psi 0.6 --render ffhq.mp4 --size 1280x720
    python launch.py --model ffhq.pkl --latents projected_w.npz --seeds 5 --render frames/%05d.png
    python launch.py --model ffhq.pkl --convert ffhq.safetensors    # convert once to a code-free format
    python launch.py shows/audio.yaml --audio-in default            # live: the show reacts to the room
    python launch.py shows/audio.yaml --audio track.flac --render track.mp4   # the same reactions, offline, with sound
    python launch.py --audio track.flac --features track.png        # what the mappings will react to

Every failure ends with one line on stderr naming what was wrong, and exit status 2 (bad arguments) or 1.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from engine.defaults import DEFAULT_CHAIN, DEFAULT_FIT, FIT_MODES, SHIPPED_SHADERS

EXIT_FAILURE, EXIT_USAGE = 1, 2
MAX_SIDE = 8192            # output width and height


class CliError(Exception):
    """A user-facing error: printed as one line, no traceback."""


MAX_SEED = 2 ** 32 - 1
MAX_SEEDS = 10_000


def parse_seeds(text: str) -> list[int]:
    """'1,5,9' or '0-7' or '0-3,10' → a list of seeds (each in 0..2**32-1, at most 10,000 in all)."""
    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            if "-" in part:
                lo, hi = (int(v) for v in part.split("-", 1))
                if hi < lo or lo < 0:
                    raise ValueError
                if hi - lo + 1 + len(seeds) > MAX_SEEDS:
                    raise argparse.ArgumentTypeError(f"at most {MAX_SEEDS} seeds, got {text[:40]!r}")
                seeds.extend(range(lo, hi + 1))
            else:
                seeds.append(int(part))
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected seeds like '1,2,3' or '0-7', got {text[:40]!r}") from None
    if not seeds or len(seeds) > MAX_SEEDS or any(not 0 <= s <= MAX_SEED for s in seeds):
        raise argparse.ArgumentTypeError(f"seeds must be 1..{MAX_SEEDS} integers in 0..{MAX_SEED}, got {text[:40]!r}")
    return seeds


def parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a size like 1280x720, got {text[:40]!r}") from None
    if not (16 <= w <= MAX_SIDE and 16 <= h <= MAX_SIDE):
        raise argparse.ArgumentTypeError(f"width and height must be between 16 and {MAX_SIDE}, got {text[:40]!r}")
    return w, h


def parse_layers(text: str) -> tuple[int, int | None]:
    """'4' (from layer 4 on) or '4:8' (layers 4-7)."""
    try:
        start, _, end = text.partition(":")
        first, last = int(start), (int(end) if end else None)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected layers like '4' or '4:8', got {text[:40]!r}") from None
    if not 0 <= first < 1024 or (last is not None and not first < last <= 1024):
        raise argparse.ArgumentTypeError(f"expected layers START[:END] with 0 <= START < END, got {text[:40]!r}")
    return first, last


def parse_times(text: str) -> list[float]:
    try:
        times = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected times in seconds like 0,12.5,30, got {text[:40]!r}") from None
    if len(times) > 10_000 or any(not 0 <= t <= 1e7 for t in times):
        raise argparse.ArgumentTypeError(f"times must be 0..1e7 seconds (at most 10,000 of them), got {text[:40]!r}")
    return times


def parse_output(text: str) -> dict[str, object]:
    """'screen=1,size=1920x1080,region=0.5:0:0.5:1,fit=fill,chain=colour_grade+vignette,fullscreen'."""
    spec: dict[str, object] = {}
    for item in text.split(","):
        key, _, value = item.strip().partition("=")
        try:
            if key == "screen":
                spec["screen"] = int(value)
                if not 0 <= int(value) <= 63:
                    raise ValueError
            elif key == "size":
                spec["size"] = parse_size(value)
            elif key == "region":
                region = tuple(float(v) for v in value.split(":"))
                if len(region) != 4 or not all(0.0 <= v <= 1.0 for v in region) or min(region[2:]) < 0.001:
                    raise ValueError
                spec["region"] = region
            elif key == "fit":
                if value not in FIT_MODES:
                    raise ValueError
                spec["fit"] = value
            elif key == "chain":
                spec["chain"] = tuple(v for v in value.split("+") if v)
            elif key == "fullscreen" and value in ("", "1", "yes", "true"):
                spec["fullscreen"] = True
            else:
                raise ValueError
        except (ValueError, argparse.ArgumentTypeError):
            raise argparse.ArgumentTypeError(
                f"bad output item {item[:40]!r}; expected screen=N (0..63), size=WxH, region=x:y:w:h (0..1, w and h "
                "at least 0.001), fit=fit|fill|stretch, chain=a+b, fullscreen") from None
    return spec


def number(kind: Callable[[str], Any], low: float, high: float, low_open: bool = False) -> Callable[[str], Any]:
    """An argparse type: a finite number of ``kind`` in [low, high] (or (low, high] when ``low_open``)."""
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except (ValueError, OverflowError):
            raise argparse.ArgumentTypeError(f"expected a number, got {text[:40]!r}") from None
        if not ((isinstance(value, int) or math.isfinite(value)) and (low < value if low_open else low <= value)
                and value <= high):
            bracket = "(" if low_open else "["
            raise argparse.ArgumentTypeError(f"must be in {bracket}{low:g}, {high:g}], got {text[:40]!r}")
        return value
    parse.__name__ = kind.__name__
    return parse


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line (with a pointer to --help), not fifteen lines of usage first."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class _HelpFormatter(argparse.HelpFormatter):
    """Adds "(default: X)" where the help text does not already say what the default is."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or action.default in (None, False, [], argparse.SUPPRESS) or action.nargs == 0:
            return text
        return f"{text} (default: {action.default})"


def build_parser() -> argparse.ArgumentParser:
    from engine.latent import EASINGS, INTERPOLATIONS
    from engine.models.config import NOISE_MODES
    p = _Parser(
        prog="launch.py", formatter_class=_HelpFormatter, allow_abbrev=False,  # "--sup" must not mean --supervise
        description="Latent Stage: walk the latent space of a StyleGAN2 generator and render it to video.")
    p.add_argument("show", nargs="?", default=None, metavar="SHOW.yaml",
                   help="a show file (cue list) to run live or, with --render, offline; its model, outputs and "
                        "walk replace the corresponding options")
    p.add_argument("--check", action="store_true",
                   help="validate SHOW.yaml (everything that needs no model, without loading torch or GL) and exit")
    p.add_argument("--with-model", action="store_true",
                   help="with --check: also load the show's model and run the checks that need it")
    p.add_argument("--list-params", action="store_true",
                   help="print every parameter (engine, shaders, the show's) with range, default and OSC address")
    p.add_argument("--go-at", type=parse_times, default=None, metavar="T,T,…",
                   help="with a show and --render: times in seconds of the manual GOs (default: one GO at 0)")
    model = p.add_argument_group("model")
    model.add_argument("--model", default=None, metavar="PATH",
                       help="'default' (the embedded model; the default), an official StyleGAN2-ADA/StyleGAN3-repo "
                            ".pkl holding a StyleGAN2 generator, or a .safetensors file made with --convert")
    model.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda or cuda:N")
    model.add_argument("--precision", default="auto", choices=("auto", "fp32", "fp16", "bf16"),
                       help="auto = fp16 on CUDA; on the CPU fp32, or bf16 where the processor runs it natively and "
                            "it measures faster at start")
    model.add_argument("--threads", type=number(int, 1, 256), default=None,
                       help="CPU threads for torch (default: the fastest count measured at start, within the cores "
                            "that other programs, software GL and the encoder leave free)")
    model.add_argument("--generator", choices=("auto", "thread", "process"), default="auto",
                       help="live: run the generator on a thread or in its own process (auto: a process where "
                            "OpenGL renders on the CPU, so torch and GL do not share the GIL)")
    model.add_argument("--convert", metavar="OUT.safetensors",
                       help="write the model as safetensors + JSON config (loads with no pickle) and exit")

    dirs = p.add_argument_group("latent directions")
    dirs.add_argument("--export-directions", nargs=2, default=None, metavar=("sefa|ganspace", "OUT.npz"),
                      help="write the model's directions (unit length, most important first, with their spread "
                           "and layers) as a .npz that shows and other tools read, and exit")
    dirs.add_argument("--direction-layers", default="all", metavar="all|coarse|middle|fine|a:b",
                      help="the layers the exported directions come from (SeFa) and act on")
    dirs.add_argument("--count", type=number(int, 1, 64), default=8, help="directions to export or preview")
    dirs.add_argument("--preview-directions", default=None, metavar="OUT.png",
                      help="draw a sheet of -3..+3 along each direction on a few seeds (the exported set, or "
                           "the model's SeFa directions) and exit")
    dirs.add_argument("--learn-direction", default=None, metavar="NAME",
                      help="learn a direction from labelled examples (a linear SVM): --positive and --negative "
                           "name seeds (3,7,10-20) or latent files; --out NAME.npy gets the unit normal; then exit")
    dirs.add_argument("--positive", default=None, metavar="SEEDS|FILES", help="with --learn-direction")
    dirs.add_argument("--negative", default=None, metavar="SEEDS|FILES", help="with --learn-direction")
    dirs.add_argument("--out", default=None, metavar="FILE",
                      help="with --learn-direction (NAME.npy) or --project (W.npz): where the result goes")
    proj = p.add_argument_group("projection (an image becomes a keyframe)")
    proj.add_argument("--project", default=None, metavar="IMAGE",
                      help="find the W whose image is closest to IMAGE (PNG/JPEG); --out W.npz gets it (w [1, "
                           "num_ws, w_dim], as the official projector writes), with a progress video beside it")
    proj.add_argument("--steps", type=number(int, 1, 100_000), default=500, help="with --project: optimiser steps")
    proj.add_argument("--vgg16", default=None, metavar="FILE",
                      help="with --project: add a perceptual loss from torchvision's VGG16 weights saved as a "
                           "plain state dict (.pth or .safetensors; TorchScript is refused: it carries code)")
    proj.add_argument("--space", choices=("w", "w+"), default="w",
                      help="with --project: one W for every layer, or one per layer (closer, less editable)")
    walk = p.add_argument_group("walk")
    walk.add_argument("--seeds", type=parse_seeds, default=None,
                      help="keyframe seeds, e.g. 1,2,3 or 0-7 (default 0-7 unless --latents is given)")
    walk.add_argument("--latents", nargs="+", default=[], metavar="FILE",
                      help=".npy/.npz latent files (e.g. the official projector's projected_w.npz); "
                           "their keyframes come before the seeds")
    walk.add_argument("--latent-space", choices=("w", "z"), default="w",
                      help="how to read bare vectors in .npy files (npz keys w/ws/z say it themselves)")
    walk.add_argument("--class", dest="class_index", type=number(int, 0, 2 ** 31 - 1), default=None,
                      help="class label for conditional models")
    walk.add_argument("--seconds-per-keyframe", type=number(float, 0.01, 1e6), default=4.0, metavar="S",
                      help="travel time between keyframes")
    walk.add_argument("--interpolation", choices=INTERPOLATIONS, default="cubic",
                      help="cubic = Catmull-Rom through the keyframes in W; linear = lines in W; slerp = in Z")
    walk.add_argument("--easing", choices=EASINGS, default="linear", help="speed profile within a segment")
    walk.add_argument("--no-loop", action="store_true", help="stop at the last keyframe instead of looping")
    walk.add_argument("--psi", type=number(float, -1.0, 2.0), default=0.7, help="truncation psi (1 = none)")
    walk.add_argument("--cutoff", type=number(int, 0, 1024), default=None, help="truncate only the first N layers")
    walk.add_argument("--mix-seed", type=number(int, 0, MAX_SEED), default=None,
                      help="style-mix layers from this seed")
    walk.add_argument("--mix-layers", type=parse_layers, default=(4, None), metavar="START[:END]",
                      help="layers taken from --mix-seed")
    walk.add_argument("--noise-mode", choices=NOISE_MODES, default="const",
                      help="per-pixel noise: const (stable), random (seeded per frame), none")

    live = p.add_argument_group("live (the default when --render is not given)")
    live.add_argument("--fullscreen", action="store_true", help="fullscreen window (F toggles, Esc quits)")
    live.add_argument("--screen", type=number(int, 0, 63), default=0, help="screen for the window (see --list-screens)")
    live.add_argument("--list-screens", action="store_true", help="print the screens and exit")
    live.add_argument("--output", dest="outputs", type=parse_output, action="append", default=[], metavar="SPEC",
                      help="one output per projector: screen=N,size=WxH,region=x:y:w:h,fit=...,chain=a+b,"
                           "fullscreen (repeat for several; region is the part of the canvas, 0..1, y up)")
    live.add_argument("--headless", action="store_true", help="render offscreen (EGL) instead of in a window")
    live.add_argument("--hud", action="store_true", help="start with the operator HUD shown (H toggles)")
    live.add_argument("--max-fps", type=number(float, 1.0, 1000.0), default=argparse.SUPPRESS,
                      help="display frame-rate cap (default 60; 30 where OpenGL runs on the CPU, which leaves the "
                           "generator about five times the frames on a 2-core machine)")
    live.add_argument("--chain", default=None, metavar="A+B+...",
                      help="effect chain from shaders/, in order, live and offline alike (default: the show's, else "
                           f"{'+'.join(DEFAULT_CHAIN)}; '' for none; an effect left at its resting values costs nothing)")
    live.add_argument("--osc", type=osc_endpoint, default=None, metavar="[HOST:]PORT",
                      help="listen for OSC there (HOST defaults to 127.0.0.1; 0.0.0.0 for every interface); the "
                           "namespace is in the README: /param/group/name, /show/go, ...")
    live.add_argument("--osc-allow", action="append", default=[], metavar="IP", type=ip_address,
                      help="only listen to OSC from this sender (repeatable)")
    live.add_argument("--osc-out", action="append", default=[], metavar="HOST:PORT", type=osc_endpoint,
                      help="send OSC feedback there: parameters as they change, the standby and running cues, "
                           "fps, errors and a heartbeat (repeatable)")
    live.add_argument("--midi", action="append", default=[], metavar="PATTERN", type=midi_pattern,
                      help="listen to MIDI input ports whose names match (a part of the name, or a glob such as "
                           "'nanoKONTROL2*'); repeatable; the show's inputs: midi: maps the controls")
    live.add_argument("--link", action="store_true",
                      help="join an Ableton Link session: sources link.bpm, link.beat, link.bar")
    audio = p.add_argument_group("audio")
    audio.add_argument("--audio", default=None, metavar="FILE",
                       help="a WAV/FLAC/OGG/MP3 file: live, played out loud and analysed (the audio.* sources); "
                            "with --render, the render's features and its sound track (AAC), and its length")
    audio.add_argument("--audio-in", default=None, metavar="DEVICE", type=audio_device,
                       help="analyse a live input: a device's index, a part of its name, or 'default' (see "
                            "--list-audio); off unless asked for")
    audio.add_argument("--audio-rate", type=number(int, 8000, 192_000), default=None, metavar="HZ",
                       help="the input's sample rate (default: the device's)")
    audio.add_argument("--audio-channels", type=number(int, 1, 32), default=None, help="input channels (mixed to mono)")
    audio.add_argument("--audio-block", type=number(int, 64, 16384), default=None, metavar="FRAMES",
                       help="frames per audio block (default 1024)")
    audio.add_argument("--av-offset", type=number(float, -2000.0, 2000.0), default=None, metavar="MS",
                       help="show the picture's reactions this much earlier than the sound (negative: later). A "
                            "render defaults to the features' latency, so reactions land on the sound; 0 gives what a "
                            "live run showed. Live, a file is analysed ahead to honour it; a live input only <= 0")
    audio.add_argument("--features", default=None, metavar="OUT.csv|OUT.png",
                       help="with --audio: write the features of every video frame (at --fps) as CSV, or plot them "
                            "(waveform, onsets, beats, bands, chroma) as PNG, and exit")
    audio.add_argument("--list-audio", action="store_true", help="print the audio input devices and exit")
    camera = p.add_argument_group("camera")
    camera.add_argument("--camera", default=None, metavar="INDEX|FILE|URL", type=camera_source,
                        help="the camera: an index, a video file (looped live; read by time in a render) or a "
                             "stream URL; the show's inputs: camera: says how it is prepared and which pix2pix "
                             "model reinterprets it. Without a show the camera layer joins the default chain "
                             "(screen blend at 0.5). Frames are never written to disk")
    camera.add_argument("--camera-model", default=None, metavar="NET_G.pth", type=camera_model,
                        help="a pix2pix / CycleGAN generator checkpoint (the reference implementation's "
                             "*_net_G.pth) that reinterprets the camera; its options are read from the file "
                             "(the show's model: wins over nothing, this wins over the show's)")
    live.add_argument("--no-oscquery", action="store_true",
                      help="with --osc: do not serve the namespace over OSCQuery (HTTP on the OSC port's number, "
                           "advertised over zeroconf)")
    live.add_argument("--render-scale", type=render_scale, default=None, metavar="auto|0.25..1",
                      help="draw the effects at this share of each output's pixels, then scale up (auto: where GL "
                           "renders on the CPU, live, about two pixels per model pixel; 1 elsewhere and offline)")
    live.add_argument("--shaders", default=SHIPPED_SHADERS, help="folder of the GLSL effects (hot-reloaded)")

    out = p.add_argument_group("output")
    out.add_argument("--render", metavar="OUT",
                     help="render offline to OUT: a .mp4/.mov/.mkv (H.264) or a PNG pattern like frames/%%05d.png")
    out.add_argument("--fps", type=number(float, 1.0, 240.0), default=30.0, help="frames per second")
    length = out.add_mutually_exclusive_group()
    length.add_argument("--duration", type=number(float, 0.0, 1e9, low_open=True), default=None, metavar="S",
                        help="seconds to render (default: one pass of the walk); live: run this long, then quit")
    length.add_argument("--frames", type=number(int, 1, 10_000_000), default=None, help="exact number of frames")
    out.add_argument("--size", type=parse_size, default=None, metavar="WxH",
                     help="output size (default: the model's resolution; live: 1280x720)")
    out.add_argument("--fit", choices=FIT_MODES, default=None,
                     help="how the square model image meets another aspect ratio: letterbox, crop or stretch, live "
                          f"and offline alike (default: each show output's, else {DEFAULT_FIT})")
    out.add_argument("--crf", type=number(int, 0, 51), default=18, help="x264 quality, 0-51 (lower = better)")
    out.add_argument("--quiet", action="store_true", help="no progress bar")
    out.add_argument("-v", "--verbose", action="store_true", help="log details")

    run = p.add_argument_group("unattended operation")
    run.add_argument("--log", metavar="FILE", default=None,
                     help="also log to FILE, rotated at --log-max-mb (five old files are kept)")
    run.add_argument("--log-max-mb", type=number(float, 0.1, 10_000.0), default=10.0, metavar="MB",
                     help="size at which the log file rotates")
    run.add_argument("--record", metavar="FILE", default=None,
                     help="live: record every input event and show version to FILE (JSON lines), for --replay")
    run.add_argument("--replay", metavar="FILE", default=None,
                     help="with --render: render a --record'ed performance offline, frame-exact, at any --size "
                          "(its recorded model unless --model names another)")
    run.add_argument("--supervise", action="store_true",
                     help="run the engine as a child process and restart it after a crash or a hang (no heartbeat "
                          "for --watchdog seconds), resuming at the cue that was running")
    run.add_argument("--state", metavar="FILE", default=None,
                     help="where the run's state is written every 2 s (default with --supervise or --resume: "
                          "~/.local/state/latentstage/<show>-<hash>.json)")
    run.add_argument("--resume", action="store_true",
                     help="continue from the state file (cue, fades, walk, parameters) if there is one")
    run.add_argument("--heartbeat-fd", type=number(int, 3, 1 << 20), default=None, help=argparse.SUPPRESS)
    run.add_argument("--watchdog", type=number(float, 5.0, 3600.0), default=30.0, metavar="S",
                     help="with --supervise: restart the engine when its heartbeat is older than this")
    run.add_argument("--shader-budget-ms", type=number(float, 1.0, 10_000.0), default=100.0, metavar="MS",
                     help="a new or changed shader runs only if its slowest test frame, drawn in a separate process "
                          "at 1920x1080 and scaled to the output's size, takes at most this long")
    return p


def check(args: argparse.Namespace) -> int:
    """--check and --list-params: validate or describe without running anything (torch only --with-model)."""
    from engine.catalog import parameter_lines
    from engine.show.load import ShowLoadError, engine_vocabulary, load_show
    if not os.path.isdir(args.shaders):
        raise CliError(f"--shaders {args.shaders}: no such folder (it holds the GLSL effects, e.g. shaders/)")
    vocabulary = engine_vocabulary(args.shaders)
    show = None
    if args.show is not None:
        try:
            show = load_show(args.show, shader_dir=args.shaders, vocabulary=vocabulary)
        except ShowLoadError as exc:
            for error in exc.errors[:-1]:
                print(f"error: {error}", file=sys.stderr)
            raise CliError(str(exc.errors[-1])) from None
    elif args.check:
        raise CliError("--check needs a show file: python launch.py SHOW.yaml --check")
    if args.list_params:
        print("\n".join(parameter_lines(vocabulary, show)))
        if not args.check:
            return 0
    assert show is not None
    if args.with_model:
        from engine.models import ModelFileError, load_generator
        from engine.show.model_checks import check_show_against_model
        try:
            G = load_generator(show.model, device="cpu", precision="fp32")
        except ModelFileError as exc:
            raise CliError(str(exc)) from None
        problems = check_show_against_model(show, G)
        if problems:
            for problem in problems[:-1]:
                print(f"error: {problem}", file=sys.stderr)
            raise CliError(str(problems[-1]))
    from engine.show.model import WalkAction
    walks = 1 + sum(1 for c in show.cues for a in c.actions if isinstance(a, WalkAction))
    print(f"{args.show}: valid ({len(show.cues)} cues, {walks} walks, {len(show.declare)} declared parameters"
          f"{', checked against its model' if args.with_model else '; --with-model also checks it against its model'})")
    return 0


def audio_device(text: str) -> str:
    if not 0 < len(text) <= 100 or not text.isprintable():
        raise argparse.ArgumentTypeError(f"expected an audio device index, a part of its name or 'default', "
                                         f"got {text[:40]!r}")
    return text


def camera_source(text: str) -> str:
    from controllers.camera.capture import parse_source
    try:
        return str(parse_source(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def camera_model(text: str) -> str:
    if not 0 < len(text) <= 1000 or not text.isprintable():
        raise argparse.ArgumentTypeError(f"expected a checkpoint file, got {text[:40]!r}")
    if not os.path.isfile(text):
        raise argparse.ArgumentTypeError(f"{text[:200]}: no such checkpoint file")
    return text


def list_audio() -> int:
    """--list-audio: the input devices PortAudio sees (none is not an error: a show runs without)."""
    try:
        from controllers.audio.device_process import list_devices
        found = list_devices()
    except (OSError, ImportError) as exc:         # no PortAudio library on this machine
        raise CliError(f"audio: {exc}") from None
    print("\n".join(found) if found else "no audio input devices here", file=sys.stdout)
    return 0


def write_features(args: argparse.Namespace) -> int:
    """--audio FILE --features OUT.csv|OUT.png: the features every video frame sees, as a live run computes
    them (no --av-offset unless given: the CSV shows what the live frame loop saw)."""
    from controllers.audio.analysis import AnalysisSettings
    from controllers.audio.features import per_video_frame, plot, write_csv
    from controllers.audio.files import AudioFileError, analyse_file, probe
    out = args.features
    if args.audio is None:
        raise CliError("--features needs --audio FILE")
    if not out.lower().endswith((".csv", ".png")) or not os.path.isdir(os.path.dirname(os.path.abspath(out))):
        raise CliError(f"--features {out}: expected a .csv or .png file name in a folder that exists")
    options: dict[str, Any] = {}
    if args.show is not None:
        from engine.show.load import ShowLoadError, load_show
        try:
            audio = load_show(args.show, shader_dir=args.shaders).inputs.get("audio")
        except ShowLoadError as exc:
            raise CliError(str(exc.errors[-1])) from None
        options = dict(audio.get("analysis", {})) if isinstance(audio, dict) else {}
    try:
        info = probe(args.audio)
        from engine.render import RenderError, RenderSettings
        seconds = args.duration if args.duration is not None else info.duration     # as many rows as a render has
        try:
            count = RenderSettings(fps=args.fps, duration=seconds, frames=args.frames).frame_count(seconds)
        except RenderError as exc:
            raise CliError(f"--features: {exc}") from None
        frames = per_video_frame(analyse_file(info, AnalysisSettings(samplerate=info.samplerate, **options),
                                              args.audio_block or 1024),
                                 args.fps, (args.av_offset or 0.0) / 1000.0, count=count)
        written = write_csv(out, frames) if out.lower().endswith(".csv") else \
            plot(out, frames, count, title=os.path.basename(args.audio))
    except AudioFileError as exc:
        raise CliError(str(exc)) from None
    except OSError as exc:
        raise CliError(f"--features {out}: cannot write ({exc.strerror or exc})") from None
    print(f"wrote {out}: {written} frames at {args.fps:g} fps from {args.audio} ({info.duration:.1f} s)",
          file=sys.stderr)
    return 0


def osc_endpoint(text: str) -> tuple[str, int]:
    from controllers.osc import parse_endpoint
    try:
        return parse_endpoint(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def midi_pattern(text: str) -> str:
    if not 0 < len(text) <= 100 or not text.isprintable():
        raise argparse.ArgumentTypeError(f"expected a MIDI port name pattern (1..100 printable characters), "
                                         f"got {text[:40]!r}")
    return text


def ip_address(text: str) -> str:
    import ipaddress
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an IP address, got {text[:60]!r}") from None


def render_scale(text: str) -> float | None:
    """'auto' (None) or a share of the output's pixels, 0.25..1."""
    if text == "auto":
        return None
    return number(float, 0.25, 1.0)(text)


def parse_chain(text: str) -> list[str]:
    """'a+b+c' as effect names ('' is no effects)."""
    return [name for name in text.split("+") if name]


def session_config(args: argparse.Namespace) -> Any:
    """The command line as a SessionConfig: the only thing launch.py decides."""
    from engine.session import SessionConfig, WalkConfig
    walk = WalkConfig(seeds=tuple(args.seeds) if args.seeds is not None else None, latents=tuple(args.latents),
                      latent_space=args.latent_space, class_index=args.class_index,
                      seconds_per_keyframe=args.seconds_per_keyframe, interpolation=args.interpolation,
                      easing=args.easing, loop=not args.no_loop, psi=args.psi, cutoff=args.cutoff,
                      mix_seed=args.mix_seed, mix_layers=args.mix_layers, noise_mode=args.noise_mode)
    return SessionConfig(
        model=args.model or "default", device=args.device, precision=args.precision, threads=args.threads, show=args.show,
        walk=walk, shaders=args.shaders, chain=tuple(parse_chain(args.chain)) if args.chain is not None else None,
        fit=args.fit,
        size=args.size, outputs=tuple(args.outputs), headless=args.headless, fullscreen=args.fullscreen,
        screen=args.screen, hud=args.hud, max_fps=getattr(args, "max_fps", None),
        shader_budget_ms=args.shader_budget_ms, state=args.state, resume=args.resume,
        heartbeat_fd=args.heartbeat_fd, record=args.record, generator=args.generator,
        render_scale=args.render_scale, osc=args.osc, osc_allow=tuple(args.osc_allow),
        osc_out=tuple(args.osc_out), oscquery=not args.no_oscquery, midi=tuple(args.midi), link=args.link,
        audio_in=args.audio_in, audio=args.audio, audio_rate=args.audio_rate, audio_channels=args.audio_channels,
        audio_block=args.audio_block, av_offset=args.av_offset / 1000.0 if args.av_offset is not None else None,
        camera=args.camera, camera_model=args.camera_model)


def run(args: argparse.Namespace) -> int:
    if args.check or args.list_params:
        return check(args)
    if args.list_screens:
        from engine.gl.outputs import DisplayError, list_screens
        try:
            print("\n".join(list_screens()))
        except DisplayError as exc:
            raise CliError(str(exc)) from None
        return 0
    if args.list_audio:
        return list_audio()
    if args.features is not None:
        return write_features(args)
    if args.export_directions is not None or args.preview_directions is not None:
        return export_directions(args)
    if args.learn_direction is not None:
        return learn_direction(args)
    if args.project is not None:
        return project_image(args)
    live = args.render is None and args.convert is None
    if live and not args.headless:
        from engine.gl.outputs import DisplayError, require_display
        try:
            require_display()  # fail in one line before loading anything when there is no display
        except DisplayError as exc:
            raise CliError(str(exc)) from None
    check_paths(args)
    if args.convert is not None:
        return convert(args)
    from engine.gl.outputs import DisplayError
    from engine.render import RenderError, RenderSettings
    from engine.session import Session, SessionError
    from engine.video import OutputError
    session = Session(session_config(args))
    replay = None
    try:
        if args.replay is not None:
            from engine.recording import RecordingError, read_recording
            try:
                recording = read_recording(args.replay)
            except RecordingError as exc:
                raise CliError(str(exc)) from None
            replay = session.load_replay(recording, args.model)
            if args.duration is None and args.frames is None:
                args.duration = max(recording.length, 1.0 / args.fps)
        else:
            session.load()
        if live:
            loop = session.live(duration=args.duration)
            print(f"live: {loop.display_frames} display frames; last second {loop.display_fps:.1f} display fps, "
                  f"{loop.generator_fps:.1f} generator fps", file=sys.stderr)
            return 0
        settings = RenderSettings(fps=args.fps, duration=args.duration, frames=args.frames, size=args.size,
                                  crf=args.crf)
        size, total = session.render_plan(settings, args.go_at)
        late = [t for t in (args.go_at or []) if t >= total / settings.fps]
        if late:
            logging.getLogger("launch").warning("--go-at %s: after the end of the render (%.1f s); give --duration "
                                                "to include them", ",".join(f"{t:g}" for t in late),
                                                total / settings.fps)
        bar = None
        if not args.quiet:
            from tqdm import tqdm
            bar = tqdm(total=total, unit="frame", desc=os.path.basename(args.render), file=sys.stderr)
        try:
            stats = session.render(args.render, dataclasses.replace(settings, size=size), go_at=args.go_at,
                                   progress=(lambda n: bar.update(1)) if bar is not None else None, replay=replay)
        finally:
            if bar is not None:
                bar.close()
    except SessionError as exc:
        lines = str(exc).splitlines() or ["the session could not start"]
        for line in lines[:-1]:
            print(f"error: {line}", file=sys.stderr)
        raise CliError(lines[-1]) from None
    except (RenderError, OutputError, DisplayError) as exc:
        raise CliError(str(exc)) from None
    except Exception as exc:
        if type(exc).__module__.startswith("moderngl"):
            raise CliError(f"OpenGL failed: {str(exc).splitlines()[0] if str(exc) else exc}") from None
        raise
    assert session.G is not None
    print(f"rendered {stats.frames} frames to {args.render} in {stats.seconds:.1f} s: "
          f"{stats.frames_per_second:.1f} frames/s ({session.G.device.type}, {session.G.precision})", file=sys.stderr)
    return 0


def convert(args: argparse.Namespace) -> int:
    """--convert: the model (the show's, if a show is given) written as safetensors."""
    from engine.models import save_generator
    model = args.model or "default"
    if args.show is not None:
        from engine.show.load import ShowLoadError, load_show
        try:
            model = load_show(args.show, shader_dir=args.shaders).model
        except ShowLoadError as exc:
            raise CliError(str(exc.errors[-1])) from None
    G = load_tool_model(model, "cpu")
    try:
        save_generator(G, args.convert)
    except OSError as exc:
        raise CliError(f"{args.convert}: cannot write ({exc.strerror or exc})") from None
    print(f"wrote {args.convert}", file=sys.stderr)
    return 0


def load_tool_model(model: str, device: str = "cpu") -> Any:
    """The generator for a one-shot tool (--convert, --export-directions, --learn-direction, --project), in fp32;
    CliError in one line if it cannot be loaded."""
    from engine.models import ModelFileError, load_generator
    try:
        return load_generator(model, device=device, precision="fp32")
    except (ModelFileError, ValueError, RuntimeError) as exc:
        raise CliError(str(exc).splitlines()[0] if str(exc) else f"cannot load {model!r}") from None


def export_directions(args: argparse.Namespace) -> int:
    """--export-directions METHOD OUT.npz and --preview-directions OUT.png: the model's directions, as data and
    as a picture."""
    from engine.latent.direction_files import write_directions
    from engine.latent.direction_preview import preview_sheet
    from engine.latent.directions import ganspace, layer_range, sefa
    method, out = args.export_directions if args.export_directions is not None else ("sefa", None)
    if method not in ("sefa", "ganspace"):
        raise CliError(f"--export-directions: the method is sefa or ganspace, got {method[:20]!r}")
    for path, suffix in ((out, ".npz"), (args.preview_directions, ".png")):
        if path is not None and (not path.endswith(suffix) or not os.path.isdir(os.path.dirname(os.path.abspath(path)))):
            raise CliError(f"{path}: expected a {suffix} file name in a folder that exists")
    G = load_tool_model(args.model or "default", "cpu")
    try:
        layer_range(args.direction_layers, G.num_ws)
        found = sefa(G, layers=args.direction_layers, count=args.count) if method == "sefa" else \
            ganspace(G, count=args.count, layers=args.direction_layers)
    except ValueError as exc:
        raise CliError(f"--direction-layers: {exc}") from None
    if out is not None:
        write_directions(out, found)
        print(f"wrote {out}: {len(found)} {found.source} directions, spread {found.sigma.min():.3g}.."
              f"{found.sigma.max():.3g}", file=sys.stderr)
    if args.preview_directions is not None:
        import cv2
        sheet = preview_sheet(G, found)
        if not cv2.imwrite(args.preview_directions, sheet[..., ::-1]):
            raise CliError(f"{args.preview_directions}: cannot write the preview")
        print(f"wrote {args.preview_directions}: {sheet.shape[1]}x{sheet.shape[0]}", file=sys.stderr)
    return 0


def learn_direction(args: argparse.Namespace) -> int:
    """--learn-direction NAME --positive … --negative … --out NAME.npy: a direction from labelled latents."""
    import numpy as np

    from engine.latent.files import LatentFileError
    from engine.latent.learn_direction import gather_latents, learn_direction as learn
    if not args.positive or not args.negative or not args.out:
        raise CliError("--learn-direction needs --positive, --negative and --out NAME.npy")
    if not args.out.endswith(".npy") or not os.path.isdir(os.path.dirname(os.path.abspath(args.out))):
        raise CliError(f"--out {args.out}: expected a .npy file name in a folder that exists")
    G = load_tool_model(args.model or "default", "cpu")
    try:
        positive = gather_latents(args.positive, G)
        negative = gather_latents(args.negative, G)
        learned = learn(positive, negative)
    except (ValueError, LatentFileError) as exc:
        raise CliError(f"--learn-direction {args.learn_direction}: {exc}") from None
    np.save(args.out, learned.normal)
    kind = "held-out" if learned.held_out else "training"
    print(f"wrote {args.out}: {args.learn_direction} from {learned.examples[0]} positive and {learned.examples[1]} "
          f"negative examples, {kind} accuracy {learned.accuracy:.0%}", file=sys.stderr)
    return 0


def project_image(args: argparse.Namespace) -> int:
    """--project IMAGE --out W.npz: the image as a keyframe, a progress bar with the loss, and a progress video."""
    import cv2
    import numpy as np
    from tqdm import tqdm

    from engine.latent.project import project, save_projection
    from engine.video import OutputError, open_sink
    if not args.out or not args.out.endswith(".npz") or not os.path.isdir(os.path.dirname(os.path.abspath(args.out))):
        raise CliError("--project needs --out W.npz (a .npz file name in a folder that exists)")
    if not os.path.isfile(args.project) or os.path.getsize(args.project) > 256 * 2 ** 20:
        raise CliError(f"--project {args.project}: expected an image file (PNG or JPEG, at most 256 MiB)")
    image = cv2.imread(args.project, cv2.IMREAD_COLOR)
    if image is None or image.shape[0] * image.shape[1] > 100_000_000:
        raise CliError(f"--project {args.project}: not an image OpenCV can read (PNG, JPEG, …) of sane size")
    G = load_tool_model(args.model or "default", args.device)
    perceptual = None
    if args.vgg16 is not None:
        from engine.latent.perceptual import VggError, load_vgg16
        try:
            perceptual = load_vgg16(args.vgg16, G.device)
        except VggError as exc:
            raise CliError(f"--vgg16 {exc}") from None
    video_path = os.path.splitext(args.out)[0] + "_progress.mp4"
    side = max(64, min(512, G.img_resolution))
    try:
        sink = open_sink(video_path, 30.0, (side * 2, side))
    except OutputError as exc:
        raise CliError(str(exc)) from None
    target = cv2.resize(image, (side, side), interpolation=cv2.INTER_AREA)[..., ::-1]
    bar = tqdm(total=args.steps, desc="projecting", unit="step", disable=args.quiet)

    def progress(step: int, loss: float, picture: Any) -> None:
        bar.update(1)
        bar.set_postfix(loss=f"{loss:.4f}")
        if step % max(1, args.steps // 150) == 0:         # about five seconds of video, whatever the steps
            frame = picture.clamp(-1, 1).add(1).mul(127.5).round().byte()[0].permute(1, 2, 0).cpu().numpy()
            sink.write(np.concatenate([target, cv2.resize(frame, (side, side))], axis=1))
    try:
        result = project(G, image[..., ::-1].copy(), steps=args.steps, space=args.space, on_step=progress,
                         perceptual=perceptual)
    finally:
        bar.close()
        sink.close()
    save_projection(args.out, result)
    print(f"wrote {args.out} ({args.space}, {result.steps} steps, loss {result.loss:.4f}, PSNR {result.psnr:.1f} dB) "
          f"and {video_path}", file=sys.stderr)
    return 0


def check_paths(args: argparse.Namespace) -> None:
    """Paths the run will write or read, checked before any model is loaded (one line each)."""
    if not os.path.isdir(args.shaders):
        raise CliError(f"--shaders {args.shaders}: no such folder (it holds the GLSL effects, e.g. shaders/)")
    if args.convert is not None:
        target = os.path.abspath(args.convert)
        if os.path.isdir(target):
            raise CliError(f"--convert {args.convert}: is a folder; expected a file name like model.safetensors")
        if not os.path.isdir(os.path.dirname(target)):
            raise CliError(f"--convert {args.convert}: the folder {os.path.dirname(target)} does not exist")
        if not target.endswith(".safetensors"):
            raise CliError(f"--convert {args.convert}: expected a .safetensors file name")
    if args.render is not None:
        from engine.video import OutputError, check_output_path
        try:
            check_output_path(args.render)
        except OutputError as exc:
            raise CliError(str(exc)) from None
    if args.log is not None and os.path.isdir(args.log):
        raise CliError(f"--log {args.log}: is a folder; expected a file name")
    if args.replay is not None and args.render is None:
        raise CliError("--replay renders offline: give --render OUT.mp4 too")
    if args.replay is not None and args.show is not None:
        raise CliError("--replay takes its show from the recording; leave SHOW.yaml out")
    if args.audio is not None and args.audio_in is not None:
        raise CliError("--audio FILE or --audio-in DEVICE: one source of sound, not both")
    if args.audio is not None:
        from controllers.audio.files import AudioFileError, probe
        try:
            probe(args.audio)
        except AudioFileError as exc:
            raise CliError(str(exc)) from None
    if args.audio_in is not None and args.render is not None:
        raise CliError("--audio-in is a live input; a render takes its sound from --audio FILE")
    if args.record is not None and args.render is not None:
        raise CliError("--record records a live run; a --render is already a file")
    chains = [list(spec.get("chain", ())) for spec in args.outputs]
    if args.chain is not None:
        chains.append(parse_chain(args.chain))
    if len(args.outputs) > 16 or any(len(c) > 16 or len(set(c)) != len(c) for c in chains):
        raise CliError("at most 16 outputs, each with at most 16 effects, each effect once per chain")
    from engine.gl.glsl import is_shader_name
    for name in (n for c in chains for n in c):
        if not is_shader_name(name) or not os.path.isfile(os.path.join(args.shaders, f"{name}.glsl")):
            found = sorted(f[:-5] for f in os.listdir(args.shaders) if f.endswith(".glsl"))
            raise CliError(f"effect {name[:40]!r} (in --chain or --output chain=): no {name[:40]}.glsl in "
                           f"{args.shaders}; there are {', '.join(found)}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    if args.supervise:
        from engine.supervise import SUPERVISED, supervise
        if os.environ.get(SUPERVISED):
            print("error: --supervise given to an engine that a supervisor already runs", file=sys.stderr)
            return EXIT_USAGE
        if args.render is not None or args.convert is not None:
            print("error: --supervise is for live runs, not --render or --convert", file=sys.stderr)
            return EXIT_USAGE
        return supervise(argv, args)
    from engine.logs import setup_logging
    try:
        setup_logging(args.verbose, args.log, max_bytes=int(args.log_max_mb * 2 ** 20))
    except OSError as exc:
        print(f"error: --log {args.log}: cannot write there ({exc.strerror or exc})", file=sys.stderr)
        return EXIT_FAILURE
    try:
        return run(args)
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
