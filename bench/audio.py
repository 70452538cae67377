"""Audio benchmark: what the causal analysis costs, and how late each feature reacts.

    python -m bench.audio            # a table
    python -m bench.audio --json     # the same figures for scripts

1. Cost: analysis time per 1024-frame block at 48 kHz (one core), as a share of the block's 21.3 ms (the goal
   is under 10 %), against a plain FFT of the same block measured in the same run (the least any spectral
   analysis pays).
2. Latency of each feature from the sound (offline, exact): an onset's decision after its click; a beat's
   after its click once the tempo is locked; loudness, a band and chroma: the time to half their final rise
   after a tone starts.
3. Latency from a click in the input to the onset event in a 60 fps frame loop: a file played in real time
   through controllers.audio.live.FilePlayback (paced by the clock), its events drained by a loop at 60 Hz.
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


def frame_loop_latency(seconds: float = 12.0) -> dict[str, float]:
    """A click track played in real time (paced by the clock), its onset events drained by a 60 fps loop."""
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
    heard = start + times
    late = [min((s - h for s in seen if s >= h), default=np.nan) for h in heard]
    return {"click_to_frame_ms": float(np.nanmedian(late) * 1000), "click_to_frame_max_ms": float(np.nanmax(late) * 1000),
            "onsets": float(len(seen)), "clicks": float(len(times))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    figures = {"cost": cost(), "latency": latencies(), "frame_loop": frame_loop_latency()}
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    c, lat, loop = figures["cost"], figures["latency"], figures["frame_loop"]
    print(f"analysis per {BLOCK}-frame block at {SR} Hz: {c['analysis_ms']:.3f} ms = {c['share_of_block']:.1%} of the "
          f"block's {c['block_ms']:.1f} ms (goal < 10 %); {c['analysis_over_fft']:.0f}x a bare FFT of it "
          f"({c['fft_ms'] * 1000:.0f} µs)")
    print("feature latency from the sound (median): " + ", ".join(f"{k[:-3]} {v:.1f} ms" for k, v in lat.items()))
    print(f"click -> onset event in a 60 fps frame loop: median {loop['click_to_frame_ms']:.1f} ms, max "
          f"{loop['click_to_frame_max_ms']:.1f} ms ({loop['onsets']:.0f} onsets for {loop['clicks']:.0f} clicks)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
