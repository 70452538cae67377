"""OSC out: feedback to TouchDesigner, a lighting desk or a stage manager's tablet, so a remote operator sees
what the engine does and a fader follows a cue fade.

To every target (``--osc-out HOST:PORT``, several allowed), from a thread of its own, at most ``rate`` times a
second, as bundles of at most 64 messages:

=====================================  =====================================================================
``/param/{group}/{name} <value>``      a parameter whose value changed, on the address it is set by
``/show/standby <id>``                 the standby cue when it changes (an empty string at the end of the list)
``/show/running <ids…>``               the running cues when they change
``/status/fps <display> <generator>``  once a second
``/status/error <text>``               once a second while something is wrong (a fault on the HUD)
``/status/heartbeat <count>``          once a second: the engine is alive
``/source/{key…} <value>``             a source (``/source/bio/hr``) when its reading changes
``/status/live <sources…>``            once a second: the sources heard from lately (a quiet sensor is not)
=====================================  =====================================================================

A target that is not listening (or a network that is down) is counted and retried on the next send; the
engine never waits for it.

    out = OscFeedback([("127.0.0.1", 9001)]).start()
    out.offer(state)            # every frame, from the frame loop (engine.feedback does this)
    out.stop()
"""

from __future__ import annotations

import logging
import math
import socket
import threading
import time
from collections.abc import Sequence
from typing import Any

from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message_builder import OscMessageBuilder

from engine.feedback import FeedbackState, Mailbox
from engine.logs import Throttle

log = logging.getLogger(__name__)
_throttle = Throttle(log, interval=30.0)

MAX_PER_BUNDLE = 64
CHANGE = 1e-6                    # a value that moved less than this is not sent again
MAX_SOURCES_SENT = 512           # sources followed (the engine keeps at most as many)


def param_address(key: str) -> str:
    """``gen.psi`` → ``/param/gen/psi`` (the address it is set by)."""
    return "/param/" + key.replace(".", "/")


class OscFeedback:
    """Sends the engine's state to OSC targets (see the module docstring)."""

    name = "osc-out"

    def __init__(self, targets: Sequence[tuple[str, int]], rate: float = 30.0) -> None:
        self.targets = list(targets)
        self.period = 1.0 / max(1.0, min(rate, 240.0))
        self.sent = 0
        self.failed = 0
        self.last_problem = ""
        self._mailbox = Mailbox()
        self._sent_values: dict[str, float] = {}
        self._standby: str | None | bool = False         # False: nothing sent yet
        self._running: tuple[str, ...] | None = None
        self._last_status = -math.inf
        self._beats = 0
        self._socket: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def start(self) -> OscFeedback:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.setblocking(False)
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="osc-out", daemon=True)
        self._thread.start()
        return self

    def offer(self, state: FeedbackState) -> None:
        self._mailbox.put(state)

    def stop(self) -> None:
        self._stopping.set()
        self._mailbox.put(FeedbackState(now=0.0, values={}))         # wake the thread
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def status(self) -> str:
        targets = ", ".join(f"{h}:{p}" for h, p in self.targets)
        line = f"osc out {targets}: {self.sent} sent"
        return line + (f", {self.failed} failed ({self.last_problem[:40]})" if self.failed else "")

    # ---------------------------------------------------------------------------------------- the thread
    def _run(self) -> None:
        while not self._stopping.is_set():
            started = time.monotonic()
            state = self._mailbox.take(timeout=0.5)
            if self._stopping.is_set():
                return
            if state is not None:
                try:
                    self._send(self.messages(state, time.monotonic()))
                except Exception as exc:          # a bug here must not end feedback for the rest of the show
                    _throttle.error("osc out", "OSC out: %s", exc, exc_info=True)
            rest = self.period - (time.monotonic() - started)
            if rest > 0:
                self._stopping.wait(rest)

    def messages(self, state: FeedbackState, clock: float) -> list[tuple[str, list[Any]]]:
        """What to send for ``state``: what changed since the last send, and the status when a second has
        passed (``clock`` is this thread's monotonic time)."""
        out: list[tuple[str, list[Any]]] = []
        for key, value in state.values.items():
            last = self._sent_values.get(key)
            if last is None or abs(value - last) > CHANGE:
                self._sent_values[key] = value
                out.append((param_address(key), [float(value)]))
        for key, value in list(state.sources.items())[:MAX_SOURCES_SENT]:
            last = self._sent_values.get("source:" + key)
            if last is None or abs(value - last) > CHANGE:
                self._sent_values["source:" + key] = value
                out.append(("/source/" + key.replace(".", "/"), [float(value)]))
        if state.standby != self._standby:
            self._standby = state.standby
            out.append(("/show/standby", [state.standby or ""]))
        if state.running != self._running:
            self._running = state.running
            out.append(("/show/running", list(state.running)))
        if clock - self._last_status >= 1.0:
            self._last_status = clock
            self._beats += 1
            out.append(("/status/fps", [float(state.display_fps), float(state.generator_fps)]))
            out.extend(("/status/error", [text[:200]]) for text in state.errors[:4])
            out.append(("/status/heartbeat", [self._beats]))
            out.append(("/status/live", list(state.live[:MAX_SOURCES_SENT])))
        return out

    def _send(self, messages: list[tuple[str, list[Any]]]) -> None:
        if not messages or self._socket is None:
            return
        for start in range(0, len(messages), MAX_PER_BUNDLE):
            bundle = OscBundleBuilder(IMMEDIATELY)
            for address, args in messages[start:start + MAX_PER_BUNDLE]:
                message = OscMessageBuilder(address)
                for arg in args:
                    message.add_arg(arg)
                bundle.add_content(message.build())        # type: ignore[arg-type]
            data = bundle.build().dgram
            for target in self.targets:
                try:
                    self._socket.sendto(data, target)
                    self.sent += min(MAX_PER_BUNDLE, len(messages) - start)
                except OSError as exc:     # nobody listening, a full buffer, no route: the next send retries
                    self.failed += 1
                    self.last_problem = f"{target[0]}:{target[1]}: {exc.strerror or exc}"
                    _throttle.warning(f"osc out {target}", "OSC out to %s:%d: %s", target[0], target[1],
                                      exc.strerror or exc)
