"""The supervisor: keeps a live show running for weeks with nobody watching.

``python launch.py SHOW --supervise`` runs the engine as a child process (the same command line, without
``--supervise``, with ``--state FILE`` and, after the first start, ``--resume``) and watches it:

* **a crash** (an exception that escaped, a segfault in a driver, the out-of-memory killer): the child is
  started again and resumes at the cue that was running, from the state file it wrote every two seconds;
* **a hang** (no heartbeat for ``--watchdog`` seconds: the child's frame loop sends a byte a second down a
  pipe; after a start-up grace for loading the model): the child is killed and started again the same way.
  The beat measures the loop itself, on the monotonic clock: neither a full disk nor a step of the wall
  clock looks like a hang;
* **a clean quit** (Esc, Q, the window closed, ``--duration`` reached, SIGTERM): the supervisor ends too,
  with the child's exit status; a usage error (status 2) is not retried either;
* restarts back off (1, 2, 4 … 30 s) while the child keeps failing at once, and reset after a minute of
  healthy running, so a show file broken at 3 a.m. is retried every half minute until someone fixes it.

SIGTERM or SIGINT to the supervisor stops the child cleanly and then the supervisor. With ``--log FILE`` the
child keeps its rotating log and the supervisor writes its own beside it (``FILE`` with ``.supervisor``
before the extension); both also go to stderr (the journal, under systemd).

    python launch.py shows/demo.yaml --fullscreen --supervise --log /var/log/latentstage/demo.log
"""

from __future__ import annotations

import argparse
import logging
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Sequence

from engine.logs import setup_logging
from engine.state import default_state_path, read_state

log = logging.getLogger("supervisor")
SUPERVISED = "LATENTSTAGE_SUPERVISED"      # set in the child's environment: it must not supervise again

STARTUP_GRACE = 300.0        # seconds a fresh child may take to load its model before its first heartbeat
HEALTHY_SECONDS = 60.0       # a child that ran this long resets the restart back-off
MAX_BACKOFF = 30.0
EXIT_USAGE = 2


def child_command(argv: Sequence[str], state_path: str, resume: bool, heartbeat_fd: int | None = None) -> list[str]:
    """The engine's own command line: ``argv`` without the supervisor's options, plus the state file and the
    heartbeat pipe."""
    launch = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "launch.py")
    skip_value = {"--state", "--watchdog", "--heartbeat-fd"}
    args: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        name = arg.split("=", 1)[0]
        if name in skip_value:
            skip = "=" not in arg
            continue
        if name in ("--supervise", "--resume"):
            continue
        args.append(arg)
    beat = ["--heartbeat-fd", str(heartbeat_fd)] if heartbeat_fd is not None else []
    return [sys.executable, launch, *args, "--state", state_path, *beat] + (["--resume"] if resume else [])


def _supervisor_log(path: str | None) -> str | None:
    if path is None:
        return None
    stem, ext = os.path.splitext(path)
    return f"{stem}.supervisor{ext or '.log'}"


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


def supervise(argv: Sequence[str], args: argparse.Namespace) -> int:
    """Run and watch the engine until it quits cleanly (see the module docstring); returns its exit status."""
    setup_logging(args.verbose, _supervisor_log(args.log), max_bytes=int(args.log_max_mb * 2 ** 20))
    logging.getLogger("supervisor").setLevel(logging.INFO)
    for handler in logging.getLogger().handlers:
        handler.setLevel(logging.INFO)
    state_path = os.path.abspath(args.state or default_state_path(args.show))
    stopping: list[int] = []

    def stop(number: int, frame: object) -> None:
        stopping.append(number)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    resume, backoff, restarts = bool(args.resume), 1.0, 0
    while True:
        beats, beat_end = os.pipe()
        command = child_command(argv, state_path, resume, beat_end)
        started = time.monotonic()
        child = subprocess.Popen(command, pass_fds=(beat_end,), env={**os.environ, SUPERVISED: "1"})
        os.close(beat_end)
        log.info("engine started (pid %d)%s", child.pid, ", resuming" if resume else "")
        last_beat: float | None = None
        hung = False
        try:
            while child.poll() is None:
                if stopping:
                    log.info("stopping the engine (%s)", signal.Signals(stopping[0]).name)
                    child.terminate()
                    try:
                        child.wait(20)
                    except subprocess.TimeoutExpired:
                        child.kill()
                        child.wait()
                    return 0
                ready, _, _ = select.select([beats], [], [], 0.5)
                if ready:
                    if os.read(beats, 4096):
                        last_beat = time.monotonic()
                    else:                       # the child closed its end: it is exiting
                        time.sleep(0.1)
                now = time.monotonic()
                if (last_beat is not None and now - last_beat > args.watchdog) or \
                        (last_beat is None and now - started > STARTUP_GRACE):
                    since = f"{now - last_beat:.0f} s" if last_beat is not None else f"{now - started:.0f} s since it started"
                    log.error("the engine (pid %d) gave no heartbeat for %s: killing it", child.pid, since)
                    child.kill()
                    child.wait()
                    hung = True
                    break
        finally:
            os.close(beats)
        code = child.returncode
        uptime = time.monotonic() - started
        if not hung and code == 0:
            log.info("the engine quit normally after %.0f s", uptime)
            return 0
        if not hung and code == EXIT_USAGE:
            log.error("the engine refused its command line (exit status 2); not restarting")
            return code
        restarts += 1
        if uptime >= HEALTHY_SECONDS:
            backoff = 1.0
        state = read_state(state_path, args.show) if os.path.exists(state_path) else None
        where = ""
        if state is not None and state.runner is not None:
            running = ", ".join(c.id for c in state.runner.running) or "none"
            where = f", resuming with cue(s) {running} running"
        reason = "hung" if hung else describe_exit(code)
        log.error("the engine stopped (%s) after %.0f s; restart %d in %.0f s%s", reason, uptime, restarts,
                  backoff, where)
        deadline = time.monotonic() + backoff
        while time.monotonic() < deadline and not stopping:
            time.sleep(0.1)
        if stopping:
            return 0
        backoff = min(backoff * 2, MAX_BACKOFF)
        resume = True
