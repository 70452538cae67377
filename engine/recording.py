"""Recordings of live performances: every input event with its engine time, and what makes the run repeatable.

``--record FILE`` writes versioned JSON lines, flushed one by one (a crash loses at most the line being
written):

* a **header**: the format and version, when, the model file and its SHA-256, the settings of the run;
* an **event** line per input event, with the engine time of the frame that applied it, except readings:
* a **sources** line per frame and input with the readings (``source`` events) that frame applied, the last
  of each source only (a source keeps only its newest value, so nothing a replay needs is lost; an audio
  input posts ~25 readings a block, and one line per frame with just the values is ~5x smaller);
* a **show** line with the show file's full text at the start and at every reload, and a **shader** line with
  an effect file's text whenever one reloads, so a replay uses exactly what the performance used;
* an **end** line (or a **truncated** line when the size bound was reached: week-long runs stay bounded).

A recording is untrusted input when it is read back (:func:`read_recording`): the file and each line are
bounded, every line is checked, and a problem is one line naming the file and the line number.

    recorder = Recorder("set.jsonl", model="ffhq.pkl", settings={"fps": 30})
    recorder.show(0.0, "shows/set.yaml", text)
    recorder.event(12.4, event)
    recorder.close(300.0)
    recording = read_recording("set.jsonl")
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import logging
import math
import os
from typing import IO, Any

from engine.gl.glsl import is_shader_name
from engine.inputs import InputError, InputEvent

log = logging.getLogger(__name__)

FORMAT = "latentstage-recording"
VERSION = 1
DEFAULT_MAX_BYTES = 256 * 2 ** 20           # about a week of a busy OSC performance
MAX_LINE_BYTES = 8 * 2 ** 20                # a show text of 4 MiB, escaped
MAX_READ_BYTES = 2 * 2 ** 30
MAX_TEXT_BYTES = 256 * 2 ** 20              # all show and shader texts of one recording, held for the replay


class RecordingError(ValueError):
    """A recording that cannot be replayed; the message names the file and the line."""


def read_text(path: str, limit: int = 4 * 2 ** 20) -> str:
    """A show or shader file's text as the engine took it (bounded; empty if it cannot be read)."""
    try:
        with open(path, "rb") as f:
            return f.read(limit).decode("utf-8", "replace")
    except OSError:
        return ""


def sha256_of(path: str) -> str | None:
    """The SHA-256 of a file, or None for the embedded default model or an unreadable path."""
    if path == "default" or not os.path.isfile(path):
        return None
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclasses.dataclass(frozen=True)
class Recording:
    """A recording, read back and checked."""

    path: str
    started: str
    model: str
    model_sha256: str | None
    settings: dict[str, Any]
    events: tuple[tuple[float, InputEvent], ...]
    shows: tuple[tuple[float, str, str], ...]           # (engine time, path, text)
    shaders: tuple[tuple[float, str, str], ...]         # (engine time, effect name, text)
    length: float                                       # engine time of the end (or of the last line)
    truncated: bool


class Recorder:
    """Writes a recording line by line; never raises into the frame loop (a failing disk stops the recording
    with one logged line, the show goes on)."""

    def __init__(self, path: str, model: str, settings: dict[str, Any], max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.path, self.max_bytes = path, max_bytes
        self.written = 0
        self.truncated = False
        self._file: IO[str] | None = open(path, "w", encoding="utf-8")
        self._line({"format": FORMAT, "version": VERSION, "started": datetime.datetime.now().isoformat(timespec="seconds"),
                    "model": model, "model_sha256": sha256_of(model), "settings": settings})

    def event(self, time: float, event: InputEvent) -> None:
        self._line({"t": time, "event": {"source": event.source, "kind": event.kind, "key": event.key,
                                         "value": event.value}})

    def sources(self, time: float, origin: str, values: dict[str, float]) -> None:
        """One frame's readings from one input (``origin``: the events' source), the newest of each."""
        if values:
            self._line({"t": time, "sources": {"from": origin, "values": values}})

    def show(self, time: float, path: str, text: str) -> None:
        self._line({"t": time, "show": {"path": path, "text": text}})

    def shader(self, time: float, name: str, text: str) -> None:
        self._line({"t": time, "shader": {"name": name, "text": text}})

    def close(self, time: float) -> None:
        if self._file is not None:
            if not self.truncated:
                self._line({"t": time, "end": True})
            self._file.close()
            self._file = None

    def _line(self, record: dict[str, Any]) -> None:
        if self._file is None or self.truncated:
            return
        text = json.dumps(record, separators=(",", ":")) + "\n"
        try:
            if self.written + len(text) > self.max_bytes:
                self.truncated = True
                self._file.write(json.dumps({"t": record.get("t", 0.0), "truncated": True}) + "\n")
                self._file.flush()
                log.warning("%s: the recording reached its size bound (%d bytes); later events are not recorded",
                            self.path, self.max_bytes)
                return
            self._file.write(text)
            self._file.flush()
            self.written += len(text)
        except OSError as exc:
            log.error("%s: the recording stopped (%s); the show goes on", self.path, exc.strerror or exc)
            self._file = None


def read_recording(path: str) -> Recording:
    """Read and check a recording (RecordingError naming the file and line)."""
    try:
        size = os.path.getsize(path)
        if size > MAX_READ_BYTES:
            raise RecordingError(f"{path}: {size / 2 ** 30:.1f} GiB is larger than any recording")
        f = open(path, "rb")
    except OSError as exc:
        raise RecordingError(f"{path}: cannot read the recording ({exc.strerror or exc})") from None
    events: list[tuple[float, InputEvent]] = []
    shows: list[tuple[float, str, str]] = []
    shaders: list[tuple[float, str, str]] = []
    header: dict[str, Any] | None = None
    length, truncated, ended = 0.0, False, False
    text_bytes = 0
    with f:
        for number, raw in enumerate(iter(lambda: f.readline(MAX_LINE_BYTES + 1), b""), start=1):
            where = f"{path}:{number}"
            if len(raw) > MAX_LINE_BYTES:
                raise RecordingError(f"{where}: a line longer than {MAX_LINE_BYTES} bytes")
            try:
                record = json.loads(raw)
            except (ValueError, RecursionError):
                if not raw.endswith(b"\n"):         # the line being written when the live run stopped
                    break
                raise RecordingError(f"{where}: not a JSON line") from None
            if not isinstance(record, dict):
                raise RecordingError(f"{where}: expected an object, found {type(record).__name__}")
            if header is None:
                header = _header(record, where)
                continue
            if ended:
                raise RecordingError(f"{where}: a line after the end")
            t = record.get("t")
            if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t) or not 0 <= t < 1e9:
                raise RecordingError(f"{where}: expected an engine time 't' in seconds, found {str(t)[:40]}")
            if t + 1e-9 < length:
                raise RecordingError(f"{where}: engine time {t} goes back from {length}")
            length = float(t)
            if "show" in record or "shader" in record:
                text_bytes += len(raw)
                if text_bytes > MAX_TEXT_BYTES:
                    raise RecordingError(f"{where}: more than {MAX_TEXT_BYTES // 2 ** 20} MiB of show and shader "
                                         "texts")
            if "event" in record:
                events.append((length, _event(record["event"], length, where)))
            elif "sources" in record:
                events.extend((length, event) for event in _sources(record["sources"], length, where))
            elif "show" in record:
                shows.append((length, *_texts(record["show"], ("path", "text"), where)))
            elif "shader" in record:
                name, text = _texts(record["shader"], ("name", "text"), where)
                if not is_shader_name(name):
                    raise RecordingError(f"{where}: {name[:40]!r} is not an effect name (lower case letters, "
                                         "digits and _)")
                shaders.append((length, name, text))
            elif record.get("end") is True:
                ended = True
            elif record.get("truncated") is True:
                truncated, ended = True, True
            else:
                raise RecordingError(f"{where}: expected an event, sources, show, shader, end or truncated line")
    if header is None:
        raise RecordingError(f"{path}: an empty file; expected a {FORMAT} header")
    return Recording(path=path, started=header["started"], model=header["model"], model_sha256=header["model_sha256"],
                     settings=header["settings"], events=tuple(events), shows=tuple(shows), shaders=tuple(shaders),
                     length=length, truncated=truncated)


def _header(record: dict[str, Any], where: str) -> dict[str, Any]:
    if record.get("format") != FORMAT:
        raise RecordingError(f"{where}: not a Latent Stage recording (expected format '{FORMAT}')")
    if record.get("version") != VERSION:
        raise RecordingError(f"{where}: recording version {str(record.get('version'))[:20]}; this engine reads "
                             f"version {VERSION}")
    if not isinstance(record.get("model"), str) or not isinstance(record.get("settings"), dict) \
            or not isinstance(record.get("started"), str):
        raise RecordingError(f"{where}: the header needs model, settings and started")
    digest = record.get("model_sha256")
    if digest is not None and not (isinstance(digest, str) and len(digest) == 64):
        raise RecordingError(f"{where}: model_sha256 must be 64 hex digits")
    return record


def _event(data: Any, time: float, where: str) -> InputEvent:
    if not isinstance(data, dict):
        raise RecordingError(f"{where}: an event must be an object")
    value = data.get("value")
    if value is not None and not isinstance(value, (int, float, str)):
        raise RecordingError(f"{where}: an event value must be a number, a text or null")
    try:
        return InputEvent(time, str(data.get("source", ""))[:40], str(data.get("kind")), str(data.get("key", "")),
                          value)
    except InputError as exc:
        raise RecordingError(f"{where}: {exc}") from None


MAX_SOURCES_PER_LINE = 512


def _sources(data: Any, time: float, where: str) -> list[InputEvent]:
    """A sources line as the ``source`` events it stands for."""
    values = data.get("values") if isinstance(data, dict) else None
    if not isinstance(data, dict) or not isinstance(data.get("from"), str) or not isinstance(values, dict) \
            or len(values) > MAX_SOURCES_PER_LINE:
        raise RecordingError(f"{where}: a sources line needs 'from' (a text) and 'values' (at most "
                             f"{MAX_SOURCES_PER_LINE} source: number pairs)")
    try:
        return [InputEvent(time, data["from"][:40], "source", str(key), value) for key, value in values.items()]
    except InputError as exc:
        raise RecordingError(f"{where}: {exc}") from None


def _texts(data: Any, names: tuple[str, str], where: str) -> tuple[str, str]:
    if not isinstance(data, dict) or not all(isinstance(data.get(n), str) for n in names):
        raise RecordingError(f"{where}: expected {' and '.join(names)} as texts")
    return data[names[0]], data[names[1]]
