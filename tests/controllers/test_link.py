"""Ableton Link in, with the real Link library (aalink): tempo, beat and bar phase, peers, stopping.

These join the Link session of whatever network the machine is on: they expect no other Link peers there
(CI has none; on a studio network, close Live first)."""

from __future__ import annotations

import asyncio
import threading
import time

import aalink
import pytest

from controllers.link import LinkInput, phase
from engine.clock import WallClock
from engine.inputs import InputEvent
from tests.conftest import wait_for


class Collect:
    """A post function that keeps what it was given (from the Link thread)."""

    def __init__(self) -> None:
        self.events: list[InputEvent] = []
        self.lock = threading.Lock()

    def __call__(self, event: InputEvent) -> None:
        with self.lock:
            self.events.append(event)

    def of(self, key: str) -> list[InputEvent]:
        with self.lock:
            return [e for e in self.events if e.key == key]


def advance(events: list[InputEvent]) -> float:
    """How far a 0..1 phase moved over these events, counting its wraps (each step is under half a span)."""
    total = 0.0
    for before, after in zip(events, events[1:]):
        assert isinstance(before.value, float) and isinstance(after.value, float)
        total += (after.value - before.value) % 1.0
    return total


def wraps(events: list[InputEvent]) -> list[int]:
    """Indices of the events at which the phase wrapped past 1."""
    return [i for i in range(1, len(events)) if events[i].value < events[i - 1].value]  # type: ignore[operator]


@pytest.fixture
def started():
    """Start LinkInputs with a collecting post and a wall clock; stops them all afterwards."""
    inputs: list[LinkInput] = []

    def start(**options) -> tuple[LinkInput, Collect]:
        link, post = LinkInput(**options), Collect()
        inputs.append(link)
        link.start(post, WallClock())
        return link, post
    yield start
    for link in inputs:
        link.stop()


def test_it_proposes_its_tempo_and_the_beat_advances_at_bpm_over_60(started):
    link, post = started(bpm=120.0)
    assert link.running, link.status()
    wait_for(lambda: len(post.of("link.beat")) > 70, timeout=10, what="1.2 s of beats")
    peers = post.of("link.peers")
    assert [e.value for e in peers] == [0.0], f"other Link peers on this network ({link.status()}): " \
        "these tests expect none (another run of them at the same time counts)"
    (bpm,) = post.of("link.bpm")                   # posted once: it did not change
    assert bpm.value == 120.0 and bpm.kind == "source" and bpm.source == "link"
    assert link.status() == "link: 120.0 bpm, 0 peers"
    beats = post.of("link.beat")
    assert all(0.0 <= e.value < 1.0 for e in beats)    # type: ignore[operator]
    seconds = beats[-1].time - beats[0].time
    assert seconds > 1.0
    rate = advance(beats) / seconds
    assert rate == pytest.approx(2.0, rel=0.10), f"{rate:.3f} beats/s at 120 BPM"
    assert len(wraps(beats)) in (int(2 * seconds), int(2 * seconds) + 1)
    polls = len(beats) / seconds
    assert 30 < polls < 70, f"{polls:.1f} polls a second (60 asked for)"


def test_the_bar_wraps_every_quantum_beats(started):
    link, post = started(bpm=180.0, quantum=3)     # a beat is 1/3 s, a bar 1 s
    wait_for(lambda: len(wraps(post.of("link.bar"))) >= 3, timeout=15, what="three bar wraps")
    with post.lock:                                # beat and bar of the same polls, in order
        polls = [e for e in post.events if e.key in ("link.beat", "link.bar")]
    beats, bars = polls[0::2], polls[1::2]
    assert [e.key for e in beats] == ["link.beat"] * len(beats) and len(bars) == len(beats)
    for beat, bar in zip(beats, bars):             # the bar phase is the beat phase, three times slower
        assert beat.time == bar.time
        difference = abs((bar.value * 3) % 1.0 - beat.value)      # type: ignore[operator]
        assert min(difference, 1.0 - difference) < 1e-6
    bar_wraps, beat_wraps = wraps(bars), wraps(beats)
    assert set(bar_wraps) <= set(beat_wraps)       # a bar starts on a beat
    for first, second in zip(bar_wraps, bar_wraps[1:]):
        assert sum(first < w <= second for w in beat_wraps) == 3
    assert advance(beats) / advance(bars) == pytest.approx(3.0, rel=0.02)
    assert advance(bars) / (bars[-1].time - bars[0].time) == pytest.approx(1.0, rel=0.10)


def test_stop_leaves_the_session_and_ends_the_thread(started):
    link, post = started(rate=100.0)
    wait_for(lambda: len(post.of("link.beat")) > 10, timeout=10, what="beats")
    assert any(t.name == "link-in" for t in threading.enumerate())
    link.stop()
    link.stop()                                    # twice is fine
    assert not any(t.name == "link-in" for t in threading.enumerate())
    assert not link.running
    count = len(post.events)
    time.sleep(0.1)
    assert len(post.events) == count               # nothing posted after stop()
    assert link.status() == "link: 120.0 bpm, 0 peers (stopped)"
    link.start(post, WallClock())                  # and it starts again
    wait_for(lambda: len(post.events) > count + 10, timeout=10, what="beats after a restart")
    link.stop()


def test_bad_options_say_what_was_expected():
    with pytest.raises(ValueError, match=r"bpm must be a number 20\.\.999, got 5"):
        LinkInput(bpm=5)
    with pytest.raises(ValueError, match="quantum must be a whole number of beats 1..64, got 2.5"):
        LinkInput(quantum=2.5)                     # type: ignore[arg-type]
    with pytest.raises(ValueError, match="rate"):
        LinkInput(rate=0)
    assert LinkInput().status() == "link: not running"


def test_a_failure_in_the_thread_is_reported_and_the_thread_goes_on(started):
    calls = {"n": 0}
    failing = Collect()

    def post(event: InputEvent) -> None:
        calls["n"] += 1
        if calls["n"] % 7 == 0:
            raise RuntimeError("queue on fire")
        failing(event)

    link = LinkInput(rate=100.0)
    try:
        link.start(post, WallClock())
        wait_for(lambda: link.problems >= 3 and len(failing.of("link.beat")) > 20, timeout=10,
                 what="failures and beats after them")
        assert link.running
        assert "RuntimeError: queue on fire" in link.status()
    finally:
        link.stop()


def test_the_phase_of_a_beat():
    assert phase(7.25, 1.0) == 0.25 and phase(7.25, 4.0) == pytest.approx(0.8125)
    assert phase(-1e-17, 1.0) == 0.0               # never 1.0


def test_a_peer_changing_the_tempo_is_followed(started):
    link, post = started(bpm=120.0)
    assert link.running, link.status()

    async def as_a_peer() -> None:
        peer = aalink.Link(120.0)                  # a second peer, on this thread's own loop
        peer.enabled = True
        try:
            end = time.monotonic() + 20
            while link.peers != 1:                 # Link finds peers by multicast on the local network
                assert time.monotonic() < end, f"the two Link peers never met: {link.status()}"
                await asyncio.sleep(0.05)
            peer.tempo = 150.0
            end = time.monotonic() + 10
            while not (link.tempo and abs(link.tempo - 150.0) < 0.01):
                assert time.monotonic() < end, f"the peer's tempo was not followed: {link.status()}"
                await asyncio.sleep(0.05)
        finally:
            peer.enabled = False
            del peer

    asyncio.run(as_a_peer())
    bpms = [e.value for e in post.of("link.bpm")]
    assert bpms[0] == 120.0 and bpms[-1] == pytest.approx(150.0, abs=0.01)
    peers = [e.value for e in post.of("link.peers")]
    assert peers[:2] == [0.0, 1.0]
    beats = post.of("link.beat")
    wait_for(lambda: len(post.of("link.beat")) > len(beats) + 40, timeout=10, what="beats at the new tempo")
    recent = [e for e in post.of("link.beat") if e.time > beats[-1].time]
    rate = advance(recent) / (recent[-1].time - recent[0].time)
    assert rate == pytest.approx(2.5, rel=0.10), f"{rate:.3f} beats/s at 150 BPM"
    wait_for(lambda: link.peers == 0, timeout=15, what="the peer to leave")
    assert link.status() == "link: 150.0 bpm, 0 peers"
