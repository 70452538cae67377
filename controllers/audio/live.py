"""Live audio: an input device (sounddevice), or a file played out loud for rehearsal, analysed as it goes.

Both controllers run the analysis of controllers.audio.analysis on their own thread (never in the audio
callback, which only copies the block) and post what it finds as ``audio.*`` sources and ``audio.onset`` /
``audio.beat`` pulses (controllers.audio.features.frame_events: the same events an offline render routes).

    AudioInput(device="USB Audio", samplerate=48000)        # --audio-in "USB Audio"
    FilePlayback("track.flac", loop=True)                   # --audio track.flac (live: played, and analysed)

Faults never stop the show: a device that is missing, fails to open or stops delivering blocks is reported
(log, HUD status) and opened again, after 1, 2, 4 … up to 30 seconds; meanwhile the sources go stale and the
modulations hand the picture back to the autonomous walk (engine.sources). PortAudio lists devices once, when
it starts, so a retry with no stream of ours open restarts it: a device plugged in later (or a JACK server
that came back) is found.

Timing: each event is posted at the engine time its sound is heard, moved earlier by ``offset`` seconds
(``--av-offset``; negative: later, for a sound system that is itself late). A file's blocks are read and
analysed ahead of playback by the offset and the output's latency, so reactions can land on the sound; a
microphone cannot be analysed before it is heard, so a live input honours only offsets up to 0.
"""

from __future__ import annotations

import collections
import heapq
import itertools
import logging
import math
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from controllers.audio.analysis import AnalysisSettings, AudioAnalyzer, FeatureFrame
from controllers.audio.features import frame_events
from controllers.audio.files import AudioFileError, AudioInfo, probe, read_blocks
from controllers.base import Controller, Post
from engine.clock import Clock
from engine.inputs import InputEvent

log = logging.getLogger(__name__)

RETRY_FIRST, RETRY_MAX = 1.0, 30.0      # seconds between attempts to (re)open a device, doubling
STALL_SECONDS = 2.0                     # an open stream that delivers nothing this long is reopened
QUEUE_SECONDS = 2.0                     # blocks buffered between the callback and the analysis
_portaudio = threading.Lock()           # PortAudio's device list is process-wide: one rescan at a time
_open_streams = 0

Tap = Callable[[FeatureFrame], None]


def list_devices() -> list[str]:
    """Input devices as ``index: name (host API, channels, default rate)``; empty where there are none."""
    import sounddevice as sd
    lines = []
    apis = sd.query_hostapis()
    for index, device in enumerate(sd.query_devices()):          # type: ignore[arg-type]
        if device["max_input_channels"] > 0:
            api = apis[device["hostapi"]]["name"]                 # type: ignore[index, call-overload]
            lines.append(f"{index}: {device['name']} ({api}, {device['max_input_channels']} in, "
                         f"{device['default_samplerate']:.0f} Hz)")
    return lines


def _rescan() -> None:
    """Restart PortAudio so that its device list is current (only while no stream of ours is open)."""
    import sounddevice as sd
    with _portaudio:
        if _open_streams == 0:
            sd._terminate()
            sd._initialize()


def _stream_opened(delta: int) -> None:
    global _open_streams
    with _portaudio:
        _open_streams += delta


class _Schedule:
    """Events waiting for their engine time (an offset or a sound system's latency), posted in order."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, list[InputEvent]]] = []
        self._order = itertools.count()

    def add(self, due: float, events: list[InputEvent]) -> None:
        if events:
            heapq.heappush(self._heap, (due, next(self._order), events))

    def post_due(self, now: float, post: Post) -> None:
        while self._heap and self._heap[0][0] <= now:
            for event in heapq.heappop(self._heap)[2]:
                post(event)

    def next_due(self) -> float:
        return self._heap[0][0] if self._heap else math.inf

    def clear(self) -> None:
        self._heap.clear()


class _AudioController(Controller):
    """What both live audio controllers share: the analysis thread's bookkeeping, events and status."""

    name = "audio"

    def __init__(self, settings: dict[str, Any] | None, offset: float, tap: Tap | None) -> None:
        self.options = dict(settings or {})       # AnalysisSettings fields but the sample rate
        self.offset = float(offset)
        self.tap = tap                            # every FeatureFrame, on the analysis thread (tests, tools)
        self._post: Post | None = None
        self._clock: Clock | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.analyzer: AudioAnalyzer | None = None
        self.blocks = 0
        self.onsets = 0
        self.beats = 0
        self.problem: str | None = None
        self.connected: str | None = None
        self._logged: str | None = None

    def start(self, post: Post, clock: Clock) -> None:
        if self._thread is not None:
            return
        self._post, self._clock = post, clock
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"{self.name}-{type(self).__name__}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None

    def _run(self) -> None:
        raise NotImplementedError

    def _analyse(self, data: np.ndarray, due: Callable[[FeatureFrame], float], schedule: _Schedule) -> None:
        """Analyse one block; its newest values and every onset and beat go on ``schedule`` at their times."""
        assert self.analyzer is not None
        frames = self.analyzer.process(data)
        self.blocks += 1
        onset, beat = 0.0, False
        for frame in frames:
            if self.tap is not None:
                self.tap(frame)
            if frame.onset:
                onset = max(onset, frame.onset_strength, 1e-3)
                self.onsets += 1
            if frame.beat:
                beat = True
                self.beats += 1
        if frames:
            last = frames[-1]
            at = due(last)
            schedule.add(at, frame_events(last.names, last.values, onset, beat, at))

    def _report(self, problem: str | None, retry: float | None = None) -> None:
        """A problem (or its end) for the HUD, logged once per change (a device that stays away for a week is
        one line, not one per retry)."""
        self.problem = problem if retry is None or problem is None else f"{problem} (trying again in {retry:.0f} s)"
        if problem != self._logged:
            if problem is None:
                log.info("audio: %s", self.connected)
            else:
                log.warning("audio: %s%s", problem, "" if retry is None else " (retrying, with backoff to "
                            f"{RETRY_MAX:.0f} s)")
            self._logged = problem

    def _settings(self, samplerate: int) -> AnalysisSettings:
        return AnalysisSettings(samplerate=samplerate, **self.options)

    def _tempo(self) -> str:
        if self.analyzer is None or not self.blocks:
            return ""
        frame_bpm = self.analyzer._bpm
        return f", {frame_bpm:.0f} BPM" if frame_bpm else ""


class AudioInput(_AudioController):
    """A sounddevice input stream (``device`` by name or index; None: the system's default input)."""

    def __init__(self,
                 device: str | int | None = None,   # a part of the device's name, or its index
                 samplerate: int | None = None,     # None: the device's default rate
                 channels: int = 1,                 # averaged to mono for the analysis
                 block: int = 1024,                 # frames per callback
                 settings: dict[str, Any] | None = None,   # analysis options (bands, adapt, attack, ...)
                 offset: float = 0.0,               # seconds earlier (> 0 impossible live: treated as 0)
                 tap: Tap | None = None,
                 ) -> None:
        super().__init__(settings, min(offset, 0.0), tap)
        if offset > 0:
            log.warning("--av-offset %+.0f ms: a live input cannot be analysed before it is heard; "
                        "the picture reacts as soon as the analysis knows", offset * 1000)
        self.device, self.samplerate, self.channels, self.block = device, samplerate, channels, block
        self.restarts = 0

    def status(self) -> str:
        if self.problem:
            return f"audio: {self.problem}"
        if self.connected is None:
            return "audio: starting"
        return f"audio: {self.connected}, {self.blocks} blocks, {self.onsets} onsets{self._tempo()}"

    def _run(self) -> None:
        wait = RETRY_FIRST
        first = True
        while not self._stop.is_set():
            if not first:
                _rescan()
            first = False
            try:
                self._listen()
                wait = RETRY_FIRST                  # it ran: the next failure starts the backoff again
            except Exception as exc:                # PortAudioError, ValueError (no such device), OSError
                self._report(_short(exc), retry=wait)
            if self._stop.wait(wait):
                return
            wait = min(wait * 2, RETRY_MAX)
            self.restarts += 1

    def _listen(self) -> None:
        """Open the stream and analyse until it stalls, fails or the controller stops."""
        import sounddevice as sd
        device = _find_input(self.device)
        info = sd.query_devices(device, "input")
        rate = int(self.samplerate or info["default_samplerate"])   # type: ignore[index, call-overload]
        channels = max(1, min(self.channels, int(info["max_input_channels"])))   # type: ignore[index, call-overload]
        blocks: queue.Queue[np.ndarray] = queue.Queue(maxsize=max(4, int(QUEUE_SECONDS * rate / self.block)))
        dropped = [0]

        def callback(indata: np.ndarray, frames: int, timing: Any, status: Any) -> None:
            try:                                    # the audio thread: copy and go, never wait
                blocks.put_nowait(indata.copy())
            except queue.Full:
                dropped[0] += 1

        self.analyzer = AudioAnalyzer(self._settings(rate))
        schedule = _Schedule()
        stream = sd.InputStream(device=device, samplerate=rate, channels=channels, blocksize=self.block,
                                dtype="float32", callback=callback)
        _stream_opened(+1)
        assert self._clock is not None and self._post is not None
        try:
            stream.start()
            self.connected = f"{info['name']} at {rate} Hz"           # type: ignore[index, call-overload]
            self._report(None)
            clock = self._clock
            last_block = time.monotonic()
            while not self._stop.is_set():
                try:
                    data = blocks.get(timeout=min(0.1, max(0.001, schedule.next_due() - clock.now())))
                except queue.Empty:
                    schedule.post_due(clock.now(), self._post)
                    if time.monotonic() - last_block > STALL_SECONDS:
                        raise OSError(f"{info['name']}: no sound for {STALL_SECONDS:g} s")   # type: ignore[index, call-overload]
                    continue
                last_block = time.monotonic()
                arrived = clock.now()
                # Heard as it arrived (less the input's few ms); shown ``-offset`` later (offset <= 0 here).
                self._analyse(data, lambda frame: arrived - self.offset, schedule)
                schedule.post_due(clock.now(), self._post)
        finally:
            try:
                stream.abort()
                stream.close()
            except Exception:                       # a device that vanished fails its own close
                log.debug("audio: closing the stream failed", exc_info=True)
            _stream_opened(-1)
            schedule.clear()
            if dropped[0]:
                log.warning("audio: %d blocks dropped (the analysis fell behind)", dropped[0])


class FilePlayback(_AudioController):
    """A file played through the default output (if there is one) and analysed in step with what is heard."""

    def __init__(self,
                 path: str,
                 block: int = 1024,
                 play: bool = True,                 # False (or no output device): silent, paced by the clock
                 loop: bool = False,                # start again at the end (rehearsals, installations)
                 settings: dict[str, Any] | None = None,
                 offset: float = 0.0,
                 tap: Tap | None = None,
                 realtime: bool = True,             # False: as fast as the analysis goes (tests, tools)
                 ) -> None:
        super().__init__(settings, offset, tap)
        self.path, self.block, self.play, self.loop, self.realtime = path, block, play, loop, realtime
        self.info: AudioInfo | None = None
        self.finished = threading.Event()
        self.position = 0.0                         # seconds of the file heard

    def status(self) -> str:
        if self.problem:
            return f"audio: {self.problem}"
        name = self.path.rsplit("/", 1)[-1][:40]
        length = f"/{self.info.duration:.0f}" if self.info is not None else ""
        return f"audio: {name} {self.position:.0f}{length} s, {self.onsets} onsets{self._tempo()}"

    def _run(self) -> None:
        try:
            self.info = probe(self.path)
            self.analyzer = AudioAnalyzer(self._settings(self.info.samplerate))
            self._play(self.info)
        except AudioFileError as exc:
            self._report(str(exc))
        except Exception as exc:                    # never out of the thread: the show goes on
            log.debug("audio playback failed", exc_info=True)
            self._report(f"{self.path}: playback failed ({_short(exc)})")
        finally:
            self.finished.set()

    def _open_output(self, info: AudioInfo) -> Any:
        if not (self.play and self.realtime):
            return None
        try:
            import sounddevice as sd
            stream = sd.OutputStream(samplerate=info.samplerate, channels=min(info.channels, 2),
                                     blocksize=self.block, dtype="float32")
            stream.start()
            return stream
        except Exception as exc:                    # no output device: analysed in silence, on the clock
            self._report(f"no sound output ({_short(exc)}); analysing in silence")
            return None

    def _play(self, info: AudioInfo) -> None:
        assert self._clock is not None and self._post is not None
        clock, post = self._clock, self._post
        stream = self._open_output(info)
        if stream is not None:
            _stream_opened(+1)
        latency = float(stream.latency) if stream is not None else 0.0     # write -> heard
        self.connected = f"{info.path} ({info.samplerate} Hz)" + ("" if stream is not None else ", silent")
        if self.problem is None or stream is not None:
            self._report(None)
        schedule = _Schedule()
        # The analysis leads what is heard by the offset (and the output's latency makes up the rest).
        lead = max(0, math.ceil((self.offset - latency) * info.samplerate / self.block))
        ahead: collections.deque[np.ndarray] = collections.deque()
        start = clock.now() + latency
        written = 0                                  # frames handed to the output (or to the clock)
        try:
            while not self._stop.is_set():
                source = read_blocks(info, self.block)
                for data in source:
                    # The analyser's clock runs on across loops: a hop is heard at start + its time.
                    self._analyse(data, lambda frame: start + frame.time - self.offset, schedule)
                    ahead.append(data)
                    while len(ahead) > lead:
                        out = ahead.popleft()
                        self._emit(out, stream, start, written, info, schedule)
                        written += len(out)
                        self.position = written / info.samplerate
                        if self._stop.is_set():
                            return
                if not self.loop:
                    break
            while ahead and not self._stop.is_set():
                out = ahead.popleft()
                self._emit(out, stream, start, written, info, schedule)
                written += len(out)
            while schedule.next_due() < math.inf and not self._stop.is_set() and self.realtime:
                time.sleep(min(0.01, max(0.0, schedule.next_due() - clock.now())))
                schedule.post_due(clock.now(), post)
            if not self.realtime:
                schedule.post_due(math.inf, post)
        finally:
            if stream is not None:
                try:
                    stream.abort()
                    stream.close()
                except Exception:
                    log.debug("audio: closing the output failed", exc_info=True)
                _stream_opened(-1)

    def _emit(self, data: np.ndarray, stream: Any, start: float, written: int, info: AudioInfo,
              schedule: _Schedule) -> None:
        """Play one block (or wait for its time on the clock) and post what is due by then."""
        assert self._clock is not None and self._post is not None
        if stream is not None:
            stream.write(np.ascontiguousarray(data[:, :2]))       # blocks until the output has room
        elif self.realtime:
            due = start + (written + len(data)) / info.samplerate
            while not self._stop.is_set() and (delay := due - self._clock.now()) > 0:
                schedule.post_due(self._clock.now(), self._post)
                time.sleep(min(delay, 0.01, max(0.0, schedule.next_due() - self._clock.now())) or 0.001)
        schedule.post_due(self._clock.now() if self.realtime else math.inf, self._post)


def _find_input(device: str | int | None) -> int | None:
    """The device index for a name part or an index (None: the default input); ValueError naming the
    inputs there are."""
    import sounddevice as sd
    if device is None:
        default = sd.default.device[0]
        if default is None or default < 0:
            raise ValueError("no audio input device here" + _inputs_hint())
        return None
    devices = sd.query_devices()
    if isinstance(device, int) or (isinstance(device, str) and device.isdigit()):
        index = int(device)
        if not 0 <= index < len(devices) or devices[index]["max_input_channels"] < 1:   # type: ignore[index, call-overload]
            raise ValueError(f"no audio input device {index}" + _inputs_hint())
        return index
    matches = [i for i, d in enumerate(devices)                                        # type: ignore[arg-type]
               if d["max_input_channels"] > 0 and device.lower() in str(d["name"]).lower()]
    if not matches:
        raise ValueError(f"no audio input device named like {device[:60]!r}" + _inputs_hint())
    return matches[0]


def _inputs_hint() -> str:
    try:
        found = list_devices()
    except Exception:
        found = []
    return f"; inputs here: {'; '.join(found)[:300]}" if found else "; this machine lists none"


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]
