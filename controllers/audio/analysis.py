"""The causal audio analysis: musical features from past samples only, hop by hop, the same code live and offline.

Tools that analyse a whole track first (librosa's ``onset_detect``, ``beat_track``) normalise by the track's
maximum and look ahead; a live show cannot. :class:`AudioAnalyzer` takes samples in blocks of any size and,
every ``hop`` samples (≈11 ms at 44.1 or 48 kHz), computes from the newest ``n_fft`` samples (≈43 ms):

==================  ===============================================================  ===========
feature             what                                                             units
==================  ===============================================================  ===========
``rms``             loudness: RMS of the newest half window, in dB, adaptive range   0..1
``loudness_db``     the same loudness, raw                                           dBFS
``onset_strength``  positive log-mel flux (librosa's onset envelope, built causally)  0..1
``centroid``        spectral centroid, in octaves, adaptive range                    0..1
``flux``            spectral flux of the magnitude spectrum, adaptive range          0..1
``tempo``           the online beat tracker's tempo (aubio)                          BPM
``beat_phase``      the beat clock's phase: the fraction of the current beat          0..1
``band.NAME``       energy in each configured band, in dB, adaptive range            0..1
``chroma.PC``       the 12 pitch classes (c, cs, d, … b; a 170 ms window), loudest = 1  0..1
==================  ===============================================================  ===========

and two kinds of events: an **onset** (peak picking on the onset envelope with a running normalisation in
place of the whole track's maximum, and a decision delay of ``onset_delay`` hops in place of librosa's look
ahead) and a **beat** (controllers.audio.beats: an oscillator at aubio's online tempo, locked to the beats
aubio flags and to the onsets near them; it predicts, so beats come on time).

Every normalised feature has an **adaptive range**: a minimum and a maximum that jump to any new extreme and
relax towards the signal with a half-life of ``adapt`` seconds (the rule of controllers.conditioning's
``learn: {adaptive: ...}``), widened to a minimum span around their middle so a steady signal reads 0.5, not
noise blown up to full scale. Then each is smoothed by an attack/release follower. Below ``gate_db`` the input
counts as silence: no onsets, the normalised features and chroma at 0, and the adaptive ranges frozen as the
sound left them (a pause does not rescale what follows); beats stop after two seconds of it.

    >>> import numpy as np
    >>> analyzer = AudioAnalyzer(AnalysisSettings(samplerate=48_000))
    >>> frames = analyzer.process(np.zeros(4800, np.float32))        # 0.1 s of silence: 9 hops of 512
    >>> len(frames), frames[-1].onset, frames[-1].beat, float(frames[-1]["rms"])
    (9, False, False, 0.0)

Nothing here reads a clock: time is the sample count, so a file analysed offline and the same file played
through the live path give the same frames, hop for hop, whatever their block sizes.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from controllers.audio.beats import BeatClock

PITCH_CLASSES = ("c", "cs", "d", "ds", "e", "f", "fs", "g", "gs", "a", "as", "b")
DEFAULT_BANDS: tuple[tuple[str, float, float], ...] = (("bass", 20.0, 250.0), ("mid", 250.0, 2000.0),
                                                       ("high", 2000.0, 16000.0))
SILENCE_DB = -100.0         # the floor of every dB value (digital silence)
MEL_BANDS = 64
CHROMA_WINDOWS = 4          # chroma's window is this many analysis windows (≈170 ms: a semitone at 100 Hz)
ENVELOPE_FLOOR = 1.0        # dB: the smallest running peak of the onset envelope (steady sounds read ~0)
FLUX_FLOOR = 1e-3          # the same for the magnitude flux
TOP_DB = 50.0              # mel bands more than this below the frame's loudest count as that floor
MAX_BANDS = 16
MIN_SAMPLERATE, MAX_SAMPLERATE = 8_000, 192_000
# Latency from a sound to the feature that reacts to it (median, ms, 48 kHz, measured by tests/controllers/
# test_audio_analysis.py and bench/audio.py; the README's table): an onset is decided one hop after its peak;
# beats are predicted by the beat clock, so they come about on time once locked; continuous features: the time
# to half their rise after a tone starts (chroma's window is four times as long).
LATENCY_MS = {"onset": 17.0, "beat": 8.0, "rms": 5.0, "band": 5.0, "chroma": 16.0}
DEFAULT_AV_OFFSET = LATENCY_MS["onset"] / 1000.0    # a render moves the features this much earlier by default


@dataclasses.dataclass(frozen=True)
class AnalysisSettings:
    """How to analyse (the show's ``inputs: audio:`` or the command line fill it; every default is sane)."""

    samplerate: int
    bands: tuple[tuple[str, float, float], ...] = DEFAULT_BANDS   # (name, low Hz, high Hz)
    adapt: float = 10.0          # half-life (s) of the adaptive ranges
    attack: float = 0.005        # smoothing time constants (s) of the continuous features, rising ...
    release: float = 0.12        # ... and falling
    gate_db: float = -60.0       # below this loudness the input is silence
    onset_threshold: float = 0.08   # an onset stands this far (0..1 of the running peak) above the local mean
    onset_wait: float = 0.05     # seconds between onsets at least
    onset_delay: int = 1         # hops a peak must stay the highest before it counts (decision latency)

    def __post_init__(self) -> None:
        if not (isinstance(self.samplerate, int) and MIN_SAMPLERATE <= self.samplerate <= MAX_SAMPLERATE):
            raise ValueError(f"samplerate must be {MIN_SAMPLERATE}..{MAX_SAMPLERATE} Hz, got {self.samplerate!r}")
        if not 0 < len(self.bands) <= MAX_BANDS or len({b[0] for b in self.bands}) != len(self.bands):
            raise ValueError(f"expected 1..{MAX_BANDS} bands with distinct names, got {len(self.bands)}")
        for name, low, high in self.bands:
            if not (0 <= low < high and math.isfinite(high)):
                raise ValueError(f"band {name}: expected 0 <= low < high Hz, got [{low}, {high}]")
        checks = (("adapt", self.adapt, 0.1, 3600.0), ("attack", self.attack, 0.0, 10.0),
                  ("release", self.release, 0.0, 10.0), ("gate_db", self.gate_db, -100.0, 0.0),
                  ("onset_threshold", self.onset_threshold, 0.0, 1.0), ("onset_wait", self.onset_wait, 0.0, 10.0),
                  ("onset_delay", self.onset_delay, 0, 16))
        for name, value, low, high in checks:
            if not (math.isfinite(value) and low <= value <= high):
                raise ValueError(f"{name} must be {low:g}..{high:g}, got {value!r}")

    @property
    def n_fft(self) -> int:
        """The analysis window: the power of two nearest 43 ms (2048 at 44.1 and 48 kHz)."""
        return 2 ** round(math.log2(self.samplerate * 0.0427))

    @property
    def hop(self) -> int:
        return self.n_fft // 4

    @property
    def names(self) -> tuple[str, ...]:
        """The features, in the order of :attr:`FeatureFrame.values`."""
        return (*SCALAR_FEATURES, *(f"band.{b[0]}" for b in self.bands),
                *(f"chroma.{pc}" for pc in PITCH_CLASSES))


SCALAR_FEATURES = ("rms", "loudness_db", "onset_strength", "centroid", "flux", "tempo", "beat_phase")


@dataclasses.dataclass(frozen=True)
class FeatureFrame:
    """The features after one hop: ``time`` is the stream time (s) of the newest sample analysed."""

    time: float
    values: np.ndarray               # float64, in the order of AnalysisSettings.names
    names: tuple[str, ...]
    onset: bool = False              # an onset was decided at this hop
    onset_strength: float = 0.0      # its peak (0..1), for a pulse's strength
    beat: bool = False
    peak: float = 0.0                # the hop's largest absolute sample (a waveform for plots)

    def __getitem__(self, name: str) -> float:
        return float(self.values[self.names.index(name)])

    def as_dict(self) -> dict[str, float]:
        return dict(zip(self.names, (float(v) for v in self.values)))


class AdaptiveRange:
    """Vectorised adaptive min/max (see the module docstring): ``scale(x, dt)`` gives 0..1 per element."""

    def __init__(self, half_life: float, min_span: np.ndarray) -> None:
        self.half_life = half_life
        self.min_span = np.asarray(min_span, np.float64)
        self.low: np.ndarray | None = None
        self.high: np.ndarray | None = None

    def scale(self, x: np.ndarray, dt: float) -> np.ndarray:
        if self.low is None or self.high is None:
            self.low, self.high = x.copy(), x.copy()
        else:
            k = -math.expm1(-dt * math.log(2) / self.half_life)     # 1 - 0.5 ** (dt / half-life)
            self.low = np.minimum(self.low + (x - self.low) * k, x)
            self.high = np.maximum(self.high + (x - self.high) * k, x)
        middle = (self.low + self.high) / 2
        span = np.maximum(self.high - self.low, self.min_span)
        return np.clip((x - (middle - span / 2)) / span, 0.0, 1.0)


class Smoother:
    """Vectorised attack/release one-pole follower (controllers.conditioning.AttackRelease, per element)."""

    def __init__(self, attack: float, release: float, dt: float) -> None:
        self.up = 1.0 if attack == 0 else -math.expm1(-dt / attack)
        self.down = 1.0 if release == 0 else -math.expm1(-dt / release)
        self.y: np.ndarray | None = None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self.y is None:
            self.y = x.copy()
        else:
            self.y += (x - self.y) * np.where(x > self.y, self.up, self.down)
        return self.y.copy()


class AudioAnalyzer:
    """Features hop by hop from blocks of samples (mono, or [frames, channels] averaged to mono)."""

    def __init__(self, settings: AnalysisSettings) -> None:
        self.settings = s = settings
        self.names = s.names
        self.n_fft, self.hop, self.sr = s.n_fft, s.hop, s.samplerate
        self.dt = self.hop / self.sr
        self.window = np.hanning(self.n_fft + 2)[1:-1].astype(np.float64)   # periodic-ish, no zero ends
        self.freqs = np.fft.rfftfreq(self.n_fft, 1.0 / self.sr)
        self.mel = mel_filters(self.sr, self.n_fft, MEL_BANDS)
        self.chroma_fft = self.n_fft * CHROMA_WINDOWS                     # pitch needs a longer window
        self.chroma = chroma_filters(self.sr, self.chroma_fft)
        self.chroma_window = np.hanning(self.chroma_fft + 2)[1:-1]
        self.band_masks = np.stack([(self.freqs >= lo) & (self.freqs < min(hi, self.sr / 2))
                                    for _, lo, hi in s.bands]).astype(np.float64)
        self._buffer = np.zeros(self.n_fft * CHROMA_WINDOWS, np.float64)   # the newest samples (chroma's window)
        self._pending = np.zeros(0, np.float64)               # samples waiting for a full hop
        self.samples = 0                                      # samples analysed (the stream's clock)
        self._beats = BeatClock(self.sr, self.hop, self.n_fft // 2)
        self._previous_mel: np.ndarray | None = None
        self._previous_magnitude: np.ndarray | None = None
        # Onset peak picking on a short history of the envelope (normalised by a slowly falling peak).
        self._history = np.zeros(max(1, round(0.1 / self.dt)) + s.onset_delay + 1, np.float64)
        self._pre_max = max(1, round(0.03 / self.dt))
        self._peak = ENVELOPE_FLOOR
        self._peak_decay = 0.5 ** (self.dt / 30.0)            # the running maximum halves in 30 s
        self._last_onset = -math.inf
        n_bands = len(s.bands)
        # Minimum spans: 12 dB for loudness and the bands, half an octave for the centroid.
        self._range = AdaptiveRange(s.adapt, np.array([12.0, 0.5] + [12.0] * n_bands))
        self._flux_floor = np.array([ENVELOPE_FLOOR, FLUX_FLOOR])
        self._flux_peak = self._flux_floor.copy()
        self._smooth = Smoother(s.attack, s.release, self.dt)

    @property
    def bpm(self) -> float:
        """The tempo now (0 until the beat tracker has one)."""
        return self._beats.bpm

    # ------------------------------------------------------------------------------------------ blocks
    def process(self, block: np.ndarray) -> list[FeatureFrame]:
        """Analyse a block (float samples, -1..1): the frames of the hops it completed (maybe none)."""
        x = np.asarray(block, dtype=np.float64)
        if x.ndim == 2:
            x = x.mean(axis=1)
        elif x.ndim != 1:
            raise ValueError(f"expected samples [frames] or [frames, channels], got shape {list(x.shape)}")
        x = np.nan_to_num(x, nan=0.0, posinf=1.0, neginf=-1.0)     # a broken driver never poisons the state
        np.clip(x, -1.0, 1.0, out=x)
        data = np.concatenate([self._pending, x]) if self._pending.size else x
        frames = []
        start = 0
        while data.size - start >= self.hop:
            frames.append(self._hop(data[start:start + self.hop]))
            start += self.hop
        self._pending = data[start:].copy()
        return frames

    def _hop(self, samples: np.ndarray) -> FeatureFrame:
        s, hop = self.settings, self.hop
        self._buffer[:-hop] = self._buffer[hop:]
        self._buffer[-hop:] = samples
        self.samples += hop
        now = self.samples / self.sr
        spectrum = np.fft.rfft(self._buffer[-self.n_fft:] * self.window)
        magnitude = np.abs(spectrum)
        power = magnitude ** 2
        recent = self._buffer[-self.n_fft // 2:]
        loudness = max(SILENCE_DB, 10.0 * math.log10(float(np.mean(recent ** 2)) + 1e-12))
        silent = loudness < s.gate_db

        mel_db = 10.0 * np.log10(self.mel @ power + 1e-10)
        mel_db = np.maximum(mel_db, mel_db.max() - TOP_DB)    # leakage far below the loudest band is not news
        previous = self._previous_mel if self._previous_mel is not None else mel_db
        envelope = 0.0 if silent else float(np.mean(np.maximum(0.0, mel_db - previous)))
        self._previous_mel = mel_db
        flux = 0.0 if silent or self._previous_magnitude is None else \
            float(np.sqrt(np.sum(np.maximum(0.0, magnitude - self._previous_magnitude) ** 2)) / self.n_fft)
        self._previous_magnitude = magnitude
        onset, strength = self._pick_onset(envelope, now)

        total = float(power.sum())
        centroid_hz = float(self.freqs @ power / total) if total > 0 and not silent else 0.0
        centroid = math.log2(max(centroid_hz, 20.0) / 20.0)                  # octaves above 20 Hz
        bands_db = np.maximum(10.0 * np.log10(self.band_masks @ power / self.n_fft + 1e-12), s.gate_db)
        # Silence teaches the ranges nothing: they stay as the sound left them (a pause in the music, or
        # between two tracks, does not rescale what follows), and the features read their floor.
        scaled = np.zeros(2 + len(s.bands)) if silent else \
            self._range.scale(np.concatenate([[loudness, centroid], bands_db]), self.dt)
        # Both fluxes are normalised by their own running peak (a ratio: no unit to learn a range in).
        self._flux_peak = np.maximum(np.maximum(self._flux_peak * self._peak_decay, [envelope, flux]),
                                     self._flux_floor)
        fluxes = np.array([envelope, flux]) / self._flux_peak
        chroma = self.chroma @ np.abs(np.fft.rfft(self._buffer * self.chroma_window)) ** 2
        peak = float(chroma.max())
        chroma = chroma / peak if peak > 0 and not silent else np.zeros(12)

        heard = now - LATENCY_MS["onset"] / 1000.0 if onset else None     # when the onset's sound was
        beat = self._beats.step(samples, now, silent, heard)
        phase = self._beats.phase if self._beats.locked else 0.0

        smooth = self._smooth(np.concatenate([[scaled[0], fluxes[0], scaled[1], fluxes[1]], scaled[2:], chroma]))
        n = len(s.bands)
        values = np.concatenate([smooth[:1], [loudness], smooth[1:4], [self._beats.bpm, phase], smooth[4:4 + n],
                                 smooth[4 + n:]])
        return FeatureFrame(now, values, self.names, onset=onset, onset_strength=strength, beat=beat,
                            peak=float(np.abs(samples).max()))

    def _pick_onset(self, envelope: float, now: float) -> tuple[bool, float]:
        """librosa's peak picking made causal: the value ``onset_delay`` hops back is an onset if it is the
        highest of the last 30 ms and of the hops since, stands ``onset_threshold`` above the mean of the last
        100 ms, and comes ``onset_wait`` after the previous one. Normalised by a running peak, not the track's."""
        s = self.settings
        self._peak = max(self._peak * self._peak_decay, envelope, ENVELOPE_FLOOR)
        history = self._history
        history[:-1] = history[1:]
        history[-1] = envelope / self._peak
        d = s.onset_delay
        candidate = history[-1 - d]
        window = history[-1 - d - self._pre_max:]
        t = now - d * self.dt
        if candidate <= 0 or candidate < window.max() or candidate < history.mean() + s.onset_threshold:
            return False, 0.0
        if t - self._last_onset < s.onset_wait:
            return False, 0.0
        self._last_onset = t
        return True, float(min(1.0, candidate))


def hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney's mel scale (linear to 1 kHz, logarithmic above), as librosa's default."""
    f = np.asarray(f, np.float64)
    linear = f / (200.0 / 3)
    log_part = 15.0 + np.log(np.maximum(f, 1e-9) / 1000.0) / (math.log(6.4) / 27.0)
    return np.where(f >= 1000.0, log_part, linear)


def mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, np.float64)
    return np.where(m >= 15.0, 1000.0 * np.exp((m - 15.0) * math.log(6.4) / 27.0), m * 200.0 / 3)


def mel_filters(sr: int, n_fft: int, n_mels: int) -> np.ndarray:
    """[n_mels, bins] triangular filters on the Slaney mel scale, area-normalised."""
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    edges = mel_to_hz(np.linspace(hz_to_mel(np.array(0.0)), hz_to_mel(np.array(sr / 2)), n_mels + 2))
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (freqs[None] - lower) / (centre - lower)
    falling = (upper - freqs[None]) / (upper - centre)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    return weights * (2.0 / (upper - lower))


def chroma_filters(sr: int, n_fft: int, low: float = 65.4, high: float = 5000.0) -> np.ndarray:
    """[12, bins]: each bin's power to the pitch classes near it (a Gaussian over the circular distance in
    semitones, at least as wide as the bin), for bins between C2 and ``high`` Hz."""
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    weights = np.zeros((12, freqs.size))
    usable = (freqs >= low) & (freqs <= min(high, sr / 2))
    midi = 69.0 + 12.0 * np.log2(np.maximum(freqs, 1e-9) / 440.0)
    width = np.maximum(0.5, 12.0 * np.log2((freqs + sr / n_fft) / np.maximum(freqs, 1e-9)) / 2)
    for pc in range(12):
        distance = (midi - pc + 6.0) % 12.0 - 6.0
        weights[pc] = np.exp(-0.5 * (distance / width) ** 2) * usable
    return weights
