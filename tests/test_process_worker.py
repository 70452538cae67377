"""The generator in its own process: frames arrive and match the thread worker's, the newest request wins,
a killed process is restarted while the last frame stays, and stopping leaves nothing behind."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading

import numpy as np
import pytest

from engine.generate import FrameSynthesizer
from engine.latent import Keyframe, LatentWalker, WalkSettings
from engine.process_worker import ProcessWorker
from tests import conftest


@pytest.fixture(scope="module")
def walker(default_generator):
    return LatentWalker(default_generator, WalkSettings(keyframes=(Keyframe(seed=1), Keyframe(seed=2))))


def wait_for(predicate, timeout: float = 120.0):
    return conftest.wait_for(predicate, timeout, poll=0.02)


def test_frames_match_the_thread_worker_and_the_newest_request_wins(default_generator, walker):
    worker = ProcessWorker(default_generator, model="default", precision=default_generator.precision, threads=1).start()
    try:
        frame = walker.frame_at(1.25)
        worker.request(frame)
        got = wait_for(worker.frames.latest)
        expected = FrameSynthesizer(default_generator).render(frame)
        diff = np.abs(got.rgb.astype(int) - expected.astype(int))   # the same frame, up to summation order
        assert got.rgb.shape == expected.shape and diff.max() <= 3 and diff.mean() < 0.05
        last = 0
        for i in range(60):                         # far faster than the generator can follow
            last = worker.request(walker.frame_at(i * 0.05))
        wait_for(lambda: worker.frames.latest().sequence == last)
        assert worker.status.frames < 60
    finally:
        worker.stop()


def test_a_killed_process_is_restarted_and_the_last_frame_stays(default_generator, walker):
    worker = ProcessWorker(default_generator, model="default", precision=default_generator.precision, threads=1).start()
    try:
        worker.request(walker.frame_at(0.5))
        before = wait_for(worker.frames.latest)
        os.kill(wait_for(lambda: worker.pid), signal.SIGKILL)
        wait_for(lambda: worker.restarts == 1)
        assert worker.frames.latest() is before and "stopped" in (worker.status.recent_error() or "")
        sequence = worker.request(walker.frame_at(0.75))
        wait_for(lambda: worker.frames.latest().sequence == sequence)
    finally:
        worker.stop()


def test_stopping_leaves_no_process_thread_or_shared_memory(default_generator, walker):
    worker = ProcessWorker(default_generator, model="default", precision=default_generator.precision, threads=1).start()
    names = list(worker.shared_memory_names)
    worker.request(walker.frame_at(0.1))
    wait_for(worker.frames.latest)
    worker.stop()
    assert multiprocessing.active_children() == []
    assert not [t for t in threading.enumerate() if t.name == "generator-reader"]
    assert not [n for n in names if os.path.exists(f"/dev/shm/{n.lstrip('/')}")]


def test_a_hung_process_never_blocks_a_request(default_generator, walker):
    """A child stopped dead (SIGSTOP) holds nothing the display thread waits for: thousands of requests
    (far more wakes than the pipe holds) all return, and the newest is answered once it runs again."""
    worker = ProcessWorker(default_generator, model="default", precision=default_generator.precision, threads=1).start()
    try:
        worker.request(walker.frame_at(0.5))
        wait_for(worker.frames.latest)
        pid = wait_for(lambda: worker.pid)
        os.kill(pid, signal.SIGSTOP)
        sequences: list[int] = []
        poster = threading.Thread(target=lambda: sequences.extend(worker.request(walker.frame_at(i * 0.01))
                                                                  for i in range(20_000)))
        poster.start()
        poster.join(60)
        assert not poster.is_alive() and len(sequences) == 20_000
        os.kill(pid, signal.SIGCONT)
        wait_for(lambda: worker.frames.latest().sequence == sequences[-1])
        assert worker.restarts == 0
    finally:
        worker.stop()
