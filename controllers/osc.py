"""OSC in: TouchDesigner, QLab-style show control, sensors and anything else that speaks Open Sound Control.

One blocking UDP server on its own thread (python-osc's ``BlockingOSCUDPServer``; a thread per datagram loses
packets at a few thousand a second), a 4 MiB receive buffer, bundle time tags never waited for. Every message
becomes an :class:`~engine.inputs.InputEvent`; nothing here touches the engine. The namespace (DESIGN.md §3),
which a TouchDesigner user guesses right:

=====================================  =====================================================================
``/param/{group}/{name} <value>``      set a parameter, in its own range (``/param/gen/psi 0.5``)
``/param/{group}/{name}/norm <0..1>``  set it from a 0..1 control, through the parameter's curve
``/param/{group}/{name}/nudge <d>``    add ``d`` to it (relative encoders, "a bit more")
``/param/{group}/{name}/learn``        MIDI learn: the next control moved drives it (``0``: disarm)
``/sensors/baseline``                  sensors capture their baseline now (calibration)
``/direction/{name}/positive``, ``…/negative``  label the frame on screen: after 5 of each, dir.{name} is learned
``/show/go``, ``/show/stop``,          the cue list, as QLab names them; an argument of 0 is ignored, so a
``/show/panic``, ``/show/reset``       TouchDesigner button (1 on press, 0 on release) fires once
``/show/cue/{id}/start``               start one cue by its id
``/show/playhead/up``, ``.../down``    move the standby cue
``/walk/jump <seed>``                  cut to a seed's image and hold it (a show's walk)
``/walk/glide <seed> [seconds]``       glide there in W (2 s unless given), from wherever the picture is
``/walk/latent <file> [row] [seconds]`` glide to a row of a latent file in the show's folder (2 s)
=====================================  =====================================================================

Queries, answered as QLab answers them, with ``/reply/{address}`` and a JSON string
(``{"address": …, "status": "ok" | "error", "data": …}``) sent back to the sender (or to the
``--osc-out`` targets when there are any): ``/param/{group}/{name}`` without a value (its current value),
``/show/standby``, ``/show/running`` and ``/status`` (display and generator fps, errors).

Addresses that TouchDesigner sends about itself (``/_samplerate`` and every other ``/_…``) are ignored
quietly. Everything else that is wrong — bytes that are not OSC, an unknown address, a missing, extra,
textual, NaN or infinite value, a sender not on the allow-list — is counted, logged at a bounded rate, and
shown on the HUD (:meth:`OscInput.status`); the show never stops for it. Values out of a parameter's range
are clamped by the parameter store, as every input's are.

    osc = OscInput(port=9000)                   # 127.0.0.1 unless a host is given
    osc.start(engine.post, engine.clock)        # the engine does this for the controllers it was given
    print(osc.port, osc.status())
    osc.stop()
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import logging
import math
import re
import socket
import threading
import time
from collections.abc import Iterable
from typing import Any

from pythonosc import osc_packet
from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.osc_server import BlockingOSCUDPServer

from engine.clock import Clock
from engine.feedback import FeedbackState
from engine.inputs import InputError, InputEvent, latent_event, walk_event
from engine.logs import Throttle
from engine.params import shape_position
from engine.show.model import is_cue_id

from controllers.base import FeedbackTap, Listening, Post
from controllers.sensors import SensorBank, SensorMapping

log = logging.getLogger(__name__)
_throttle = Throttle(log, interval=10.0)


def _not_from_python_osc(record: logging.LogRecord) -> bool:
    """python-osc warns on the root logger for every malformed bundle: a hostile sender would flood the log.
    Those packets are counted and logged here, at a bounded rate, instead."""
    return "pythonosc" not in record.pathname


logging.getLogger().addFilter(_not_from_python_osc)

DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 9000
RECEIVE_BUFFER = 4 * 2 ** 20
MAX_DATAGRAM = 65_535
MAX_REPLIES_PER_SECOND = 200
SHOW_COMMANDS = {"go": "go", "stop": "stop", "panic": "panic", "reset": "reset"}
_NAME = re.compile(r"[a-z0-9_]{1,64}\Z")


class BadMessage(ValueError):
    """An OSC message that cannot become an event; the message says what was received and what was expected."""


def parse_endpoint(text: str, default_host: str = DEFAULT_HOST) -> tuple[str, int]:
    """``[HOST:]PORT`` as (host, port); ValueError with what was expected otherwise.

    >>> parse_endpoint("9000"), parse_endpoint("0.0.0.0:9001")
    (('127.0.0.1', 9000), ('0.0.0.0', 9001))
    """
    host, _, port_text = text.rpartition(":")
    host = host.strip("[]") or default_host
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"expected [HOST:]PORT with a port 0..65535, got {text[:60]!r}")
    if not is_host(host):
        raise ValueError(f"expected an IP address or a host name, got {host[:60]!r}")
    return host, int(port_text)


def is_host(text: str) -> bool:
    """An IP address (v4 or v6) or a host name."""
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return re.fullmatch(r"[A-Za-z0-9.-]{1,253}", text) is not None


def message_to_event(address: str, args: Iterable[Any], time: float, source: str = "osc") -> InputEvent | None:
    """The event an OSC message means (None for addresses that are ignored on purpose); BadMessage otherwise.

    >>> message_to_event("/param/gen/psi", [0.5], 1.0)
    InputEvent(time=1.0, source='osc', kind='set', key='gen.psi', value=0.5)
    >>> message_to_event("/show/go", [0], 1.0) is None        # a button's release
    True
    """
    values = list(args)
    if address.startswith("/_"):
        return None
    parts = address.split("/")[1:] if address.startswith("/") else []
    if len(parts) in (3, 4) and parts[0] == "param":
        group, name = parts[1], parts[2]
        if not (_NAME.match(group) and _NAME.match(name)):
            raise BadMessage(f"{_clip(address)}: a parameter is /param/group/name, lower case letters, digits, _")
        if len(parts) == 4 and parts[3] == "learn":      # MIDI learn: arm (1, or no value) or disarm (0)
            armed = not _released(address, values)
            return InputEvent(time, source, "command", "learn", f"{group}.{name}" if armed else None)
        kind = "set" if len(parts) == 3 else {"norm": "norm", "nudge": "nudge"}.get(parts[3])
        if kind is None:
            raise BadMessage(f"{_clip(address)}: after the parameter, expected /norm, /nudge or /learn")
        value = _one_number(address, values)
        if kind == "norm" and not 0.0 <= value <= 1.0:
            raise BadMessage(f"{_clip(address)}: expected a value in 0..1, got {value:g}")
        return InputEvent(time, source, kind, f"{group}.{name}", value)
    if len(parts) == 3 and parts[0] == "direction" and parts[2] in ("positive", "negative"):
        if not _NAME.match(parts[1]) or not parts[1][:1].isalpha():
            raise BadMessage(f"{_clip(address)}: a direction's name is lower case letters, digits and _")
        return None if _released(address, values) else InputEvent(time, source, "command", parts[2], parts[1])
    if address == "/sensors/baseline":
        return None if _released(address, values) else InputEvent(time, source, "command", "baseline")
    if len(parts) == 2 and parts[0] == "show" and parts[1] in SHOW_COMMANDS:
        return None if _released(address, values) else InputEvent(time, source, "command", SHOW_COMMANDS[parts[1]])
    if len(parts) == 3 and parts[:2] == ["show", "playhead"] and parts[2] in ("up", "down"):
        return None if _released(address, values) else InputEvent(time, source, "command", parts[2])
    if len(parts) == 2 and parts[0] == "walk" and parts[1] in ("jump", "glide"):
        if not 1 <= len(values) <= 2 or (parts[1] == "jump" and len(values) != 1):
            raise BadMessage(f"{_clip(address)}: expected a seed" + (" and optionally seconds" if parts[1] == "glide"
                                                                     else ""))
        seed = _one_number(address, values[:1])
        seconds = _one_number(address, values[1:2]) if len(values) == 2 else (2.0 if parts[1] == "glide" else 0.0)
        return walk_event(time, source, seed, seconds)
    if address == "/walk/latent":
        if not 1 <= len(values) <= 3 or not isinstance(values[0], str):
            raise BadMessage(f"{_clip(address)}: expected a file name, then optionally a row and seconds")
        row = _one_number(address, values[1:2]) if len(values) >= 2 else 0.0
        seconds = _one_number(address, values[2:3]) if len(values) == 3 else 2.0
        if not row.is_integer() or row < 0:
            raise BadMessage(f"{_clip(address)}: a row is a whole number >= 0, got {row:g}")
        try:
            return latent_event(time, source, values[0][:200], int(row), seconds)
        except InputError as exc:
            raise BadMessage(f"{_clip(address)}: {exc}") from None
    if len(parts) == 4 and parts[:2] == ["show", "cue"] and parts[3] == "start":
        if not is_cue_id(parts[2]):
            raise BadMessage(f"{_clip(address)}: not a cue id")
        return None if _released(address, values) else InputEvent(time, source, "command", "start", parts[2])
    raise BadMessage(f"{_clip(address)}: unknown address (expected /param/group/name, /show/go, /show/stop, "
                     "/show/panic, /show/reset, /show/cue/ID/start, /show/playhead/up or /down, /walk/jump, "
                     "/walk/glide, /walk/latent)")


def _one_number(address: str, values: list[Any]) -> float:
    if len(values) != 1:
        raise BadMessage(f"{_clip(address)}: expected one number, got {len(values)} values")
    value = values[0]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadMessage(f"{_clip(address)}: expected a number, got {type(value).__name__}")
    if not math.isfinite(value) or abs(value) > 1e9:
        raise BadMessage(f"{_clip(address)}: expected a finite number, got {value!r}")
    return float(value)


def _released(address: str, values: list[Any]) -> bool:
    """A trigger's argument: none or a non-zero number fires; 0 (a button let go) does not."""
    if not values:
        return False
    value = _one_number(address, values[:1])
    return value == 0.0


def _clip(text: str, limit: int = 60) -> str:
    printable = "".join(c if c.isprintable() else "?" for c in text[:limit])
    return printable + ("…" if len(text) > limit else "")


@dataclasses.dataclass
class OscMapping:
    """A show's own address (``inputs: osc: map:``): one argument of it drives a parameter through an input
    range, a curve, an inversion and smoothing, or fires a command. Validated when the show loads.

    >>> m = OscMapping("/heartrate", param="walk.speed", range=(40, 180), to=(0.2, 2.0))
    >>> m.event([110.0], now=1.0).value          # halfway up the range: halfway along the parameter
    1.1
    """

    address: str
    param: str | None = None
    command: str | None = None
    arg: int = 0
    range: tuple[float, float] = (0.0, 1.0)      # the sender's values that mean the two ends
    to: tuple[float, float] = (0.0, 1.0)         # the parameter values at the two ends
    curve: str = "linear"                        # linear / square / sqrt, from the range to the parameter
    invert: bool = False
    smoothing: float = 0.0                       # seconds: a one-pole filter over the packets' arrival
    _level: float | None = dataclasses.field(default=None, repr=False)
    _at: float = dataclasses.field(default=0.0, repr=False)

    def event(self, values: list[Any], now: float, source: str = "osc") -> InputEvent | None:
        if len(values) <= self.arg:
            raise BadMessage(f"{_clip(self.address)}: the mapping reads argument {self.arg}, the message has "
                             f"{len(values)}")
        if self.command is not None:
            return None if _released(self.address, values[self.arg:self.arg + 1]) else \
                InputEvent(now, source, "command", self.command)
        value = _one_number(self.address, values[self.arg:self.arg + 1])
        low, high = self.range
        u = min(1.0, max(0.0, (value - low) / (high - low)))
        if self.invert:
            u = 1.0 - u
        if self.smoothing > 0 and self._level is not None:
            u = self._level + (u - self._level) * (1.0 - math.exp(-max(0.0, now - self._at) / self.smoothing))
        self._level, self._at = u, now
        assert self.param is not None
        shaped = shape_position(self.curve, u)
        return InputEvent(now, source, "set", self.param, self.to[0] + (self.to[1] - self.to[0]) * shaped)


class OscQueries(FeedbackTap):
    """The feedback sink through which the frame loop hands an :class:`OscInput` the state its replies tell
    (the OSC server's thread answers the queries)."""

    def __init__(self, osc: OscInput) -> None:
        super().__init__(osc)
        self.osc = osc

    def status(self) -> str:
        return f"osc replies: {self.osc.replies}"


class _Receiver(Dispatcher):
    """The server's dispatcher: every datagram goes to :meth:`OscInput._packet` (time tags are not waited for,
    and a packet that does not parse is counted instead of dropped silently)."""

    def __init__(self, owner: OscInput) -> None:
        super().__init__()
        self.owner = owner

    def call_handlers_for_packet(self, data: bytes, client_address: tuple[str, int]) -> list[Any]:
        self.owner._packet(data, client_address)
        return []


def _grow_receive_buffer(sock: socket.socket) -> int:
    """Ask for RECEIVE_BUFFER bytes of receive buffer, past the system's cap where we may (root); returns what
    was granted, and says so once if it is less (a burst from a busy sender may then lose packets)."""
    force = getattr(socket, "SO_RCVBUFFORCE", None)
    for option in ((force,) if force is not None else ()) + (socket.SO_RCVBUF,):
        try:
            sock.setsockopt(socket.SOL_SOCKET, option, RECEIVE_BUFFER)
            break
        except OSError:
            continue
    granted = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    if granted < RECEIVE_BUFFER:     # Linux reports twice what it was asked for (bookkeeping included)
        log.warning("OSC in: the receive buffer is %d KiB, not %d (raise net.core.rmem_max to keep bursts)",
                    granted // 1024, RECEIVE_BUFFER // 1024)
    return granted


class _Server(BlockingOSCUDPServer):
    """python-osc's blocking server, except that it hands every datagram on: its own check drops what does
    not look like OSC without a trace, and a sender spraying garbage should show on the HUD."""

    def verify_request(self, request: Any, client_address: Any) -> bool:
        return True


QUERIES = ("/show/standby", "/show/running", "/status")


def reply_for(address: str, state: FeedbackState | None) -> tuple[str, str] | None:
    """The QLab-style reply to a query (None if ``address`` is not one): its address and JSON text.

    >>> reply_for("/param/gen/psi", FeedbackState(now=0.0, values={"gen.psi": 0.7}))
    ('/reply/param/gen/psi', '{"address": "/param/gen/psi", "status": "ok", "data": 0.7}')
    """
    parts = address.split("/")[1:]
    is_param = len(parts) == 3 and parts[0] == "param" and bool(_NAME.match(parts[1]) and _NAME.match(parts[2]))
    if not is_param and address not in QUERIES:
        return None
    data: Any = None
    status = "ok"
    if state is None:
        status, data = "error", "the engine has not drawn a frame yet"
    elif is_param:
        key = f"{parts[1]}.{parts[2]}"
        if key in state.values:
            data = state.values[key]
        else:
            status, data = "error", f"no parameter {key}"
    elif address == "/show/standby":
        data = state.standby
    elif address == "/show/running":
        data = list(state.running)
    else:
        data = {"display_fps": round(state.display_fps, 2), "generator_fps": round(state.generator_fps, 2),
                "errors": list(state.errors)}
    return "/reply" + address, json.dumps({"address": address, "status": status, "data": data})


class OscInput(Listening):
    """Listens for OSC on one UDP port (see the module docstring). It answers queries from the newest state
    the engine offers it (through :class:`OscQueries`, a feedback sink)."""

    name = "osc"

    def __init__(self, port: int = DEFAULT_PORT, host: str = DEFAULT_HOST, allow: Iterable[str] = (),
                 mappings: Iterable[OscMapping | dict[str, Any]] = (), sensors: Iterable[SensorMapping] = ()) -> None:
        """``mappings``: the show's own addresses; ``sensors``: biofeedback readings (controllers.sensors)."""
        self.host, self.port = host, port
        self.sensors = SensorBank(sensors)
        self._baseline_seen = 0
        self.mappings: dict[str, list[OscMapping]] = {}   # address -> the show's mappings of it (they win)
        for m in mappings:
            mapping = m if isinstance(m, OscMapping) else OscMapping(**m)
            self.mappings.setdefault(mapping.address, []).append(mapping)
        self.allow = frozenset(allow)          # sender IP addresses; empty: anyone who can reach the port
        self.messages = 0
        self.bad = 0
        self.ignored = 0
        self.last_problem = ""
        self._post: Post | None = None
        self._clock: Clock | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._state: FeedbackState | None = None
        self.reply_to: list[tuple[str, int]] = []   # where replies go; empty: back to each query's sender
        self.replies = 0
        self._reply_budget, self._reply_refill = float(MAX_REPLIES_PER_SECOND), time.monotonic()

    def remap(self, mappings: Iterable[OscMapping | dict[str, Any]], sensors: Iterable[SensorMapping]) -> None:
        """A reloaded show's addresses and sensors take over (the port and the allow-list stay)."""
        table: dict[str, list[OscMapping]] = {}
        for m in mappings:
            mapping = m if isinstance(m, OscMapping) else OscMapping(**m)
            table.setdefault(mapping.address, []).append(mapping)
        bank = SensorBank(sensors)
        with self._lock:
            self.mappings, self.sensors = table, bank

    # ------------------------------------------------------------------------- as a feedback sink (queries)
    def offer(self, state: FeedbackState) -> None:
        self._state = state                  # one reference, swapped whole: safe to read from the server
        if state.baseline != self._baseline_seen and self._clock is not None:
            self._baseline_seen = state.baseline
            with self._lock:                 # the conditioners run on the server's thread
                self.sensors.capture_baseline(self._clock.now())

    def start(self, post: Post, clock: Clock) -> None:
        """Bind and listen (OSError if the port cannot be had: the engine reports it and goes on)."""
        self._post, self._clock = post, clock
        server = _Server((self.host, self.port), _Receiver(self))
        _grow_receive_buffer(server.socket)
        self.port = server.server_address[1]  # port 0 asks the system for a free one (tests)
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name=f"osc-in-{self.port}", daemon=True)
        self._thread.start()
        log.info("OSC in on %s:%d", self.host, self.port)

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        self._post = None

    def status(self) -> str:
        line = f"osc {self.host}:{self.port}: {self.messages} messages"
        if self.bad:
            line += f", {self.bad} bad (last: {self.last_problem[:50]})"
        return line

    # ------------------------------------------------------------------------------- the server's thread
    def _packet(self, data: bytes, sender: tuple[str, int]) -> None:
        if self.allow and sender[0] not in self.allow:
            self._problem(f"a packet from {sender[0]}, which is not on the allow-list")
            return
        try:
            messages = osc_packet.OscPacket(data[:MAX_DATAGRAM]).messages
        except Exception:                      # ParseError, and whatever else malformed bytes provoke
            self._problem(f"{len(data)} bytes from {sender[0]} that are not an OSC message or bundle")
            return
        if not messages:
            self._problem(f"{len(data)} bytes from {sender[0]}: an OSC bundle with no message that can be read")
            return
        post, clock = self._post, self._clock
        if post is None or clock is None:
            return
        now = clock.now()
        for timed in messages:                 # a bundle's time tag is not waited for: now is what counts
            message = timed.message
            address = str(message.address)
            if not message.params:
                reply = reply_for(address, self._state)
                if reply is not None:
                    self._reply(reply, sender)
                    with self._lock:
                        self.messages += 1
                    continue
            try:
                mapped = self.mappings.get(address)
                if address in self.sensors:
                    with self._lock:
                        sensed: list[InputEvent | None] = list(self.sensors.handle(address, message.params, now) or [])
                    events = sensed
                else:
                    events = [m.event(list(message.params), now) for m in mapped] if mapped else \
                        [message_to_event(address, message.params, now)]
            except (BadMessage, InputError) as exc:
                self._problem(str(exc))
                continue
            with self._lock:
                self.messages += 1
            for event in events:
                if event is None:
                    self.ignored += 1
                else:
                    post(event)

    def _reply(self, reply: tuple[str, str], sender: tuple[str, int]) -> None:
        server = self._server
        if server is None:
            return
        now = time.monotonic()                 # a bounded rate: replies to forged senders cannot flood anyone
        self._reply_budget = min(float(MAX_REPLIES_PER_SECOND),
                                 self._reply_budget + (now - self._reply_refill) * MAX_REPLIES_PER_SECOND)
        self._reply_refill = now
        if self._reply_budget < 1.0:
            self._problem(f"more than {MAX_REPLIES_PER_SECOND} queries a second; some were not answered")
            return
        self._reply_budget -= 1.0
        builder = OscMessageBuilder(reply[0])
        builder.add_arg(reply[1])
        data = builder.build().dgram
        for target in self.reply_to or [sender]:
            try:
                server.socket.sendto(data, target)
                self.replies += 1
            except OSError as exc:
                self._problem(f"a reply to {target[0]}:{target[1]} failed ({exc.strerror or exc})")

    def _problem(self, text: str) -> None:
        with self._lock:
            self.bad += 1
            self.last_problem = text
        _throttle.warning("osc:" + text.split(":", 1)[0][:40], "OSC: %s", text)
