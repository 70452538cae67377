"""The state file: where a live run is, written every few seconds so that a restart resumes it.

A gallery engine that crashes at 3 a.m. should come back at the cue that was running, not at the top of
the show. The live loop hands a small :class:`EngineState` (engine and walk time, every parameter's value,
and the cue runner's :class:`~engine.show.state.RunnerState`) to a :class:`StateWriter` every
:data:`STATE_SECONDS`; the writer thread writes it atomically (a temporary file, fsync, rename), so the
display never waits for the disk and a power cut leaves the previous state, never half of one. Under the
supervisor (:mod:`engine.supervise`) the frame loop also sends a :class:`Heartbeat` down a pipe.

On ``--resume``, :func:`read_state` reads it back as untrusted input: bounded, every field checked; a file
that does not fit is reported in one line and the show starts from the top (a bad state file never keeps an
installation from starting).

    writer = StateWriter("/var/lib/latentstage/show.json").start()
    if writer.due(now):
        writer.offer(engine.state(now), now)          # written on the writer's thread
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import os
import threading
import time
from typing import Any

from engine.show.state import RunnerState

log = logging.getLogger(__name__)

STATE_FORMAT = 1
STATE_SECONDS = 2.0
MAX_STATE_BYTES = 1 << 20
MAX_PARAMS = 10_000


@dataclasses.dataclass(frozen=True)
class EngineState:
    show: str | None                    # the show file's absolute path (None: a plain walk)
    show_sha256: str | None             # of its text when the state was written
    engine_time: float
    walk_time: float
    params: dict[str, float]
    runner: RunnerState | None
    pid: int = dataclasses.field(default_factory=os.getpid)
    written_at: float = dataclasses.field(default_factory=time.time)

    def to_json(self) -> str:
        data: dict[str, Any] = {"format": STATE_FORMAT, **dataclasses.asdict(self)}
        data["runner"] = self.runner.to_dict() if self.runner is not None else None
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> EngineState:
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("format") != STATE_FORMAT:
            raise ValueError(f"not a state file of format {STATE_FORMAT}")
        params = data.get("params")
        if not isinstance(params, dict) or len(params) > MAX_PARAMS or not all(
                isinstance(k, str) and len(k) <= 200 and _finite(v) for k, v in params.items()):
            raise ValueError("params must map names to finite numbers")
        times = [data.get("engine_time"), data.get("walk_time"), data.get("written_at")]
        if not all(_finite(t) and abs(t) < 1e12 for t in times):  # type: ignore[arg-type]
            raise ValueError("engine_time, walk_time and written_at must be finite numbers")
        show, digest, pid = data.get("show"), data.get("show_sha256"), data.get("pid")
        if not (show is None or isinstance(show, str)) or not (digest is None or isinstance(digest, str)) \
                or not isinstance(pid, int):
            raise ValueError("show, show_sha256 and pid have the wrong types")
        runner = RunnerState.from_dict(data["runner"]) if data.get("runner") is not None else None
        engine_time, walk_time, written_at = (float(t) for t in times)  # type: ignore[arg-type]
        return cls(show=show, show_sha256=digest, engine_time=engine_time, walk_time=walk_time,
                   params={k: float(v) for k, v in params.items()}, runner=runner, pid=pid, written_at=written_at)


def _finite(value: Any) -> bool:
    """A plain finite number; JSON integers can have any number of digits (math.isfinite would raise)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return abs(value) < 1e300 if isinstance(value, int) else math.isfinite(value)


def file_sha256(path: str) -> str | None:
    try:
        with open(path, "rb") as f:
            return hashlib.sha256(f.read(MAX_STATE_BYTES * 8)).hexdigest()
    except OSError:
        return None


def default_state_path(show: str | None) -> str:
    """``$XDG_STATE_HOME/latentstage/<show name>-<hash of its path>.json`` (~/.local/state by default)."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    name = os.path.splitext(os.path.basename(show))[0] if show else "walk"
    digest = hashlib.sha256(os.path.abspath(show or "walk").encode()).hexdigest()[:10]
    return os.path.join(base, "latentstage", f"{name}-{digest}.json")


def read_state(path: str, show: str | None) -> EngineState | None:
    """The state at ``path`` for this show, or None (with a one-line warning saying why) to start fresh."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_STATE_BYTES + 1)
    except FileNotFoundError:
        log.warning("%s: no state file yet; starting the show from the top", path)
        return None
    except OSError as exc:
        log.warning("%s: cannot read the state file (%s); starting from the top", path, exc.strerror or exc)
        return None
    try:
        if len(data) > MAX_STATE_BYTES:
            raise ValueError(f"larger than {MAX_STATE_BYTES} bytes")
        state = EngineState.from_json(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, KeyError, RecursionError, OverflowError, TypeError) as exc:
        log.warning("%s: not a usable state file (%s); starting from the top", path, str(exc).splitlines()[0][:120])
        return None
    if (state.show and os.path.abspath(state.show)) != (show and os.path.abspath(show)):
        log.warning("%s: the state is of %s, not of %s; starting from the top", path, state.show, show)
        return None
    if show is not None and state.show_sha256 != file_sha256(show):
        log.warning("%s: the show file changed since the state was written; resuming by cue ids", path)
    return state


class Heartbeat:
    """One byte a second down a pipe to the supervisor, from the frame loop: a loop that stops stops the beat.

    It does not depend on the disk (a full disk or an unwritable state folder must not look like a hang) and
    never blocks (a supervisor that does not read just misses beats)."""

    def __init__(self, fd: int, interval: float = 1.0) -> None:
        self.fd, self.interval = fd, interval
        self._last = -math.inf
        os.set_blocking(fd, False)

    def beat(self, now: float) -> None:
        if now - self._last < self.interval:
            return
        self._last = now
        try:
            os.write(self.fd, b".")
        except (BlockingIOError, BrokenPipeError, OSError):
            pass


class StateWriter:
    """Writes the newest offered state every ``interval`` seconds on its own thread (atomically)."""

    def __init__(self, path: str, interval: float = STATE_SECONDS) -> None:
        self.path, self.interval = path, interval
        self._pending: EngineState | None = None
        self._wake = threading.Condition()
        self._running = False
        self._thread: threading.Thread | None = None
        self._last_offer = -math.inf
        self.writes = 0
        self.errors = 0

    def start(self) -> StateWriter:
        folder = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(folder, exist_ok=True)
        self._running = True
        self._thread = threading.Thread(target=self._run, name="state-writer", daemon=True)
        self._thread.start()
        return self

    def due(self, now: float) -> bool:
        """Whether the loop should offer a state now (cheap: call every frame)."""
        return now - self._last_offer >= self.interval

    def offer(self, state: EngineState, now: float) -> None:
        self._last_offer = now
        with self._wake:
            self._pending = state
            self._wake.notify()

    def stop(self) -> None:
        """Write what is pending, then end the thread."""
        with self._wake:
            self._running = False
            self._wake.notify()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def _run(self) -> None:
        while True:
            with self._wake:
                while self._running and self._pending is None:
                    self._wake.wait()
                state, self._pending = self._pending, None
                running = self._running
            if state is not None:
                self._write(state)
            if not running:
                return

    def _write(self, state: EngineState) -> None:
        temporary = f"{self.path}.{os.getpid()}.tmp"
        try:
            with open(temporary, "w", encoding="utf-8") as f:
                f.write(state.to_json())
                f.flush()
                os.fsync(f.fileno())
            os.replace(temporary, self.path)
            self.writes += 1
        except OSError as exc:
            self.errors += 1
            if self.errors in (1, 10, 100) or self.errors % 1000 == 0:
                log.error("%s: cannot write the state file (%s); %d failures so far", self.path,
                          exc.strerror or exc, self.errors)
