"""Test signals the audio tests synthesise themselves: click tracks at a known tempo, tones, silence, steps."""

from __future__ import annotations

import numpy as np

SR = 48_000


def click_track(bpm: float, seconds: float, sr: int = SR, amplitude: float = 0.8, start: float = 0.5,
                drone: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Short 1 kHz clicks every beat from ``start`` (and a quiet 110 Hz drone if asked): (samples, click times)."""
    x = np.zeros(int(sr * seconds), np.float32)
    times = np.arange(start, seconds - 0.05, 60.0 / bpm)
    n = np.arange(int(0.01 * sr))
    click = amplitude * np.sin(2 * np.pi * 1000 * n / sr) * np.exp(-n / (sr / 600))
    for t in times:
        i = int(round(t * sr))
        x[i:i + n.size] += click[:max(0, x.size - i)]
    if drone:
        x += drone * np.sin(2 * np.pi * 110 * np.arange(x.size) / sr).astype(np.float32)
    return x, times


def tone(freq: float, seconds: float, sr: int = SR, amplitude: float = 0.3) -> np.ndarray:
    return (amplitude * np.sin(2 * np.pi * freq * np.arange(int(sr * seconds)) / sr)).astype(np.float32)


def wobble(seconds: float, level_db: float, sr: int = SR, rate: float = 2.0) -> np.ndarray:
    """Pink-ish noise at ``level_db`` dBFS whose loudness swings by ±6 dB at ``rate`` Hz (music-like dynamics)."""
    rng = np.random.default_rng(7)
    noise = np.convolve(rng.standard_normal(int(sr * seconds)), np.ones(8) / 8, mode="same")
    noise /= np.sqrt(np.mean(noise ** 2))
    t = np.arange(noise.size) / sr
    gain = 10 ** ((level_db + 6 * np.sin(2 * np.pi * rate * t)) / 20)
    return (noise * gain).astype(np.float32)


def write_wav(path: str, samples: np.ndarray, sr: int = SR) -> str:
    import soundfile
    soundfile.write(path, samples, sr, subtype="FLOAT")
    return path
