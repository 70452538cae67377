"""MIDI ports without callbacks: listing them, and reading inputs by polling.

mido's rtmidi backend always gives RtMidi a Python callback (even for a port opened without one), and under
JACK closing an input while messages pour in then hangs the process (mido's close, 2 runs in 2) or crashes it
(taking the callback away first, 2 in 2): rtmidi's thread is stopped while it waits for Python's lock in the
callback. Polling python-rtmidi's own queue from one thread of ours (``get_message``) survived the same flood
every time, and gives each message its arrival time from RtMidi's deltas (JACK's timestamps), which the MIDI
clock needs. Other mido backends are read through mido's own ``poll()``.

Listing goes through one rtmidi client each way, kept open: mido opens a client per call, and under JACK a
client coming and going at every scan reorders the graph, which made rtmidi deliver messages late and
garbled (measured: 9 of 10 message pairs at 10 scans a second).

    ports = PortDirectory(mido.backend)
    names_in, names_out = ports.names()
    reader = ports.open_input(names_in[0])
    for message, stamp in reader.receive():     # from the polling thread, ~500 times a second
        ...
    reader.close()
"""

from __future__ import annotations

import logging
import time
from typing import Any

import mido  # type: ignore[import-untyped]

log = logging.getLogger(__name__)

MAX_PER_POLL = 4096             # messages taken from one port per poll (the rest wait for the next)
MAX_LATE_SECONDS = 0.05         # an arrival time RtMidi's deltas put further back than this is re-anchored


class RtMidiReader:
    """One input port read straight from python-rtmidi's queue (no callback)."""

    def __init__(self, rtmidi_module: Any, api: int, name: str) -> None:
        self._rt = rtmidi_module.MidiIn(rtapi=api, name="latentstage", queue_size_limit=4096)
        try:
            ports = self._rt.get_ports()
            if name not in ports:
                raise OSError(f"no MIDI input named {name!r} any more")
            self._rt.ignore_types(sysex=True, timing=False, active_sense=True)   # clock wanted, SysEx not
            self._rt.open_port(ports.index(name))
        except BaseException:
            self._rt.delete()
            raise
        self.name = name
        self._parser = mido.Parser()
        self._stamp: float | None = None

    def receive(self) -> list[tuple[Any, float]]:
        """The messages that arrived since the last call, each with its arrival time (time.monotonic())."""
        now = time.monotonic()
        found: list[tuple[Any, float]] = []
        for _ in range(MAX_PER_POLL):
            item = self._rt.get_message()
            if item is None:
                break
            data, delta = item
            stamp = now if self._stamp is None else self._stamp + max(0.0, float(delta))
            self._stamp = stamp = min(max(stamp, now - MAX_LATE_SECONDS), now)
            self._parser.feed(data)                 # untrusted bytes: the parser skips what is not MIDI
            found.extend((message, stamp) for message in self._parser)
        return found

    def close(self) -> None:
        try:
            self._rt.close_port()
            self._rt.delete()
        except Exception as exc:  # its device may be gone already
            log.debug("closing MIDI input %s: %s", self.name, exc)


class MidoReader:
    """One input port of another mido backend, polled (``port.poll()``)."""

    def __init__(self, backend: Any, name: str) -> None:
        self._port = backend.open_input(name)
        self.name = name

    def receive(self) -> list[tuple[Any, float]]:
        now = time.monotonic()
        found = []
        for _ in range(MAX_PER_POLL):
            message = self._port.poll()
            if message is None:
                break
            found.append((message, now))
        return found

    def close(self) -> None:
        try:
            self._port.close()
        except Exception as exc:
            log.debug("closing MIDI input %s: %s", self.name, exc)


class PortDirectory:
    """Lists ports and opens inputs (readers) and outputs on one mido backend."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self._rtmidi: Any = None
        self._api = 0
        if "rtmidi" in str(getattr(backend, "name", "")):
            import rtmidi  # type: ignore[import-untyped]
            self._rtmidi = rtmidi
            self._api = backend.module._get_api_id(backend.api)
        self._listers: tuple[Any, Any] | None = None

    def names(self) -> tuple[list[str], list[str]]:
        """Input and output port names (OSError and friends when there is no MIDI system)."""
        if self._rtmidi is None:
            return list(self.backend.get_input_names()), list(self.backend.get_output_names())
        if self._listers is None:
            self._listers = (self._rtmidi.MidiIn(rtapi=self._api, name="latentstage-scan"),
                             self._rtmidi.MidiOut(rtapi=self._api, name="latentstage-scan"))
        try:
            return list(self._listers[0].get_ports()), list(self._listers[1].get_ports())
        except Exception:
            self.close()                            # a MIDI system that went away: new clients next time
            raise

    def open_input(self, name: str) -> RtMidiReader | MidoReader:
        if self._rtmidi is not None:
            return RtMidiReader(self._rtmidi, self._api, name)
        return MidoReader(self.backend, name)

    def open_output(self, name: str) -> Any:
        return self.backend.open_output(name)

    def close(self) -> None:
        listers, self._listers = self._listers, None
        for lister in listers or ():
            try:
                lister.delete()
            except Exception as exc:  # its MIDI system may be gone already
                log.debug("closing a MIDI port lister: %s", exc)
