"""The frame producers' transport (engine/shared_process.py) with small jobs of its own: results come back
through shared memory, the newest request wins, a request the job fails on is reported and the next one
served, a job that cannot be made is reported once and not retried, and sizes are checked on both sides."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
import pytest

from engine.shared_process import SharedProcess, Skipped
from tests.conftest import wait_for


class Negate:
    """A job: bytes in, their complement out as a [1, n] image; b"boom" fails, b"big" answers too much."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.info = ("negate", delay)

    def __call__(self, payload: bytes) -> tuple[np.ndarray, tuple[Any, ...]]:
        time.sleep(self.delay)
        if payload == b"boom":
            raise Skipped("boom refused")
        if payload == b"big":
            return np.zeros(1000, np.uint8), ()
        return 255 - np.frombuffer(payload, np.uint8).reshape(1, -1), (len(payload),)


def cannot_be_made() -> Negate:
    raise FileNotFoundError("model.pth: no such file")


class Recorder:
    def __init__(self) -> None:
        self.ready: list[tuple[Any, ...]] = []
        self.results: list[tuple[np.ndarray, int, int, tuple[Any, ...]]] = []
        self.problems: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def on_ready(self, info: tuple[Any, ...]) -> None:
        self.ready.append(info)

    def on_result(self, array: np.ndarray, sequence: int, tag: int, meta: tuple[Any, ...], seconds: float) -> None:
        with self.lock:
            self.results.append((array, sequence, tag, meta))

    def on_problem(self, text: str, kind: str) -> None:
        self.problems.append((text, kind))


def start(factory: Any, args: tuple[Any, ...], recorder: Recorder, retry: bool = True) -> SharedProcess:
    return SharedProcess(factory, args, request_bytes=64, result_bytes=64, name="test-job",
                         on_ready=recorder.on_ready, on_result=recorder.on_result, on_problem=recorder.on_problem,
                         retry_failed_start=retry).start()


def test_results_come_back_and_the_newest_request_wins():
    recorder = Recorder()
    process = start(Negate, (0.05,), recorder)
    try:
        wait_for(lambda: recorder.ready, 60, "the job made")
        assert recorder.ready == [("negate", 0.05)]
        process.submit(bytes([1, 2, 3]), tag=11)
        wait_for(lambda: recorder.results, 10, "a result")
        array, sequence, tag, meta = recorder.results[0]
        assert array.tolist() == [[254, 253, 252]] and tag == 11 and meta == (3,) and sequence == 1
        last = 0
        for i in range(100):                                   # far faster than it answers: most replaced
            last = process.submit(bytes([i]), tag=i)
        wait_for(lambda: recorder.results[-1][1] == last, 10, "the newest answered")
        assert recorder.results[-1][0].tolist() == [[255 - 99]]
        assert len(recorder.results) < 20
    finally:
        process.stop()


def test_a_failed_request_is_reported_and_the_next_one_served():
    recorder = Recorder()
    process = start(Negate, (0.0,), recorder)
    try:
        wait_for(lambda: recorder.ready, 60, "the job made")
        process.submit(b"boom")
        wait_for(lambda: recorder.problems, 10, "the report")
        process.submit(b"big")                                 # 1000 bytes for a 64-byte slot
        wait_for(lambda: len(recorder.problems) >= 2, 10, "the second report")
        assert recorder.problems[0] == ("boom refused", "error")
        assert "1000 bytes" in recorder.problems[1][0]
        process.submit(bytes([5]))
        wait_for(lambda: recorder.results, 10, "served again")
        assert process.restarts == 0
        with pytest.raises(ValueError, match="65 bytes, the slot holds 64"):
            process.submit(bytes(65))
    finally:
        process.stop()


def test_a_job_that_cannot_be_made_is_reported_once_and_not_retried():
    recorder = Recorder()
    process = start(cannot_be_made, (), recorder, retry=False)
    try:
        wait_for(lambda: process.failed, 60, "the failure")
        assert recorder.problems == [("model.pth: no such file", "fatal")]
        time.sleep(1.0)
        assert process.restarts == 0 and process.pid is None and not recorder.ready
        process.submit(b"x")                                   # harmless: nobody will answer it
    finally:
        process.stop()


def test_stopping_leaves_nothing_even_unstarted_or_mid_restart(monkeypatch):
    """stop() unlinks the shared memory whether the child ever ran or not, and a stop that lands while the
    reader waits to restart a dead child ends the wait: no child is started after it."""
    import multiprocessing
    import os
    import signal

    import engine.shared_process as shared_process
    recorder = Recorder()
    never = SharedProcess(Negate, (0.0,), 64, 64, "test-job", recorder.on_ready, recorder.on_result,
                          recorder.on_problem)
    names = never.names
    never.stop()
    assert not [n for n in names if os.path.exists(f"/dev/shm/{n.lstrip('/')}")]
    never.submit(b"x")                                         # after stop: nothing, and no error
    with pytest.raises(RuntimeError, match="stopped"):
        never.start()
    monkeypatch.setattr(shared_process, "RESTART_PAUSES", (30.0,))
    process = start(Negate, (0.0,), recorder)
    wait_for(lambda: recorder.ready, 60, "the job made")
    os.kill(process.pid, signal.SIGKILL)
    wait_for(lambda: any(kind == "died" for _, kind in recorder.problems), 10, "the death reported")
    names = process.names
    started = time.monotonic()
    process.stop()                                             # the reader is in its 30 s pause
    assert time.monotonic() - started < 5
    assert multiprocessing.active_children() == [] and process.restarts == 0
    assert not [n for n in names if os.path.exists(f"/dev/shm/{n.lstrip('/')}")]
