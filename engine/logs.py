"""Logging for weeks of uptime: rotating log files with a size bound, and repeated failures rate-limited.

A failure that happens every frame (a broken effect, a generator that overflows, a sender that floods the
engine with bad packets) must not write thirty tracebacks a second for a month. :class:`Throttle` logs a
problem the first time it happens, then at most once per interval with the number of repeats in between;
:func:`setup_logging` sends everything to stderr and, with a path, to a file that rotates at a size bound
(the total on disk stays below ``max_bytes * (backups + 1)``).

    >>> throttle = Throttle(logging.getLogger("demo"), interval=60.0)
    >>> throttle.warning("compositor", "effect %s failed", "feedback")   # logged
    True
    >>> throttle.warning("compositor", "effect %s failed", "feedback")   # counted, logged a minute later
    False
"""

from __future__ import annotations

import collections
import logging
import logging.handlers
import os
import sys
import time
from collections.abc import Callable

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
DEFAULT_LOG_BYTES = 10 * 2 ** 20
DEFAULT_LOG_BACKUPS = 5


class Throttle:
    """At most one log record per key and interval; the record after a quiet spell says how many it skipped."""

    def __init__(self, logger: logging.Logger, interval: float = 60.0, max_keys: int = 256,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logger, self.interval, self.max_keys, self.clock = logger, interval, max_keys, clock
        self._last: collections.OrderedDict[str, tuple[float, int]] = collections.OrderedDict()

    def log(self, key: str, level: int, message: str, *args: object, exc_info: bool = False) -> bool:
        """Log unless ``key`` was logged less than ``interval`` ago; returns whether it was logged."""
        now = self.clock()
        last = self._last.get(key)
        if last is not None and now - last[0] < self.interval:
            self._last[key] = (last[0], last[1] + 1)
            return False
        skipped = last[1] if last is not None else 0
        suffix = f" (and {skipped} more like it in the last {now - last[0]:.0f} s)" if last and skipped else ""
        self.logger.log(level, message + suffix, *args, exc_info=exc_info)
        self._last[key] = (now, 0)
        self._last.move_to_end(key)
        while len(self._last) > self.max_keys:
            self._last.popitem(last=False)
        return True

    def warning(self, key: str, message: str, *args: object) -> bool:
        return self.log(key, logging.WARNING, message, *args)

    def error(self, key: str, message: str, *args: object, exc_info: bool = False) -> bool:
        return self.log(key, logging.ERROR, message, *args, exc_info=exc_info)


def setup_logging(verbose: bool = False, path: str | None = None, max_bytes: int = DEFAULT_LOG_BYTES,
                  backups: int = DEFAULT_LOG_BACKUPS) -> None:
    """Log to stderr and, with ``path``, to a rotating file (created with its folder if need be)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    root.setLevel(logging.INFO if verbose else logging.WARNING)
    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root.addHandler(console)
    if path is not None:
        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        rotating = logging.handlers.RotatingFileHandler(path, maxBytes=max_bytes, backupCount=backups,
                                                        encoding="utf-8")
        rotating.setFormatter(logging.Formatter(LOG_FORMAT))
        root.addHandler(rotating)
        root.setLevel(logging.INFO)       # the file keeps the operator's record: cues, reloads, restarts
        console.setLevel(logging.INFO if verbose else logging.WARNING)
