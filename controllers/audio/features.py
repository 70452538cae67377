"""Features on the video's clock: what each frame of a render (or of a live run) sees, as events, CSV or a plot.

The analysis runs hop by hop (≈11 ms); a video frame sees the newest hop analysed by its time, and every onset
and beat decided since the frame before, exactly as the live frame loop does when it drains the events the
audio controller posted. ``offset`` (seconds, ``--av-offset``) moves the features earlier: a render shifts them
back by their latency so reactions land on the sound; 0 gives what a live run showed.

    frames = per_video_frame(analyse_file(probe("track.wav")), fps=30, offset=0.016)
    write_csv("features.csv", frames)          # time, rms, onset_strength, onset, beat, tempo, ...
"""

from __future__ import annotations

import csv
import dataclasses
import math
from collections.abc import Iterable, Iterator

import numpy as np

from controllers.audio.analysis import FeatureFrame
from engine.inputs import InputEvent

SOURCE = "audio"               # the event source of every audio event (and the sources' group)


@dataclasses.dataclass(frozen=True)
class FrameFeatures:
    """What video frame ``index`` (at ``time``) sees: the newest hop's values (None before the first hop), the
    strongest onset and whether a beat came since the previous frame, and the loudest sample since then."""

    index: int
    time: float
    names: tuple[str, ...]
    values: np.ndarray | None
    onset: float = 0.0          # 0: none; else the strongest onset's strength (0..1]
    beat: bool = False
    peak: float = 0.0
    fresh: bool = False         # a hop was analysed since the previous frame (live, its block was posted)


def per_video_frame(frames: Iterable[FeatureFrame], fps: float, offset: float = 0.0,
                    count: int | None = None) -> Iterator[FrameFeatures]:
    """Video frames 0, 1, … at ``i / fps`` until the hops run out (or ``count`` frames: after the audio ends
    they hold its last values, never ``fresh``, so a render stops posting them and its sources go stale
    as a live run's do)."""
    if not (math.isfinite(fps) and fps > 0 and math.isfinite(offset)):
        raise ValueError(f"expected fps > 0 and a finite offset, got {fps}, {offset}")
    hops = iter(frames)
    ahead: FeatureFrame | None = next(hops, None)
    names: tuple[str, ...] = ahead.names if ahead is not None else ()
    values: np.ndarray | None = None
    i = 0
    while count is None or i < count:
        if ahead is None and count is None:
            return
        t = i / fps
        onset, beat, peak, fresh = 0.0, False, 0.0, False
        while ahead is not None and ahead.time - offset <= t + 1e-9:
            values, fresh = ahead.values, True
            if ahead.onset:
                onset = max(onset, ahead.onset_strength, 1e-3)
            beat = beat or ahead.beat
            peak = max(peak, ahead.peak)
            ahead = next(hops, None)
        yield FrameFeatures(i, t, names, values, onset, beat, peak, fresh)
        i += 1


def frame_events(names: tuple[str, ...], values: np.ndarray | None, onset: float, beat: bool,
                 time: float) -> list[InputEvent]:
    """The input events of one analysis step: every feature as an ``audio.*`` source, and ``audio.onset`` /
    ``audio.beat`` pulses (live and offline post the same)."""
    events = [] if values is None else [InputEvent(time, SOURCE, "source", f"{SOURCE}.{name}", float(v))
                                        for name, v in zip(names, values)]
    if onset > 0:
        events.append(InputEvent(time, SOURCE, "pulse", f"{SOURCE}.onset", min(1.0, float(onset))))
    if beat:
        events.append(InputEvent(time, SOURCE, "pulse", f"{SOURCE}.beat", 1.0))
    return events


def csv_columns(names: tuple[str, ...]) -> list[str]:
    """``time, rms, onset_strength, onset, beat, tempo``, then the other scalars, the bands and the chroma."""
    first = ["rms", "onset_strength", "onset", "beat", "tempo"]
    rest = [n for n in names if n not in first]
    return ["time", *first, *(n.replace(".", "_") for n in rest)]


def write_csv(path: str, frames: Iterable[FrameFeatures]) -> int:
    """One row per video frame (onsets and beats as 0/1, tempo in BPM); returns the rows written."""
    rows = 0
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        header: list[str] | None = None
        for frame in frames:
            if header is None:
                header = csv_columns(frame.names)
                writer.writerow(header)
            values = dict(zip(frame.names, frame.values)) if frame.values is not None else {}
            rest = [n for n in frame.names if n not in ("rms", "onset_strength", "tempo")]
            writer.writerow([f"{frame.time:.6f}", _num(values.get("rms")), _num(values.get("onset_strength")),
                             int(frame.onset > 0), int(frame.beat), _num(values.get("tempo"))]
                            + [_num(values.get(n)) for n in rest])
            rows += 1
    return rows


def _num(value: float | None) -> str:
    return "0" if value is None else f"{float(value):.6g}"


PLOT_COLUMNS = 4000          # a plot's time axis holds at most this many points, whatever the track's length


def plot(path: str, frames: Iterable[FrameFeatures], count: int, title: str = "") -> int:
    """A PNG of what the mappings will react to: the waveform with onsets, loudness and onset strength, the
    beats with the tempo, the bands, and the chroma. ``count`` frames are expected; they are gathered into at
    most :data:`PLOT_COLUMNS` columns as they come (means, and any onset or beat), so memory stays bounded.
    Returns the frames plotted."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    gathered = _Columns(max(1, min(count, PLOT_COLUMNS)), max(1, math.ceil(count / PLOT_COLUMNS)))
    for frame in frames:
        gathered.add(frame)
    if gathered.table is None:
        raise ValueError("no frames to plot")
    used = gathered.filled > 0
    names = gathered.names
    table = gathered.table[used] / gathered.filled[used, None]
    t, peaks = gathered.time[used], gathered.peak[used]
    column = {name: table[:, k] for k, name in enumerate(names)}
    onsets, beats = t[gathered.onset[used]], t[gathered.beat[used]]
    bands = [n for n in names if n.startswith("band.")]
    chroma = [n for n in names if n.startswith("chroma.")]
    figure, axes = plt.subplots(5, 1, figsize=(14, 10), sharex=True,
                                gridspec_kw={"height_ratios": [1.2, 1, 0.8, 1, 1.2]})
    wave, loud, beat, band, pitch = axes
    wave.fill_between(t, -peaks, peaks, color="0.35", linewidth=0)
    wave.vlines(onsets, -1, 1, color="tab:red", linewidth=0.6, label=f"onsets ({len(onsets)})")
    wave.set_ylim(-1, 1)
    wave.set_ylabel("waveform")
    wave.legend(loc="upper right", fontsize=8)
    loud.plot(t, column["rms"], label="rms", color="tab:blue")
    loud.plot(t, column["onset_strength"], label="onset strength", color="tab:orange", linewidth=0.8)
    loud.set_ylim(0, 1.05)
    loud.legend(loc="upper right", fontsize=8)
    beat.vlines(beats, 0, 1, color="tab:green", linewidth=0.8)
    beat.plot(t, column["beat_phase"], color="0.6", linewidth=0.6)
    beat.set_ylabel("beats")
    tempo = beat.twinx()
    tempo.plot(t, column["tempo"], color="tab:purple", linewidth=1.0)
    tempo.set_ylabel("tempo (BPM)", color="tab:purple")
    for name in bands:
        band.plot(t, column[name], label=name[5:], linewidth=0.9)
    band.set_ylim(0, 1.05)
    band.legend(loc="upper right", fontsize=8)
    band.set_ylabel("bands")
    span = (t[0], t[-1] if len(t) > 1 else t[0] + 1)
    pitch.imshow(table[:, [names.index(n) for n in chroma]].T, aspect="auto", origin="lower", cmap="magma",
                 extent=(span[0], span[1], -0.5, 11.5), vmin=0, vmax=1, interpolation="nearest")
    pitch.set_yticks(range(12), [n[7:].replace("s", "#") for n in chroma])
    pitch.set_ylabel("chroma")
    pitch.set_xlabel("time (s)")
    if title:
        wave.set_title(title)
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)
    return gathered.seen


class _Columns:
    """Frames gathered into a fixed number of plot columns as they stream past."""

    def __init__(self, columns: int, per: int) -> None:
        self.columns, self.per = columns, per
        self.names: tuple[str, ...] = ()
        self.table: np.ndarray | None = None
        self.filled, self.time, self.peak = np.zeros(columns), np.zeros(columns), np.zeros(columns)
        self.onset, self.beat = np.zeros(columns, bool), np.zeros(columns, bool)
        self.seen = 0

    def add(self, frame: FrameFeatures) -> None:
        if self.table is None:
            self.names = frame.names
            self.table = np.zeros((self.columns, len(frame.names)))
        c = min(frame.index // self.per, self.columns - 1)
        if frame.values is not None:
            self.table[c] += frame.values
        self.filled[c] += 1
        self.time[c] = frame.time
        self.peak[c] = max(self.peak[c], frame.peak)
        self.onset[c] |= frame.onset > 0
        self.beat[c] |= frame.beat
        self.seen += 1
