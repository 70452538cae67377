"""Logs for weeks of uptime: repeated failures are rate-limited, log files rotate at a size bound."""

from __future__ import annotations

import logging

from engine.logs import Throttle, setup_logging


def test_a_failure_every_frame_is_logged_once_a_minute_with_a_count(caplog):
    now = [0.0]
    throttle = Throttle(logging.getLogger("t"), interval=60.0, clock=lambda: now[0])
    logged = 0
    for frame in range(30 * 600):                 # ten minutes of a failure in every frame at 30 fps
        now[0] = frame / 30
        logged += throttle.warning("effect", "effect failed")
    assert logged == 10
    assert "and 1799 more like it" in caplog.records[-1].getMessage()


def test_keys_are_bounded():
    throttle = Throttle(logging.getLogger("t"), max_keys=8)
    for i in range(1000):
        throttle.warning(f"key {i}", "x")
    assert len(throttle._last) == 8


def test_the_log_file_rotates_and_the_total_stays_bounded(tmp_path):
    path = tmp_path / "logs" / "show.log"
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    setup_logging(path=str(path), max_bytes=20_000, backups=3)
    try:
        log = logging.getLogger("soak")
        for i in range(5000):
            log.info("cue %d started, a line of about sixty characters in all", i)
    finally:
        for handler in list(root.handlers):       # close our file and give pytest its handlers back
            root.removeHandler(handler)
            handler.close()
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])
    files = sorted(p.name for p in path.parent.iterdir())
    assert files == ["show.log", "show.log.1", "show.log.2", "show.log.3"]
    assert sum(p.stat().st_size for p in path.parent.iterdir()) <= 4 * 20_000
    assert "cue 4999 started" in path.read_text()
