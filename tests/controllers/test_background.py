"""A controller's background thread (controllers/background.py): one thread however often it is started, a
stop that wakes its waits at once, and a stop that is safe twice."""

from __future__ import annotations

import threading
import time

from controllers.background import Background


def test_one_thread_a_stop_that_wakes_its_wait_and_a_second_stop():
    worker = Background("test-background")
    woke: list[float] = []

    def run() -> None:
        started = time.monotonic()
        while not worker.stopped():
            worker.wait(30.0)                     # a long wait: the stop must end it
        woke.append(time.monotonic() - started)

    assert worker.start(run) and worker.running
    assert not worker.start(run)                  # running: no second thread
    assert len([t for t in threading.enumerate() if t.name == "test-background"]) == 1
    worker.stop()
    assert woke and woke[0] < 5.0 and not worker.running
    worker.stop()                                 # again: nothing to do
    assert worker.start(run)                      # and it can run again
    worker.stop()
    assert len(woke) == 2
