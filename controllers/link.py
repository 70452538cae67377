"""Ableton Link in: the tempo and beat of a Link session (Live, Bitwig, Traktor, phone apps, other engines).

Link peers on the local network share one tempo and one beat timeline, with no master. :class:`LinkInput`
joins the session through aalink (a wrapper of Ableton's own Link library) and posts what it measures as
sources (DESIGN.md §3), about :attr:`~LinkInput.rate` times a second:

==============  ==================================================================  ==================
source          value                                                               posted
==============  ==================================================================  ==================
``link.bpm``    the session's tempo, quarter notes per minute                        when it changes
``link.beat``   where now is within the beat, 0..1 (0 on the beat)                  every poll
``link.bar``    where now is within a bar of ``quantum`` beats, 0..1 (the session's  every poll
                bar: peers with the same quantum agree on where it starts)
``link.peers``  how many other peers are in the session                             when it changes
==============  ==================================================================  ==================

If no session is there, this engine starts one at ``bpm``; when one is, it joins at the session's tempo.
It never changes the session's tempo itself. Its thread runs its own asyncio loop (aalink wants one), polls
Link, and never raises: a failure is logged at a bounded rate and shown on the HUD (:meth:`LinkInput.status`),
and the thread goes on (or, if Link cannot be joined at all, ends and says why).

    link = LinkInput(bpm=120.0, quantum=4)
    link.start(engine.post, engine.clock)       # the engine does this for the controllers it was given
    print(link.status())                        # link: 120.0 bpm, 0 peers
    link.stop()
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from typing import Any

from engine.clock import Clock
from engine.inputs import InputEvent
from engine.logs import Throttle

from controllers.base import Controller, Post

log = logging.getLogger(__name__)
_throttle = Throttle(log, interval=10.0)

MIN_BPM, MAX_BPM = 20.0, 999.0         # what Link itself accepts
MAX_RATE = 1000.0
READY_SECONDS = 5.0                    # how long start() waits for the session to be joined
JOIN_SECONDS = 5.0                     # how long stop() waits for the thread


class LinkInput(Controller):
    """Joins an Ableton Link session and posts its tempo, beat and bar phase and peer count (module docstring)."""

    name = "link"

    def __init__(self,
                 bpm: float = 120.0,          # the tempo proposed if this engine starts the session
                 quantum: int = 4,            # beats per bar, for link.bar (and Link's phase alignment)
                 rate: float = 60.0,          # polls per second
                 ) -> None:
        if isinstance(bpm, bool) or not isinstance(bpm, (int, float)) or not MIN_BPM <= bpm <= MAX_BPM:
            raise ValueError(f"link: bpm must be a number {MIN_BPM:g}..{MAX_BPM:g}, got {bpm!r}")
        if isinstance(quantum, bool) or not isinstance(quantum, int) or not 1 <= quantum <= 64:
            raise ValueError(f"link: quantum must be a whole number of beats 1..64, got {quantum!r}")
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 < rate <= MAX_RATE:
            raise ValueError(f"link: rate must be a number of polls per second in (0, {MAX_RATE:g}], got {rate!r}")
        self.bpm, self.quantum, self.rate = float(bpm), quantum, float(rate)
        self.tempo: float | None = None      # the session's, as last seen
        self.peers: int | None = None
        self.polls = 0
        self.problems = 0
        self.last_problem = ""
        self._post: Post | None = None
        self._clock: Clock | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._ready = threading.Event()

    def start(self, post: Post, clock: Clock) -> None:
        """Join (or start) the session on a thread of its own; returns once it is joined, or has failed (see
        :meth:`status`), or after a few seconds."""
        if self._thread is not None and self._thread.is_alive():
            log.warning("link: start() while already running; ignored")
            return
        self._post, self._clock = post, clock
        self._stopping.clear()
        self._ready.clear()
        self.tempo = self.peers = None
        self._thread = threading.Thread(target=self._run, name="link-in", daemon=True)
        self._thread.start()
        if not self._ready.wait(READY_SECONDS):
            self._problem("slow", f"the Link session was not joined within {READY_SECONDS:g} s")

    def stop(self) -> None:
        """Leave the session and end the thread (safe to call twice, and before start)."""
        self._stopping.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(JOIN_SECONDS)
            if thread.is_alive():
                log.warning("link: its thread did not end within %g s", JOIN_SECONDS)
        self._post = None

    def status(self) -> str:
        """``link: 120.0 bpm, 0 peers`` while in a session; the last problem when there is one."""
        running = self._thread is not None and self._thread.is_alive()
        if self.tempo is None or self.peers is None:
            line = "link: " + ("joining" if running else "not running")
        else:
            line = f"link: {self.tempo:.1f} bpm, {self.peers} peer{'' if self.peers == 1 else 's'}"
            if not running:
                line += " (stopped)"
        if self.last_problem:
            line += f"; last problem: {self.last_problem[:80]}"
        return line

    @property
    def running(self) -> bool:
        """Whether the thread is in a session and polling."""
        return self._thread is not None and self._thread.is_alive() and self._ready.is_set() \
            and self.tempo is not None

    # ---------------------------------------------------------------------------------- the Link thread
    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except Exception as exc:               # the loop itself failed: say so and end
            self._problem("loop", f"the Link thread ended: {type(exc).__name__}: {exc}", exc_info=True)
        finally:
            self._ready.set()

    async def _serve(self) -> None:
        try:
            import aalink
            link: Any = aalink.Link(self.bpm)  # in a running loop: aalink takes it (its loop argument is deprecated)
            link.quantum = self.quantum
            link.enabled = True
        except Exception as exc:               # ImportError, and whatever the Link library raises
            self._problem("join", f"could not join a Link session: {type(exc).__name__}: {exc}", exc_info=True)
            return
        try:
            self._poll(link)                   # the first values before start() returns
        except Exception as exc:
            self._problem("poll", f"{type(exc).__name__}: {exc}", exc_info=True)
        self._ready.set()
        period = 1.0 / self.rate
        deadline = time.monotonic()
        try:
            while not self._stopping.is_set():
                deadline += period
                delay = deadline - time.monotonic()
                if delay < -period:            # fell behind (a loaded machine): poll now, do not catch up
                    deadline, delay = time.monotonic(), 0.0
                await asyncio.sleep(max(0.0, delay))
                if self._stopping.is_set():
                    break
                try:
                    self._poll(link)
                except Exception as exc:       # a bad value, a full queue, a Link error: next poll goes on
                    self._problem("poll", f"{type(exc).__name__}: {exc}", exc_info=True)
        finally:
            try:
                link.enabled = False
            except Exception as exc:
                self._problem("leave", f"leaving the Link session failed: {type(exc).__name__}: {exc}")
            del link                           # its scheduler thread ends here, with this loop still open

    def _poll(self, link: Any) -> None:
        post, clock = self._post, self._clock
        if post is None or clock is None:
            return
        tempo, peers, beat = float(link.tempo), int(link.num_peers), float(link.beat)   # one moment each
        if not (math.isfinite(tempo) and math.isfinite(beat)):
            raise ValueError(f"Link reported tempo {tempo!r}, beat {beat!r}; expected finite numbers")
        now = clock.now()
        if tempo != self.tempo:
            post(InputEvent(now, self.name, "source", "link.bpm", tempo))
            self.tempo = tempo
        if peers != self.peers:
            post(InputEvent(now, self.name, "source", "link.peers", float(peers)))
            if self.peers is not None:
                log.info("link: %d peer%s", peers, "" if peers == 1 else "s")
            self.peers = peers
        post(InputEvent(now, self.name, "source", "link.beat", phase(beat, 1.0)))
        post(InputEvent(now, self.name, "source", "link.bar", phase(beat, float(self.quantum))))
        self.polls += 1

    def _problem(self, key: str, text: str, exc_info: bool = False) -> None:
        self.problems += 1
        self.last_problem = text
        _throttle.error("link:" + key, "link: %s", text, exc_info=exc_info)


def phase(beat: float, length: float) -> float:
    """Where ``beat`` is within a span of ``length`` beats counted from beat 0, 0..1 (also for the negative
    beats a new Link timeline can start with).

    >>> phase(5.5, 1.0), phase(5.5, 4.0), phase(-0.25, 4.0)
    (0.5, 0.375, 0.9375)
    """
    value = (beat % length) / length
    return 0.0 if value >= 1.0 else value     # -1e-17 % 1.0 is 1.0 in floating point
