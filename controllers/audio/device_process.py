"""The audio input's own process: PortAudio, the device and the analysis, away from the engine.

Audio drivers are native code that can take a process down: PortAudio's JACK host API aborts the process
(an ``assert`` in ``Terminate``) when it restarts after its server went away, which is exactly what finding a
device again needs. So the input stream lives in a child process that imports only numpy, sounddevice and
the analysis; it sends the engine one small message per block and exits on any failure, and the engine's
AudioInput starts a fresh one (a fresh PortAudio, so a device plugged in later is found) with backoff.

Messages to the parent, over a multiprocessing connection:

- ``("open", description, names)``: the stream runs; ``names`` are the features' names, in order;
- ``("block", values, onset, beat)``: one block analysed (values: float64 array; onset: strength or 0);
- ``("error", text)``: why the child is about to exit (then it exits with status 1).
"""

from __future__ import annotations

import queue
import time
from typing import Any

import numpy as np

from controllers.audio.analysis import AnalysisSettings, AudioAnalyzer

STALL_SECONDS = 2.0       # an open stream that delivers nothing this long is a lost device
QUEUE_SECONDS = 2.0       # blocks buffered between the audio callback and the analysis


def run(connection: Any, device: str | int | None, samplerate: int | None, channels: int, block: int,
        options: dict[str, Any]) -> None:
    """The child's main: open, analyse, report; any failure ends it with an ``error`` message."""
    try:
        _listen(connection, device, samplerate, channels, block, options)
    except KeyboardInterrupt:
        return
    except Exception as exc:          # PortAudioError, ValueError (no such device), OSError: all reported
        text = str(exc).strip().splitlines()
        try:
            connection.send(("error", (text[0] if text else type(exc).__name__)[:300]))
        except OSError:
            pass
        raise SystemExit(1) from None


def _listen(connection: Any, device: str | int | None, samplerate: int | None, channels: int, block: int,
            options: dict[str, Any]) -> None:
    import sounddevice as sd
    index = find_input(device)
    info = sd.query_devices(index, "input")
    rate = int(samplerate or info["default_samplerate"])
    channels = max(1, min(channels, int(info["max_input_channels"])))
    blocks: queue.Queue[np.ndarray] = queue.Queue(maxsize=max(4, int(QUEUE_SECONDS * rate / block)))

    def callback(indata: np.ndarray, frames: int, timing: Any, status: Any) -> None:
        try:                                       # the audio thread: copy and go, never wait
            blocks.put_nowait(indata.copy())
        except queue.Full:                         # the analysis fell behind: drop, never block the driver
            pass

    analyzer = AudioAnalyzer(AnalysisSettings(samplerate=rate, **options))
    with sd.InputStream(device=index, samplerate=rate, channels=channels, blocksize=block, dtype="float32",
                        callback=callback):
        connection.send(("open", f"{info['name']} at {rate} Hz", analyzer.names))
        last = time.monotonic()
        while True:
            if connection.poll():                  # the parent says stop (or went away: EOF)
                return
            try:
                data = blocks.get(timeout=0.1)
            except queue.Empty:
                if time.monotonic() - last > STALL_SECONDS:
                    raise OSError(f"{info['name']}: no sound for {STALL_SECONDS:g} s") from None
                continue
            last = time.monotonic()
            frames = analyzer.process(data)
            if not frames:
                continue
            onset = max((max(f.onset_strength, 1e-3) for f in frames if f.onset), default=0.0)
            connection.send(("block", frames[-1].values, onset, any(f.beat for f in frames)))


def find_input(device: str | int | None) -> int | None:
    """The device index for a name part or an index (None: the default input); ValueError naming the inputs
    there are."""
    import sounddevice as sd
    devices = sd.query_devices()
    if device is None:
        default = sd.default.device[0]
        if default is None or default < 0:
            raise ValueError("no audio input device here" + _inputs_hint())
        return None
    if isinstance(device, int) or device.isdigit():
        index = int(device)
        if not 0 <= index < len(devices) or devices[index]["max_input_channels"] < 1:
            raise ValueError(f"no audio input device {index}" + _inputs_hint())
        return index
    matches = [i for i, d in enumerate(devices) if d["max_input_channels"] > 0 and device.lower() in
               str(d["name"]).lower()]
    if not matches:
        raise ValueError(f"no audio input device named like {device[:60]!r}" + _inputs_hint())
    return matches[0]


def list_devices() -> list[str]:
    """Input devices as ``index: name (host API, channels, default rate)``; empty where there are none."""
    import sounddevice as sd
    apis = sd.query_hostapis()
    return [f"{i}: {d['name']} ({apis[d['hostapi']]['name']}, {d['max_input_channels']} in, "
            f"{d['default_samplerate']:.0f} Hz)" for i, d in enumerate(sd.query_devices())
            if d["max_input_channels"] > 0]


def _inputs_hint() -> str:
    try:
        found = list_devices()
    except Exception:
        found = []
    return f"; inputs here: {'; '.join(found)[:300]}" if found else "; this machine lists none"
