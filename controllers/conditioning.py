"""Conditioning: one vocabulary that turns a sensor's raw (time, value) samples into a clean control signal.

Every sensor-like input (biofeedback over OSC now, audio features later) feeds its samples to a
:class:`Conditioner` built from the ``condition:`` mapping of a show file or a sensor preset. Per sample, in
this order, each stage off unless given:

1. ``clamp: [lo, hi]`` clamps the raw value (input units; nothing is dropped).
2. ``baseline: s``: the mean of the s seconds of samples that :meth:`Conditioner.capture_baseline` averaged
   is subtracted (during a capture, samples flow on with the old baseline).
3. A fixed ``range: [lo, hi]`` or a learned one maps to 0..1: ``learn: {adaptive: half_life}`` (a min and max
   relaxing towards the signal, so an old peak is forgotten) or ``learn: {percentiles: [5, 95], window: s}``
   (outliers ignored). A learned range still degenerate gives 0.5. It is learned in the samples' own units,
   so a baseline cancels out of it: a baseline matters with a fixed range or without one.
4. ``smoothing: {one_euro: {min_cutoff, beta, d_cutoff}}`` (Casiez, Roussel and Vogel, CHI 2012) or
   ``smoothing: {attack_release: {attack, release}}`` (time constants, s), on the samples' timestamps.
5. ``output: [lo, hi]`` clamps the result ([0, 1] by default when step 3 is on).

``gate: q`` refuses samples while the contact quality (:meth:`Conditioner.quality`) is below q. A refused
sample (gated, not finite, or overflowing the arithmetic) gives None and is counted in ``refused``. Nothing
reads a clock: time is the samples' timestamps, and time going backwards counts as no time passing.

>>> hr = Conditioner(parse_conditioning({"clamp": [0, 200], "range": [40, 160]}, "inputs.osc.map[0].condition"))
>>> [hr.process(t, bpm) for t, bpm in [(0.0, 100.0), (0.5, 250.0), (1.0, 10.0), (1.5, float("nan"))]]
[0.5, 1.0, 0.0, None]
>>> hr.refused, hr.low, hr.high
(1, 40.0, 160.0)
>>> parse_conditioning({"learn": {"x": 1}}, "inputs.osc.map[2].condition")
Traceback (most recent call last):
ValueError: inputs.osc.map[2].condition.learn: expected one of adaptive or percentiles, got ['x']
"""

from __future__ import annotations

import bisect
import collections
import dataclasses
import logging
import math
from collections.abc import Callable

log = logging.getLogger(__name__)

MAX_SAMPLES = 100_000       # samples a percentile window keeps, whatever the rate a sender sends at
MAX_WINDOW = 3600.0         # seconds a percentile window may span
LIMIT = 1e9                 # the largest magnitude any number of the vocabulary may have
_BUCKET = 512               # sorted-bucket size of a percentile window (split at twice, merged under a quarter)

Pair = tuple[float, float]
Check = Callable[[float], bool]


@dataclasses.dataclass(frozen=True)
class Conditioning:
    """A validated ``condition:`` mapping (see :func:`parse_conditioning`); every default means "stage off"."""

    clamp: Pair | None = None                       # raw input clamp, in input units
    baseline: float | None = None                   # seconds averaged by a baseline capture
    range: Pair | None = None                       # fixed input range mapped to 0..1
    adaptive: float | None = None                   # learned min/max relaxing with this half-life (s)
    percentiles: Pair | None = None                 # learned low/high percentiles (0..100) ...
    window: float = 120.0                           # ... over this many seconds
    one_euro: tuple[float, float, float] | None = None  # (min_cutoff Hz, beta, d_cutoff Hz)
    attack_release: Pair | None = None              # (attack s, release s) time constants
    output: Pair | None = None                      # output clamp; None: [0, 1] with a range, else none
    gate: float | None = None                       # minimum contact quality 0..1

    def __post_init__(self) -> None:
        for names in (("range", "adaptive", "percentiles"), ("one_euro", "attack_release")):
            if sum(getattr(self, name) is not None for name in names) > 1:
                raise ValueError(f"conditioning: expected at most one of {', '.join(names)}, got {self}")

    @property
    def output_clamp(self) -> Pair | None:
        """The output clamp in force: ``output``, else [0, 1] with a fixed or learned range, else None."""
        normalises = self.range is not None or self.adaptive is not None or self.percentiles is not None
        return self.output if self.output is not None else (0.0, 1.0) if normalises else None


def _short(value: object) -> str:
    return text if len(text := repr(value)) <= 60 else text[:57] + "..."


def _number(value: object, where: str, expected: str = "a number", ok: Check = lambda x: True) -> float:
    """A finite int or float (never a bool) of magnitude <= LIMIT for which ``ok`` holds."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{where}: expected {expected}, got {_short(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{where}: expected {expected} (finite), got {value!r}")
    if abs(value) > LIMIT:
        raise ValueError(f"{where}: expected {expected} of magnitude at most {LIMIT:g}, got {_short(value)}")
    if not ok(x := float(value)):
        raise ValueError(f"{where}: expected {expected}, got {_short(value)}")
    return x


_HERTZ: tuple[str, Check] = ("a frequency in Hz > 0", lambda x: x > 0)
_NON_NEGATIVE: tuple[str, Check] = ("a number >= 0", lambda x: x >= 0)
_DURATION: tuple[str, Check] = ("seconds >= 0", lambda x: x >= 0)


def _seconds(value: object, where: str, maximum: float = LIMIT) -> float:
    return _number(value, where, f"seconds > 0 and <= {maximum:g}", lambda x: 0 < x <= maximum)


def _pair(value: object, where: str, expected: str = "a number", ok: Check = lambda x: True) -> Pair:
    """``[low, high]`` with low < high."""
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ValueError(f"{where}: expected [low, high], got {_short(value)}")
    low, high = (_number(v, f"{where}[{i}]", expected, ok) for i, v in enumerate(value))
    if low >= high:
        raise ValueError(f"{where}: expected [low, high] with low < high, got {_short(value)}")
    return low, high


def _mapping(value: object, where: str, known: tuple[str, ...], check: bool = True) -> dict[object, object]:
    """A dict (None counts as empty) whose keys are all ``known`` (when ``check``)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"{where}: expected a mapping with keys among {', '.join(known)}, got {_short(value)}")
    unknown = [key for key in value if key not in known]
    if check and unknown:
        raise ValueError(f"{where}: unknown key {', '.join(_short(k) for k in unknown)}; known: {', '.join(known)}")
    return value


def _one_of(data: dict[object, object], where: str, forms: tuple[str, str], extra: tuple[str, ...] = ()) -> str:
    """The one form given, of two (other keys refused unless ``extra``)."""
    if len(given := [form for form in forms if form in data]) != 1:
        raise ValueError(f"{where}: expected one of {forms[0]} or {forms[1]}, got {_short(list(data))}")
    _mapping(data, where, forms + extra)
    return given[0]


def parse_conditioning(data: object, where: str) -> Conditioning:
    """Validate an untrusted ``condition:`` mapping (plain data as YAML loads it); None or {} means none.

    An error is a ValueError of one line that starts with ``where`` and names the key, what was expected and
    what was received:

    >>> parse_conditioning({"learn": {"percentiles": [5, 95], "window": 60}}, "x").percentiles
    (5.0, 95.0)
    >>> parse_conditioning({"gate": 1.5}, "sensors.hr.condition")
    Traceback (most recent call last):
    ValueError: sensors.hr.condition.gate: expected a contact quality 0..1, got 1.5
    """
    top = _mapping(data, where, ("clamp", "baseline", "range", "learn", "smoothing", "output", "gate"))
    if "range" in top and "learn" in top:
        raise ValueError(f"{where}: expected one of range or learn, got both")
    clamp, fixed, output = (_pair(top[k], f"{where}.{k}") if k in top else None for k in ("clamp", "range", "output"))
    baseline = _seconds(top["baseline"], f"{where}.baseline") if "baseline" in top else None
    gate = _number(top["gate"], f"{where}.gate", "a contact quality 0..1", lambda x: 0 <= x <= 1) \
        if "gate" in top else None
    adaptive = percentiles = one_euro = attack_release = None
    window = Conditioning.window
    if "learn" in top:
        w = f"{where}.learn"
        learn = _mapping(top["learn"], w, ("adaptive", "percentiles", "window"), check=False)
        if _one_of(learn, w, ("adaptive", "percentiles"), ("window",)) == "adaptive":
            if "window" in learn:
                raise ValueError(f"{w}.window: expected no window with adaptive (it has a half-life), got one")
            adaptive = _seconds(learn["adaptive"], f"{w}.adaptive")
        else:
            percentiles = _pair(learn["percentiles"], f"{w}.percentiles", "a percentile 0..100",
                                lambda x: 0 <= x <= 100)
            window = _seconds(learn["window"], f"{w}.window", MAX_WINDOW) if "window" in learn else window
    if "smoothing" in top:
        w = f"{where}.smoothing"
        smoothing = _mapping(top["smoothing"], w, ("one_euro", "attack_release"), check=False)
        form = _one_of(smoothing, w, ("one_euro", "attack_release"))
        keys = (("min_cutoff", 1.0, _HERTZ), ("beta", 0.0, _NON_NEGATIVE), ("d_cutoff", 1.0, _HERTZ)) \
            if form == "one_euro" else (("attack", 0.0, _DURATION), ("release", 0.0, _DURATION))
        given = _mapping(smoothing[form], f"{w}.{form}", tuple(k for k, _, _ in keys))
        numbers = tuple(_number(given.get(k, default), f"{w}.{form}.{k}", *check) for k, default, check in keys)
        if form == "one_euro":
            one_euro = (numbers[0], numbers[1], numbers[2])
        else:
            attack_release = (numbers[0], numbers[1])
    return Conditioning(clamp=clamp, baseline=baseline, range=fixed, adaptive=adaptive, percentiles=percentiles,
                        window=window, one_euro=one_euro, attack_release=attack_release, output=output, gate=gate)


class OneEuroFilter:
    """The 1€ filter (Casiez, Roussel and Vogel, CHI 2012): a one-pole low-pass whose cutoff rises with speed.

    Per sample, with Te the time since the last one, as the paper's Algorithm 1: the derivative
    (x - x̂_prev)/Te is low-passed with ``d_cutoff``; the cutoff is fc = min_cutoff + beta·|dx̂|; and
    x̂ = x̂_prev + α·(x - x̂_prev) with α = 1/(1 + τ/Te), τ = 1/(2π·fc). Te <= 0 (a repeated or earlier
    timestamp) means no time passed: the output holds.

    >>> f = OneEuroFilter(min_cutoff=1.0, beta=0.0)
    >>> f(0.0, 0.0), round(f(0.01, 1.0), 4)       # α = 1/(1 + 1/(2π·0.01)) at 1 Hz and Te = 10 ms
    (0.0, 0.0591)
    """

    def __init__(self,
                 min_cutoff: float = 1.0,   # Hz: the cutoff at rest (lower: less jitter, more lag)
                 beta: float = 0.0,         # cutoff added per unit/s of speed (higher: less lag when moving)
                 d_cutoff: float = 1.0,     # Hz: the cutoff of the derivative's own low-pass
                 ) -> None:
        self.min_cutoff = _number(min_cutoff, "OneEuroFilter.min_cutoff", *_HERTZ)
        self.beta = _number(beta, "OneEuroFilter.beta", *_NON_NEGATIVE)
        self.d_cutoff = _number(d_cutoff, "OneEuroFilter.d_cutoff", *_HERTZ)
        self.reset()

    def reset(self) -> None:
        """Forget the past: the next sample passes unchanged."""
        self._time: float | None = None
        self._x = self._dx = 0.0                    # x̂ and dx̂

    def __call__(self, time: float, value: float) -> float:
        if self._time is None:
            self._time, self._x, self._dx = time, value, 0.0
            return value
        if not (te := time - self._time) > 0:
            return self._x
        self._time = time
        # dx̂ += α_d·((x - x̂)/Te - dx̂), rearranged so that a tiny Te cannot overflow (x - x̂)/Te
        self._dx += (value - self._x - te * self._dx) / (te + 1.0 / (2 * math.pi * self.d_cutoff))
        cutoff = self.min_cutoff + self.beta * abs(self._dx)
        alpha = 1.0 / (1.0 + 1.0 / (2 * math.pi * cutoff) / te)
        self._x += alpha * (value - self._x)
        return self._x


class AttackRelease:
    """A one-pole follower with one time constant rising (``attack``) and another falling (``release``).

    After a step it has covered 63 % of the way in one time constant and 95 % in three; 0 follows at once.

    >>> env = AttackRelease(attack=0.0, release=1.0)
    >>> env(0.0, 0.0), env(0.0, 1.0), round(env(1.0, 0.0), 3)    # up at once, down to 1/e in 1 s
    (0.0, 1.0, 0.368)
    """

    def __init__(self,
                 attack: float = 0.0,       # seconds: time constant while the input is above the output
                 release: float = 0.0,      # seconds: time constant while it is below
                 ) -> None:
        self.attack = _number(attack, "AttackRelease.attack", *_DURATION)
        self.release = _number(release, "AttackRelease.release", *_DURATION)
        self.reset()

    def reset(self) -> None:
        """Forget the past: the next sample passes unchanged."""
        self._time: float | None = None
        self._y = 0.0

    def __call__(self, time: float, value: float) -> float:
        if self._time is None:
            self._time, self._y = time, value
            return value
        dt = max(0.0, time - self._time)
        self._time = max(time, self._time)
        tau = self.attack if value > self._y else self.release
        if tau == 0:
            self._y = value
        elif dt > 0:
            self._y += (value - self._y) * -math.expm1(-dt / tau)
        return self._y


class _Window:
    """The samples of the last ``seconds`` (at most MAX_SAMPLES) in arrival order, and sorted in buckets so
    that adding and dropping one costs O(log n + bucket), not O(n). The percentiles are recomputed once more
    than n/1024 samples came since (at every one while n < 1024): at most 0.1 % stale, cheap at any rate."""

    def __init__(self, seconds: float, percentiles: Pair) -> None:
        self.seconds, self.percentiles = seconds, percentiles
        self._arrivals: collections.deque[tuple[float, float]] = collections.deque()
        self._buckets: list[list[float]] = []       # each sorted; every value <= every value of the next
        self._maxes: list[float] = []               # the last value of each bucket
        self._range: Pair | None = None             # the percentiles as last computed ...
        self._changes = 0                           # ... and the samples added since

    def __len__(self) -> int:
        return len(self._arrivals)

    def add(self, time: float, value: float) -> None:
        self._arrivals.append((time, value))
        self._insert(value)
        while len(self._arrivals) > MAX_SAMPLES or self._arrivals[0][0] <= time - self.seconds:
            self._remove(self._arrivals.popleft()[1])
        self._changes += 1

    def range(self) -> Pair:
        """The (low, high) percentiles."""
        if self._range is None or self._changes > len(self._arrivals) >> 10:
            self._range = (self._percentile(self.percentiles[0]), self._percentile(self.percentiles[1]))
            self._changes = 0
        return self._range

    def _percentile(self, p: float) -> float:
        """Linearly interpolated between ranks, as numpy's default."""
        position = p / 100 * (len(self._arrivals) - 1)
        k = int(position)
        low = self._at(k)
        return low + (self._at(k + 1) - low) * (position - k) if position > k else low

    def _at(self, k: int) -> float:
        for bucket in self._buckets:
            if k < len(bucket):
                return bucket[k]
            k -= len(bucket)
        raise IndexError(f"rank outside a window of {len(self._arrivals)} samples")

    def _insert(self, value: float) -> None:
        if not self._buckets:
            self._buckets, self._maxes = [[value]], [value]
            return
        i = min(bisect.bisect_left(self._maxes, value), len(self._buckets) - 1)
        bisect.insort(self._buckets[i], value)
        self._maxes[i] = self._buckets[i][-1]
        self._split(i)

    def _remove(self, value: float) -> None:
        i = bisect.bisect_left(self._maxes, value)      # the first bucket that can hold it does hold it
        bucket = self._buckets[i]
        del bucket[bisect.bisect_left(bucket, value)]
        if not bucket:
            del self._buckets[i], self._maxes[i]
        elif len(bucket) < _BUCKET // 4 and len(self._buckets) > 1:
            j = max(0, i - 1)
            merged = self._buckets[j] + self._buckets[j + 1]
            self._buckets[j:j + 2], self._maxes[j:j + 2] = [merged], [merged[-1]]
            self._split(j)
        else:
            self._maxes[i] = bucket[-1]

    def _split(self, i: int) -> None:
        if len(bucket := self._buckets[i]) > 2 * _BUCKET:
            self._buckets[i:i + 1] = [bucket[:_BUCKET], bucket[_BUCKET:]]
            self._maxes[i:i + 1] = [bucket[_BUCKET - 1], bucket[-1]]


class Conditioner:
    """One input's conditioning state: feed it samples with :meth:`process` (see the module docstring)."""

    def __init__(self, conditioning: Conditioning) -> None:
        self.conditioning = conditioning
        self.refused = 0            # samples refused: gated, not finite, or overflowing
        self._out = conditioning.output_clamp
        self._quality = 1.0         # contact quality; good until a sensor says otherwise
        self.reset()

    def reset(self) -> None:
        """Forget learned ranges, filter state, the baseline and a capture (not ``refused`` or the quality)."""
        c = self.conditioning
        self._last: float | None = None                     # the latest timestamp (never goes backwards)
        self._baseline: float | None = None
        self._capture: Pair | None = None                   # [start, end) of a capture under way ...
        self._sum, self._count = 0.0, 0                     # ... and what it has seen
        self._lo: float | None = None                       # adaptive extremes, in clamped input units
        self._hi: float | None = None
        self._window = _Window(c.window, c.percentiles) if c.percentiles is not None else None
        self._smoother: OneEuroFilter | AttackRelease | None = (
            OneEuroFilter(*c.one_euro) if c.one_euro is not None
            else AttackRelease(*c.attack_release) if c.attack_release is not None else None)

    def quality(self, q: float) -> None:
        """Set the latest contact quality 0..1 (clamped; NaN counts as 0); below ``gate``, samples are refused."""
        self._quality = min(1.0, max(0.0, q)) if not math.isnan(q) else 0.0

    def capture_baseline(self, now: float) -> None:
        """Average the samples in [now, now + baseline s); from then on, subtract that mean."""
        if self.conditioning.baseline is None or not math.isfinite(now):
            log.warning("baseline capture at %r ignored: %s", now, "no baseline configured"
                        if self.conditioning.baseline is None else "expected a finite time")
            return
        self._capture = (now, now + self.conditioning.baseline)
        self._sum, self._count = 0.0, 0

    @property
    def baseline(self) -> float | None:
        """The mean subtracted from every sample (None until a capture has finished)."""
        return self._baseline

    @property
    def capturing(self) -> bool:
        """True from :meth:`capture_baseline` until the first sample at or after the capture's end."""
        return self._capture is not None

    @property
    def low(self) -> float | None:
        """The input value (after the baseline) that maps to 0 now; None without a range or samples yet."""
        return self._range()[0]

    @property
    def high(self) -> float | None:
        """The input value (after the baseline) that maps to 1 now; None without a range or samples yet."""
        return self._range()[1]

    @property
    def stored(self) -> int:
        """Samples held by the percentile window (0 without one); at most MAX_SAMPLES."""
        return len(self._window) if self._window is not None else 0

    def _range(self) -> tuple[float | None, float | None]:
        c, b = self.conditioning, self._baseline or 0.0
        if c.range is not None:
            return c.range
        if self._window is not None and len(self._window):
            low, high = self._window.range()
            return low - b, high - b
        if self._lo is not None and self._hi is not None:
            return self._lo - b, self._hi - b
        return None, None

    def process(self, time: float, value: float) -> float | None:
        """Condition one sample; None (counted in ``refused``) when gated, not finite, or overflowing."""
        c = self.conditioning
        if (c.gate is not None and self._quality < c.gate) or not (math.isfinite(time) and math.isfinite(value)):
            self.refused += 1
            return None
        dt = 0.0 if self._last is None else max(0.0, time - self._last)
        t = self._last = time if self._last is None else max(time, self._last)
        x = float(value) if c.clamp is None else min(max(float(value), c.clamp[0]), c.clamp[1])
        if self._capture is not None:
            self._capturing(t, x, *self._capture)
        b = self._baseline or 0.0
        if c.range is not None:
            y = (x - b - c.range[0]) / (c.range[1] - c.range[0])
        elif c.adaptive is not None:
            if self._lo is None or self._hi is None:
                self._lo = self._hi = x
            elif dt > 0:
                k = -math.expm1(-dt * math.log(2) / c.adaptive)     # 1 - 0.5 ** (dt / half-life)
                self._lo, self._hi = self._lo + (x - self._lo) * k, self._hi + (x - self._hi) * k
            self._lo, self._hi = min(self._lo, x), max(self._hi, x)
            y = _scale(x, self._lo, self._hi)
        elif self._window is not None:
            self._window.add(t, x)
            y = _scale(x, *self._window.range())
        else:
            y = x - b
        if self._smoother is not None and math.isfinite(y):
            y = self._smoother(t, y)
        if not math.isfinite(y):            # only values near the float limits get here: start the filter again
            if self._smoother is not None:
                self._smoother.reset()
            self.refused += 1
            return None
        return y if self._out is None else min(max(y, self._out[0]), self._out[1])

    def _capturing(self, t: float, x: float, start: float, end: float) -> None:
        if start <= t < end:
            self._sum, self._count = self._sum + x, self._count + 1
        elif t >= end:
            self._capture = None
            if self._count:
                self._baseline = self._sum / self._count
                log.info("baseline captured: %g from %d samples", self._baseline, self._count)
            else:
                log.warning("baseline capture [%g, %g) saw no samples; baseline unchanged", start, end)


def _scale(x: float, low: float, high: float) -> float:
    """x in [low, high] → 0..1; 0.5 while the range is degenerate (nothing learned yet)."""
    if high - low <= 1e-9 * max(1.0, abs(low), abs(high)):
        return 0.5
    return (x - low) / (high - low)
