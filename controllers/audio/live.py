"""Live audio: an input device (sounddevice), or a file played out loud for rehearsal, analysed as it goes.

Both run the analysis of controllers.audio.analysis away from the audio callback (which only copies a
block): the input in its own process, playback on its own thread. They post what it finds as ``audio.*``
sources and ``audio.onset`` / ``audio.beat`` pulses (controllers.audio.features.frame_events: the same events
an offline render routes).

    AudioInput(device="USB Audio", samplerate=48000)        # --audio-in "USB Audio"
    FilePlayback("track.flac", loop=True)                   # --audio track.flac (live: played, and analysed)

Faults never stop the show: an input device that is missing, fails to open or stops delivering blocks is
reported (log, HUD status) and opened again, after 1, 2, 4 … up to 30 seconds (an output that stops taking
blocks is reported and the file goes on, analysed in silence on the clock); meanwhile the sources go stale and the
modulations hand the picture back to the autonomous walk (engine.sources). The input runs in its own process
(controllers.audio.device_process): a driver that crashes takes only that process down, and each retry is a
fresh PortAudio, so a device plugged in later (or a JACK server that came back) is found.

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
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from controllers.audio.analysis import AnalysisSettings, AudioAnalyzer, FeatureFrame
from controllers.audio.features import frame_events
from controllers.audio.files import AudioFileError, AudioInfo, probe, read_blocks
from controllers.background import Background
from controllers.base import Controller, Post
from engine.clock import Clock
from engine.inputs import InputEvent

log = logging.getLogger(__name__)

RETRY_FIRST, RETRY_MAX = 1.0, 30.0      # seconds between attempts to (re)open a device, doubling
STALL_SECONDS = 2.0                     # an open stream that delivers nothing this long is reopened

Tap = Callable[[FeatureFrame], None]


class _Schedule:
    """Events waiting for their time, posted in order. Each batch has a key: an engine time, or (file
    playback) a stream time that ``due`` turns into the engine time it is heard at, known only as it plays."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, list[InputEvent]]] = []
        self._order = itertools.count()

    def add(self, key: float, events: list[InputEvent]) -> None:
        if events:
            heapq.heappush(self._heap, (key, next(self._order), events))

    def post_due(self, now: float, post: Post, due: Callable[[float], float] = lambda key: key) -> None:
        while self._heap and due(self._heap[0][0]) <= now:
            for event in heapq.heappop(self._heap)[2]:
                post(event)

    def next_due(self, due: Callable[[float], float] = lambda key: key) -> float:
        return due(self._heap[0][0]) if self._heap else math.inf

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
        self._worker = Background(f"{self.name}-{type(self).__name__}")
        self.analyzer: AudioAnalyzer | None = None
        self.blocks = 0
        self.onsets = 0
        self.beats = 0
        self.problem: str | None = None
        self.connected: str | None = None
        self._logged: str | None = None

    def start(self, post: Post, clock: Clock) -> None:
        if self._worker.running:
            return
        self._post, self._clock = post, clock
        self._worker.start(self._run)

    def stop(self) -> None:
        self._worker.stop()

    def _run(self) -> None:
        raise NotImplementedError

    def _analyse(self, data: np.ndarray, key: Callable[[FeatureFrame], float], schedule: _Schedule,
                 stamp: Callable[[float], float] = lambda key: key) -> None:
        """Analyse one block; its newest values and every onset and beat go on ``schedule`` under ``key`` (the
        events stamped with ``stamp(key)``, their engine time as far as it is known now)."""
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
            at = key(last)
            schedule.add(at, frame_events(last.names, last.values, onset, beat, stamp(at)))

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
        bpm = self.analyzer.bpm
        return f", {bpm:.0f} BPM" if bpm else ""


class AudioInput(_AudioController):
    """A sounddevice input stream (``device`` by name or index; None: the system's default input), opened and
    analysed in its own process (controllers.audio.device_process), restarted with backoff when it fails."""

    def __init__(self,
                 device: str | int | None = None,   # a part of the device's name, or its index
                 samplerate: int | None = None,     # None: the device's default rate
                 channels: int = 1,                 # averaged to mono for the analysis
                 block: int = 1024,                 # frames per callback
                 settings: dict[str, Any] | None = None,   # analysis options (bands, adapt, attack, ...)
                 offset: float = 0.0,               # seconds earlier (> 0 impossible live: treated as 0)
                 ) -> None:
        super().__init__(settings, min(offset, 0.0), None)
        if offset > 0:
            log.warning("--av-offset %+.0f ms: a live input cannot be analysed before it is heard; "
                        "the picture reacts as soon as the analysis knows", offset * 1000)
        self.device, self.samplerate, self.channels, self.block = device, samplerate, channels, block
        self.restarts = 0
        self.bpm = 0.0
        self.problem_text: str | None = None       # the child's last word on why it stopped
        self._child: Any = None

    def status(self) -> str:
        if self.problem:
            return f"audio: {self.problem}"
        if self.connected is None:
            return "audio: starting"
        tempo = f", {self.bpm:.0f} BPM" if self.bpm else ""
        return f"audio: {self.connected}, {self.blocks} blocks, {self.onsets} onsets{tempo}"

    def stop(self) -> None:
        self._worker.ask_to_stop()
        child = self._child
        if child is not None and child.is_alive():
            child.terminate()
        super().stop()

    def _run(self) -> None:
        wait = RETRY_FIRST
        while not self._worker.stopped():
            try:
                heard = self._listen()
            except Exception as exc:                # never out of the thread: reported, and tried again
                log.debug("audio input failed", exc_info=True)
                heard, self.problem_text = False, f"the input failed ({_short(exc)})"
            if self._worker.stopped():
                return
            if heard:                               # it ran: the next failure starts the backoff again
                wait = RETRY_FIRST
            self._report(self.problem_text or "the input stopped", retry=wait)
            if self._worker.wait(wait):
                return
            wait = min(wait * 2, RETRY_MAX)
            self.restarts += 1

    def _listen(self) -> bool:
        """One child process: start it, post what it analyses, until it ends. True if any block came."""
        import multiprocessing
        from controllers.audio.device_process import run
        assert self._clock is not None and self._post is not None
        context = multiprocessing.get_context("spawn")          # a fresh process: no torch, no GL, no threads
        parent, child_end = context.Pipe(duplex=True)
        child = context.Process(target=run, name="latentstage-audio", daemon=True,
                                args=(child_end, self.device, self.samplerate, self.channels, self.block,
                                      self.options))
        self.problem_text = None
        heard = False
        schedule = _Schedule()
        names: tuple[str, ...] = ()
        try:
            try:
                child.start()
            finally:
                child_end.close()                   # the child has its own copy (or none: it never started)
            self._child = child
            last = time.monotonic()
            while not self._worker.stopped():
                wait = min(0.1, max(0.0, schedule.next_due() - self._clock.now()))
                if parent.poll(wait):
                    try:
                        message = parent.recv()
                    except (EOFError, OSError):
                        break                          # the child ended (its error came first, if any)
                    last = time.monotonic()
                    if message[0] == "open":
                        self.connected, names = str(message[1]), tuple(message[2])
                        self._report(None)
                    elif message[0] == "block":
                        heard = True
                        values, onset, beat = message[1], float(message[2]), bool(message[3])
                        self.blocks += 1
                        self.onsets += onset > 0
                        self.beats += beat
                        self.bpm = float(values[names.index("tempo")]) if "tempo" in names else 0.0
                        due = self._clock.now() - self.offset
                        schedule.add(due, frame_events(names, values, onset, beat, due))
                    elif message[0] == "error":
                        self.problem_text = str(message[1])
                elif not child.is_alive() or time.monotonic() - last > 2 * STALL_SECONDS + 10:
                    break                              # gone, or hung in a driver: replaced below
                schedule.post_due(self._clock.now(), self._post)
        finally:
            try:
                parent.send("stop")
            except OSError:
                pass
            self._end(child)
            parent.close()
            self._child = None
        return heard

    @staticmethod
    def _end(child: Any) -> None:
        """Stop the child: asked, then terminated, then killed (a driver can hang in native code)."""
        if child.pid is None:                       # it never started
            return
        child.join(1.0)
        if child.is_alive():
            child.terminate()
            child.join(2.0)
        if child.is_alive():
            child.kill()
            child.join(2.0)


class FilePlayback(_AudioController):
    """A file played through the default output (if there is one) and analysed in step with what is heard.

    Each hop's events are kept by the hop's place in the stream and posted when that place is heard: the
    output reports, at every callback, which sample it is starting to play (underruns and the silence
    before the first block included), so the reactions stay on the sound however long it runs."""

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
        self.position = 0.0                         # seconds into the file of what is heard now
        self._output: _CallbackOutput | None = None
        self._start = 0.0                           # without an output: the engine time of stream time 0

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
            if self._output is not None:
                self._output.close()
                self._output = None
            self.finished.set()

    def _heard(self, t: float) -> float:
        """The engine time at which stream time ``t`` (seconds of samples analysed) is heard."""
        if not self.realtime:
            return -math.inf                        # as fast as it goes: everything is due at once
        output = self._output
        return output.heard(t) if output is not None else self._start + t

    def _due(self, t: float) -> float:
        return self._heard(t) - self.offset

    def _stamp(self, t: float) -> float:
        """An event's engine time, as far as it is known when the hop is analysed."""
        assert self._clock is not None
        due = self._due(t)
        return due if math.isfinite(due) else self._clock.now()

    def _play(self, info: AudioInfo) -> None:
        assert self._clock is not None and self._post is not None
        clock, post, sr = self._clock, self._post, info.samplerate
        if self.play and self.realtime:
            try:
                self._output = _CallbackOutput(sr, min(info.channels, 2), self.block, clock)
            except Exception as exc:                # no output device: analysed in silence, on the clock
                self._report(f"no sound output ({_short(exc)}); analysing in silence")
        latency = self._output.latency if self._output is not None else 0.0
        self.connected = f"{info.path} ({sr} Hz)" + ("" if self._output is not None else ", silent")
        if self._output is not None:
            self._report(None)
        self._start = clock.now()
        schedule = _Schedule()
        # The analysis leads what is heard by the offset (the output's own latency makes up part of it).
        lead = max(0, math.ceil((self.offset - latency) * sr / self.block))
        ahead: collections.deque[np.ndarray] = collections.deque()
        written = 0                                  # frames handed to the output (or to the clock)

        def emit() -> None:
            nonlocal written
            data = ahead.popleft()
            self._emit(data, written / sr, (written + len(data)) / sr, schedule)
            written += len(data)
            self.position = (written / sr) % info.duration

        while not self._worker.stopped():
            for data in read_blocks(info, self.block):
                # Keyed by stream time, which runs on across loops; posted when that time is heard.
                self._analyse(data, lambda frame: frame.time, schedule, stamp=self._stamp)
                ahead.append(data)
                while len(ahead) > lead and not self._worker.stopped():
                    emit()
                if self._worker.stopped():
                    return
            if not self.loop:
                break
        while ahead and not self._worker.stopped():
            emit()
        while schedule.next_due(self._due) < math.inf and not self._worker.stopped():
            time.sleep(min(0.01, max(0.0, schedule.next_due(self._due) - clock.now())))
            schedule.post_due(clock.now(), post, self._due)

    def _emit(self, data: np.ndarray, begins: float, ends: float, schedule: _Schedule) -> None:
        """Play one block (stream times ``begins`` to ``ends``), or wait for its time on the clock, posting
        whatever falls due meanwhile."""
        assert self._clock is not None and self._post is not None
        clock, post = self._clock, self._post
        output = self._output
        if output is not None:
            while not output.room() and not self._worker.stopped():
                if output.stalled():                # the device went away: on in silence, on the clock
                    self._output = None
                    output.close()
                    self._start = clock.now() - begins
                    self._report("the sound output stopped taking blocks; going on in silence")
                    break
                schedule.post_due(clock.now(), post, self._due)
                time.sleep(0.002)
            else:
                output.push(data)
        if self._output is None and self.realtime:
            while not self._worker.stopped() and (delay := self._start + ends - clock.now()) > 0:
                schedule.post_due(clock.now(), post, self._due)
                time.sleep(min(delay, 0.005))
        schedule.post_due(clock.now(), post, self._due)


class _CallbackOutput:
    """A sounddevice output in callback mode fed from a sample FIFO (PortAudio's blocking ``write`` corrupts
    the heap on JACK here). The reader keeps at most :data:`DEPTH` blocks queued, so it is paced by the sound
    card; the callback plays silence when the FIFO runs dry, and says at each period which sample it starts
    with, so :meth:`heard` knows when any sample is heard, gaps included."""

    DEPTH = 4                                   # blocks queued ahead of the sound card
    STALL_SECONDS = 2.0                         # no callback this long: the device is gone

    def __init__(self, samplerate: int, channels: int, block: int, clock: Clock) -> None:
        import sounddevice as sd
        self.samplerate, self.channels, self.block, self.clock = samplerate, channels, block, clock
        self._lock = threading.Lock()
        self._chunks: collections.deque[np.ndarray] = collections.deque()
        self._buffered = 0                      # samples queued
        self.played = 0                         # samples of the file played so far
        self._anchor = (clock.now(), 0)         # (engine time of a callback, samples played before it)
        self._last_callback = time.monotonic()
        self._stream = sd.OutputStream(samplerate=samplerate, channels=channels, blocksize=block,
                                       dtype="float32", callback=self._callback)
        try:
            self._stream.start()
        except Exception:
            self._stream.close()
            raise
        self.latency = float(self._stream.latency)   # type: ignore[arg-type]

    def _callback(self, outdata: np.ndarray, frames: int, timing: Any, status: Any) -> None:
        now = self.clock.now()
        filled = 0
        with self._lock:
            self._anchor = (now, self.played)
            while filled < frames and self._chunks:
                chunk = self._chunks[0]
                k = min(frames - filled, len(chunk))
                outdata[filled:filled + k] = chunk[:k, :self.channels]
                filled += k
                if k == len(chunk):
                    self._chunks.popleft()
                else:
                    self._chunks[0] = chunk[k:]
            self.played += filled
            self._buffered -= filled
        outdata[filled:] = 0
        self._last_callback = time.monotonic()

    def room(self) -> bool:
        return self._buffered < self.DEPTH * self.block

    def stalled(self) -> bool:
        return time.monotonic() - self._last_callback > self.STALL_SECONDS

    def push(self, data: np.ndarray) -> None:
        chunk = np.ascontiguousarray(data, dtype=np.float32)
        with self._lock:
            self._chunks.append(chunk)
            self._buffered += len(chunk)

    def heard(self, t: float) -> float:
        """When the sample at stream time ``t`` is (or was) heard, from the latest callback."""
        at, played = self._anchor
        return at + self.latency + (t * self.samplerate - played) / self.samplerate

    def close(self) -> None:
        try:
            self._stream.stop()
            self._stream.close()
        except Exception:                       # a device that vanished fails its own close
            log.debug("audio: closing the output failed", exc_info=True)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]
