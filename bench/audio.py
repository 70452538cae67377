"""Audio benchmark: what the causal analysis costs, and how late each feature reacts.

    python -m bench.audio            # a table
    python -m bench.audio --json     # the same figures for scripts

1. Cost: analysis time per 1024-frame block at 48 kHz (one core), as a share of the block's 21.3 ms (the goal
   is under 10 %), against a plain FFT of the same block measured in the same run (the least any spectral
   analysis pays).
2. Latency of each feature from the sound (offline, exact): an onset's decision after its click; a beat's
   after its click once the tempo is locked; loudness, a band and chroma: the time to half their final rise
   after a tone starts.
3. Latency from a click in the input to the onset event in a 60 fps frame loop, end to end through a real
   device: a JACK server (dummy driver, 256-frame periods), an output stream in this process writing a click
   every half second (its time taken in the callback that puts it into the JACK graph), connected to the
   engine's AudioInput (its own process), whose events a loop at 60 Hz drains; for input blocks of 1024 and
   256 frames. Without jackd, a file played in real time through FilePlayback stands in.
Medians throughout.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from controllers.audio.analysis import AnalysisSettings, AudioAnalyzer  # noqa: E402

SR, BLOCK = 48_000, 1024


def clicks(bpm: float, seconds: float, start: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    x = np.zeros(int(SR * seconds), np.float32)
    times = np.arange(start, seconds - 0.05, 60.0 / bpm) + np.random.default_rng(3).uniform(0, 0.01, 1)[0]
    n = np.arange(480)
    for t in times:
        i = int(round(t * SR))
        x[i:i + 480] += 0.8 * np.sin(2 * np.pi * 1000 * n / SR) * np.exp(-n / 80)
    return x, times


def cost(seconds: float = 30.0) -> dict[str, float]:
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(int(SR * seconds)) * 0.1).astype(np.float32)
    analyzer = AudioAnalyzer(AnalysisSettings(samplerate=SR))
    spent, fft = [], []
    for start in range(0, x.size - BLOCK, BLOCK):
        block = x[start:start + BLOCK]
        t0 = time.perf_counter()
        analyzer.process(block)
        spent.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        np.fft.rfft(block)
        fft.append(time.perf_counter() - t0)
    duration = BLOCK / SR
    return {"block_ms": duration * 1000, "analysis_ms": statistics.median(spent) * 1000,
            "share_of_block": statistics.median(spent) / duration, "fft_ms": statistics.median(fft) * 1000,
            "analysis_over_fft": statistics.median(spent) / statistics.median(fft)}


def _half_rise(values: np.ndarray, times: np.ndarray, start: float) -> float:
    after = times >= start
    before = values[times < start - 0.05][-1] if np.any(times < start - 0.05) else 0.0
    final = values[after][-1]
    crossed = np.flatnonzero(after & (values >= before + (final - before) / 2))
    return float(times[crossed[0]] - start) if crossed.size else float("nan")


def latencies() -> dict[str, float]:
    x, times = clicks(120.0, 30.0)
    analyzer = AudioAnalyzer(AnalysisSettings(samplerate=SR))
    frames = [f for start in range(0, x.size, BLOCK) for f in analyzer.process(x[start:start + BLOCK])]
    onsets = np.array([f.time for f in frames if f.onset])
    beats = np.array([f.time for f in frames if f.beat and f.time > 10])
    result = {"onset_ms": float(np.median([min(onsets[onsets >= t] - t, default=np.nan) for t in times]) * 1000),
              "beat_ms": float(np.median([b - times[np.argmin(np.abs(times - b))] for b in beats]) * 1000)}
    # A tone after a quiet second: how long each continuous feature takes to half its rise.
    rng = np.random.default_rng(1)
    quiet = (rng.standard_normal(SR * 2) * 0.003).astype(np.float32)
    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(SR) / SR)).astype(np.float32)
    analyzer = AudioAnalyzer(AnalysisSettings(samplerate=SR))
    frames = [f for start in range(0, SR * 3, BLOCK)
              for f in analyzer.process(np.concatenate([quiet, tone])[start:start + BLOCK])]
    t = np.array([f.time for f in frames])
    for key, name in (("rms", "rms"), ("band", "band.mid"), ("chroma", "chroma.a")):
        result[f"{key}_ms"] = _half_rise(np.array([f[name] for f in frames]), t, 2.0) * 1000
    return result


def frame_loop_latency(seconds: float = 12.0) -> dict[str, float | str]:
    """Without a JACK server: a click track played in real time (paced by the clock) through FilePlayback."""
    import soundfile

    from controllers.audio.live import FilePlayback
    from engine.clock import WallClock
    from engine.inputs import EventQueue
    x, times = clicks(120.0, seconds)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "clicks.wav")
        soundfile.write(path, x, SR)
        clock, queue = WallClock(), EventQueue()
        playback = FilePlayback(path, block=BLOCK, play=False)
        seen: list[float] = []
        start = clock.now()
        playback.start(queue.post, clock)
        while not playback.finished.is_set():          # the frame loop: drain once a frame
            now = clock.now()
            seen.extend(now for e in queue.drain() if e.key == "audio.onset")
            time.sleep(max(0.0, 1 / 60 - (clock.now() - now)))
        playback.stop()
    return _late(seen, list(start + times), "file played, paced by the clock")


def _late(seen: list[float], clicks_at: list[float], path: str) -> dict[str, float | str]:
    late = [min((s - c for s in seen if s >= c), default=np.nan) for c in clicks_at]
    return {"path": path, "click_to_frame_ms": float(np.nanmedian(late) * 1000),
            "click_to_frame_max_ms": float(np.nanmax(late) * 1000), "onsets": float(len(seen)),
            "clicks": float(len(clicks_at))}


def device_latency(block: int, seconds: float = 10.0) -> dict[str, float | str] | None:
    """End to end through JACK (see the module docstring); None where there is no jackd."""
    import shutil
    import subprocess
    if shutil.which("jackd") is None:
        return None
    name = f"latentstage-bench-{os.getpid() % 1000}"
    env = dict(os.environ, JACK_DEFAULT_SERVER=name, JACK_NO_START_SERVER="1")
    server = subprocess.Popen(["jackd", "-n", name, "-S", "--no-realtime", "-d", "dummy", "-r", str(SR), "-p",
                               "256"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    saved = {k: os.environ.get(k) for k in ("JACK_DEFAULT_SERVER", "JACK_NO_START_SERVER")}
    try:
        subprocess.run(["jack_wait", "-w", "-t", "10"], env=env, capture_output=True, timeout=20, check=True)
        os.environ.update(JACK_DEFAULT_SERVER=name, JACK_NO_START_SERVER="1")
        return _through_jack(block, seconds, env)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        server.terminate()
        server.wait(10)


def _through_jack(block: int, seconds: float, env: dict[str, str]) -> dict[str, float | str]:
    import re
    import subprocess

    import sounddevice as sd

    from controllers.audio.live import AudioInput
    from engine.clock import WallClock
    from engine.inputs import EventQueue
    sd._terminate()
    sd._initialize()                                   # PortAudio on this server
    clock, queue = WallClock(), EventQueue()
    clicks_at: list[float] = []
    n = np.arange(480)
    click = (0.8 * np.sin(2 * np.pi * 1000 * n / SR) * np.exp(-n / 80)).astype(np.float32)
    state = {"next": 1.0, "left": np.zeros(0, np.float32)}

    def play(outdata: np.ndarray, frames: int, timing: object, status: object) -> None:
        outdata.fill(0)
        left = state["left"]
        if len(left):                                  # type: ignore[arg-type]
            k = min(frames, len(left))                 # type: ignore[arg-type]
            outdata[:k, 0] = left[:k]                  # type: ignore[index]
            state["left"] = left[k:]                   # type: ignore[index]
        elif clock.now() >= state["next"]:             # type: ignore[operator]
            clicks_at.append(clock.now())              # into the JACK graph this period
            outdata[:min(frames, 480), 0] = click[:frames]
            state["left"] = click[frames:]
            state["next"] = state["next"] + 0.5        # type: ignore[operator]

    audio = AudioInput(device="system", samplerate=SR, block=block)
    output = sd.OutputStream(samplerate=SR, channels=1, blocksize=256, dtype="float32", callback=play)
    try:
        audio.start(queue.post, clock)
        output.start()
        deadline = time.monotonic() + 20
        ports: list[str] = []
        while time.monotonic() < deadline and len(ports) < 2:
            listed = subprocess.run(["jack_lsp"], env=env, capture_output=True, text=True).stdout.split()
            ports = [p for p in listed if re.fullmatch(r"PortAudio(-\d+)?:(in|out)_0", p)]
            time.sleep(0.1)
        source = next(p for p in ports if p.endswith("out_0"))
        target = next(p for p in ports if p.endswith("in_0"))
        subprocess.run(["jack_connect", source, target], env=env, check=True)
        clicks_at.clear()
        state["next"] = clock.now() + 1.0
        seen: list[float] = []
        end = clock.now() + seconds
        while clock.now() < end:                       # the frame loop: drain once a frame
            now = clock.now()
            seen.extend(now for e in queue.drain() if e.key == "audio.onset")
            time.sleep(max(0.0, 1 / 60 - (clock.now() - now)))
    finally:
        output.stop()
        output.close()
        audio.stop()
        sd._terminate()                                # before the server goes (PortAudio's JACK API aborts
        os.environ["JACK_DEFAULT_SERVER"] = "latentstage-none"   # a process that shuts it down after that)
        sd._initialize()
    return _late(seen, clicks_at[:-1], f"JACK, input blocks of {block}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    loops = [d for d in (device_latency(BLOCK), device_latency(256)) if d is not None] or [frame_loop_latency()]
    figures = {"cost": cost(), "latency": latencies(), "frame_loop": loops}
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    c, lat = figures["cost"], figures["latency"]
    print(f"analysis per {BLOCK}-frame block at {SR} Hz: {c['analysis_ms']:.3f} ms = {c['share_of_block']:.1%} of the "
          f"block's {c['block_ms']:.1f} ms (goal < 10 %); {c['analysis_over_fft']:.0f}x a bare FFT of it "
          f"({c['fft_ms'] * 1000:.0f} µs)")
    print("feature latency from the sound (median): " + ", ".join(f"{k[:-3]} {v:.1f} ms" for k, v in lat.items()))
    for loop in loops:
        print(f"click -> onset event in a 60 fps frame loop ({loop['path']}): median {loop['click_to_frame_ms']:.1f} "
              f"ms, max {loop['click_to_frame_max_ms']:.1f} ms ({loop['onsets']:.0f} onsets for "
              f"{loop['clicks']:.0f} clicks)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
