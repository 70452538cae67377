"""A controller's background thread and the event that ends it, written once for every controller that has one.

Capture, analysis and playback loops run on a thread of their own and poll one stop event: in their loop
conditions and in every wait, so a stop is never held up by a sleep.

    self._worker = Background("camera")
    self._worker.start(self._run)            # in start(); again while it runs: nothing happens
    while not self._worker.stopped():        # in the loop ...
        self._worker.wait(0.1)               # ... and instead of time.sleep (True once stopping)
    self._worker.stop()                      # in stop(): ask, then join (5 s at most); safe twice
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

JOIN_SECONDS = 5.0


class Background:
    """One daemon thread and its stop event (see the module docstring)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        """Whether a thread was started and not stopped since."""
        return self._thread is not None

    def start(self, target: Callable[..., Any], *args: Any) -> bool:
        """Run ``target(*args)`` on a new thread, unless one runs already; True if it started one."""
        if self._thread is not None:
            return False
        self._stop.clear()
        self._thread = threading.Thread(target=target, args=args, name=self.name, daemon=True)
        self._thread.start()
        return True

    def ask_to_stop(self) -> None:
        """Set the stop event without waiting (for an owner that has more to end before it joins)."""
        self._stop.set()

    def stop(self, timeout: float = JOIN_SECONDS) -> None:
        """Set the stop event and join the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
            self._thread = None

    def stopped(self) -> bool:
        return self._stop.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``, waking at once on a stop; True if stopping."""
        return self._stop.wait(seconds)
