"""MIDI beat clock: the tempo and the beat a drum machine, a DAW or a sequencer sends down a MIDI cable.

A clock master sends 24 ``clock`` messages (0xF8) per quarter note, ``start`` (0xFA) to play from the top,
``stop`` (0xFC), ``continue`` (0xFB) to play on from where it stopped, and ``songpos`` (song position
pointer, 0xF2) in MIDI beats (16th notes, six clocks each) to move while stopped. :class:`ClockTracker`
follows that stream; it is pure (no thread, no MIDI library, no clock of its own): whoever receives the
messages feeds them with their arrival times, and asks for the tempo and phases at any later time.

    >>> tracker = ClockTracker()
    >>> tracker.feed(0.0, "start")
    >>> for tick in range(49):                       # two beats at 120 BPM: a clock every 1/48 s
    ...     tracker.feed(tick / 48, "clock")
    >>> round(tracker.bpm, 6), tracker.running, tracker.beats(1.0)
    (120.0, True, 2.0)
    >>> round(tracker.beat_phase(1.0 + 1 / 96), 3)  # half a clock later: interpolated with the tempo
    0.021
    >>> tracker.sources(1.0)["midi.clock.bar"]       # beat 2 of a 4/4 bar
    0.5

From mido (the message types are these kinds; ``songpos`` carries ``pos``), in a port's callback:

    if message.type in KINDS:
        tracker.feed(time.monotonic(), message.type, getattr(message, "pos", 0))

The tempo is a least-squares slope over the last :data:`WINDOW` clock times (two beats), so a few
milliseconds of jitter per clock (USB, JACK periods, a busy sender) cost a fraction of a BPM, and a tempo
change is followed completely within two beats. A silence longer than :data:`GAP_SECONDS` restarts the
estimate (the tempo is unknown again until :data:`MIN_INTERVALS` intervals have arrived), and makes the clock
:meth:`~ClockTracker.stale`.

Transport, as the MIDI 1.0 specification has it: after ``start`` the *first* clock is beat 0; ``continue``
plays on from the current position; ``stop`` freezes the phase (clocks that keep coming while stopped, as
many masters send them, still keep the tempo current); ``songpos`` sets the position to ``value`` × 6 clocks,
where the next clock after ``continue`` lands. Clocks that come before any ``start`` or ``continue`` (a
master joined in mid-song) give a tempo but no moving phase, until the master starts or continues.
"""

from __future__ import annotations

import collections
import math

KINDS: tuple[str, ...] = ("clock", "start", "continue", "stop", "songpos")
TICKS_PER_BEAT = 24             # MIDI clocks per quarter note
TICKS_PER_MIDI_BEAT = 6         # a song position pointer counts 16th notes
WINDOW = 2 * TICKS_PER_BEAT     # clock times the tempo is fitted over
MIN_INTERVALS = 12              # intervals before a tempo is given at all (half a beat)
GAP_SECONDS = 0.5               # a longer silence restarts the tempo estimate, and makes the clock stale
MAX_SONGPOS = 2 ** 14 - 1       # the pointer is 14 bits


class ClockTracker:
    """Follows one MIDI beat clock stream (see the module docstring). Feed it from one thread at a time."""

    def __init__(self) -> None:
        self._ticks: collections.deque[float] = collections.deque(maxlen=WINDOW)   # recent clock times
        self._bpm: float | None = None
        self._seconds_per_tick: float | None = None   # what the interpolation between clocks uses
        self._last_time: float | None = None          # the latest time fed (times never go backwards)
        self._last_clock: float | None = None         # the latest clock's arrival, running or not
        self._running = False
        self._count = 0                               # the position, in clocks, the next running clock gets
        self._tick_at: float | None = None            # when the last position-advancing clock came
        self._frozen = 0.0                            # the position while stopped or waiting for a clock

    # ------------------------------------------------------------------------------------------- input
    def feed(self, time: float, kind: str, value: int = 0) -> None:
        """One message at ``time`` (seconds, any monotonic clock): ``kind`` is one of :data:`KINDS`;
        ``value`` is the song position in MIDI beats (16th notes) for ``songpos`` and ignored otherwise.
        ValueError for an unknown kind, a time that is not finite or earlier than the last one, or a
        song position outside 0..16383."""
        if kind not in KINDS:
            raise ValueError(f"MIDI clock: the kind must be one of {KINDS}, got {kind!r}")
        if isinstance(time, bool) or not isinstance(time, (int, float)) or not math.isfinite(time):
            raise ValueError(f"MIDI clock {kind}: the time must be a finite number of seconds, got {time!r}")
        if self._last_time is not None and time < self._last_time:
            raise ValueError(f"MIDI clock {kind}: times must not go backwards, got {time!r} after "
                             f"{self._last_time!r}")
        if kind == "songpos" and (isinstance(value, bool) or not isinstance(value, int)
                                  or not 0 <= value <= MAX_SONGPOS):
            raise ValueError(f"MIDI clock songpos: the position is a whole number of 16th notes "
                             f"0..{MAX_SONGPOS}, got {value!r}")
        self._last_time = time
        if kind == "clock":
            self._clock(time)
        elif kind == "start":
            self._running, self._count, self._tick_at, self._frozen = True, 0, None, 0.0
        elif kind == "continue":
            if not self._running:
                self._running, self._tick_at = True, None
        elif kind == "stop":
            if self._running:
                self._frozen = self._position(time)
                self._running = False
        else:  # songpos
            self._count, self._tick_at = value * TICKS_PER_MIDI_BEAT, None
            self._frozen = float(self._count)

    def _clock(self, time: float) -> None:
        if self._last_clock is not None and time - self._last_clock > GAP_SECONDS:
            self._ticks.clear()                 # a silence: the old tempo says nothing about the new one
        self._last_clock = time
        self._ticks.append(time)
        self._fit()
        if self._running:
            self._count += 1                    # this clock is at position count - 1
            self._tick_at = time

    def _fit(self) -> None:
        """The tempo: a least-squares line through (clock number, arrival time) over the window."""
        ticks = self._ticks
        n = len(ticks)
        if n < 2:
            self._bpm = self._seconds_per_tick = None
            return
        if n <= MIN_INTERVALS:                  # too few for a tempo; the mean interval still interpolates
            self._bpm, self._seconds_per_tick = None, (ticks[-1] - ticks[0]) / (n - 1)
            return
        origin = ticks[0]
        mean_index = (n - 1) / 2
        mean_time = sum(t - origin for t in ticks) / n
        covariance = sum((i - mean_index) * (t - origin - mean_time) for i, t in enumerate(ticks))
        variance = n * (n * n - 1) / 12         # the sum of (i - mean_index)^2 over 0..n-1
        slope = covariance / variance
        if slope > 0:
            self._seconds_per_tick = slope
            self._bpm = 60.0 / (slope * TICKS_PER_BEAT)
        else:                                   # clocks all at once (a burst from a buffer): no tempo
            self._bpm, self._seconds_per_tick = None, None

    # ------------------------------------------------------------------------------------------ output
    @property
    def bpm(self) -> float | None:
        """Quarter notes per minute, or None until :data:`MIN_INTERVALS` intervals in a row have come."""
        return self._bpm

    @property
    def running(self) -> bool:
        """Between ``start`` / ``continue`` and ``stop``."""
        return self._running

    def beats(self, now: float) -> float:
        """Quarter notes since the song's start (``start`` or song position 0), continuous: between clocks
        it moves on at the tempo, but never past where the next clock will put it.

        >>> tracker = ClockTracker()
        >>> tracker.feed(0.0, "songpos", 8); tracker.beats(5.0)    # eight 16th notes: two beats in
        2.0
        """
        return self._position(_finite(now, "now")) / TICKS_PER_BEAT

    def beat_phase(self, now: float) -> float:
        """Where ``now`` is within the current quarter note, 0..1 (0 on the beat)."""
        return _wrap(self._position(_finite(now, "now")), TICKS_PER_BEAT)

    def bar_phase(self, now: float, beats_per_bar: int = 4) -> float:
        """Where ``now`` is within the current bar of ``beats_per_bar`` quarter notes, 0..1 (bars counted from
        the song's start)."""
        if isinstance(beats_per_bar, bool) or not isinstance(beats_per_bar, int) or beats_per_bar < 1:
            raise ValueError(f"MIDI clock: beats_per_bar must be a whole number >= 1, got {beats_per_bar!r}")
        return _wrap(self._position(_finite(now, "now")), TICKS_PER_BEAT * beats_per_bar)

    def stale(self, now: float) -> bool:
        """No clock for more than :data:`GAP_SECONDS` (or none yet): the master is gone or paused its clock."""
        return self._last_clock is None or _finite(now, "now") - self._last_clock > GAP_SECONDS

    def sources(self, now: float, beats_per_bar: int = 4) -> dict[str, float]:
        """What this clock measures, as sources (DESIGN.md §3); ``midi.clock.bpm`` only once it is known.

        >>> ClockTracker().sources(0.0)
        {'midi.clock.beat': 0.0, 'midi.clock.bar': 0.0, 'midi.clock.running': 0.0}
        """
        values: dict[str, float] = {}
        if self._bpm is not None:
            values["midi.clock.bpm"] = self._bpm
        values["midi.clock.beat"] = self.beat_phase(now)
        values["midi.clock.bar"] = self.bar_phase(now, beats_per_bar)
        values["midi.clock.running"] = 1.0 if self._running else 0.0
        return values

    def _position(self, now: float) -> float:
        """The song position in clocks at ``now``: the last running clock's, plus the time since it at the
        tempo, capped at the next clock's (so it never runs ahead, and never goes back when that clock comes)."""
        if not self._running or self._tick_at is None:
            return self._frozen
        base = float(self._count - 1)
        if self._seconds_per_tick is None:
            return base
        fraction = (now - self._tick_at) / self._seconds_per_tick
        return base + min(1.0, max(0.0, fraction))


def _wrap(position: float, period: int) -> float:
    phase = (position % period) / period
    return 0.0 if phase >= 1.0 else phase         # float rounding of a position just below a multiple


def _finite(now: float, name: str) -> float:
    if isinstance(now, bool) or not isinstance(now, (int, float)) or not math.isfinite(now):
        raise ValueError(f"MIDI clock: {name} must be a finite number of seconds, got {now!r}")
    return float(now)
