"""The generator worker: newest request wins, frames carry their stamps, errors never escape, clean stop."""

from __future__ import annotations

import functools
import threading
import time

import numpy as np
import pytest

from engine.generate import FrameSynthesizer
from engine.latent import Keyframe, LatentWalker, WalkSettings
from engine.worker import FrameQueue, GeneratedFrame, GeneratorWorker
from tests import conftest


@pytest.fixture(scope="module")
def walker(default_generator):
    return LatentWalker(default_generator, WalkSettings(keyframes=(Keyframe(seed=1), Keyframe(seed=2))))


class SlowSynthesizer(FrameSynthesizer):
    """The real synthesizer, held back by a gate so a test can pile up requests while one is in progress."""

    def __init__(self, G, fail_at: set[float] | None = None) -> None:
        super().__init__(G)
        self.gate = threading.Event()
        self.fail_at = fail_at or set()
        self.rendered: list[float] = []

    def render(self, frame):
        self.gate.wait(10)
        if frame.t in self.fail_at:
            raise RuntimeError(f"simulated failure at t={frame.t}")
        self.rendered.append(frame.t)
        return super().render(frame)


wait_for = functools.partial(conftest.wait_for, timeout=20.0)


def test_newest_request_wins(default_generator, walker):
    synth = SlowSynthesizer(default_generator)
    worker = GeneratorWorker(synth).start()
    try:
        worker.request(walker.frame_at(0.0))
        wait_for(lambda: worker._pending is None)  # the first request is in progress, held at the gate
        for i in range(1, 10):
            worker.request(walker.frame_at(i / 10))
        synth.gate.set()
        wait_for(lambda: worker.status.frames == 2)
        time.sleep(0.1)
        assert synth.rendered == [0.0, 0.9]           # the eight in between were superseded
        assert worker.status.superseded == 8
        latest = worker.frames.latest()
        assert latest is not None and latest.stamp == 0.9 and latest.sequence == 10
        assert np.array_equal(latest.rgb, FrameSynthesizer(default_generator).render(walker.frame_at(0.9)))
    finally:
        worker.stop()
    assert not worker.alive


def test_errors_are_reported_and_the_worker_recovers(default_generator, walker):
    synth = SlowSynthesizer(default_generator, fail_at={0.5})
    synth.gate.set()
    worker = GeneratorWorker(synth).start()
    try:
        worker.request(walker.frame_at(0.25))
        wait_for(lambda: worker.status.frames == 1)
        worker.request(walker.frame_at(0.5))
        wait_for(lambda: worker.status.errors == 1)
        assert "simulated failure" in worker.status.last_error
        assert worker.frames.latest().stamp == 0.25     # the last good frame stays
        worker.request(walker.frame_at(0.75))
        wait_for(lambda: worker.status.frames == 2)
        assert worker.frames.latest().stamp == 0.75 and worker.alive
    finally:
        worker.stop()


def test_frame_queue_drops_the_oldest():
    queue = FrameQueue(2)
    frames = [GeneratedFrame(rgb=np.zeros((1, 1, 3), np.uint8), stamp=i, sequence=i, latency=0.0) for i in range(5)]
    for f in frames:
        queue.put(f)
    assert [f.stamp for f in queue.snapshot()] == [3, 4] and queue.dropped == 3
    assert queue.latest().stamp == 4


def test_stop_leaves_no_thread_behind(default_generator):
    before = {t.name for t in threading.enumerate()}
    worker = GeneratorWorker(FrameSynthesizer(default_generator)).start()
    assert "generator-worker" in {t.name for t in threading.enumerate()}
    worker.stop()
    assert {t.name for t in threading.enumerate()} == before
    with pytest.raises(RuntimeError, match="already running"):
        w = GeneratorWorker(FrameSynthesizer(default_generator)).start()
        try:
            w.start()
        finally:
            w.stop()
