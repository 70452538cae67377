"""Live audio: an input device (sounddevice), or a file played out loud for rehearsal, analysed as it goes.

Both controllers run the analysis of controllers.audio.analysis on their own thread (never in the audio
callback, which only copies the block) and post what it finds as ``audio.*`` sources and ``audio.onset`` /
``audio.beat`` pulses (controllers.audio.features.frame_events: the same events an offline render routes).

    AudioInput(device="USB Audio", samplerate=48000)        # --audio-in "USB Audio"
    FilePlayback("track.flac", loop=True)                   # --audio track.flac (live: played, and analysed)

Faults never stop the show: a device that is missing, fails to open or stops delivering blocks is reported
(log, HUD status) and opened again, after 1, 2, 4 … up to 30 seconds; meanwhile the sources go stale and the
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
from controllers.base import Controller, Post
from engine.clock import Clock
from engine.inputs import InputEvent

log = logging.getLogger(__name__)

RETRY_FIRST, RETRY_MAX = 1.0, 30.0      # seconds between attempts to (re)open a device, doubling
STALL_SECONDS = 2.0                     # an open stream that delivers nothing this long is reopened

Tap = Callable[[FeatureFrame], None]


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
        self._stop.set()
        child = self._child
        if child is not None and child.is_alive():
            child.terminate()
        super().stop()

    def _run(self) -> None:
        wait = RETRY_FIRST
        while not self._stop.is_set():
            heard = self._listen()
            if self._stop.is_set():
                return
            if heard:                               # it ran: the next failure starts the backoff again
                wait = RETRY_FIRST
            self._report(self.problem_text or "the input stopped", retry=wait)
            if self._stop.wait(wait):
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
            child.start()
            self._child = child
            child_end.close()
            last = time.monotonic()
            while not self._stop.is_set():
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
            child.join(1.0)
            if child.is_alive():
                child.terminate()
                child.join(2.0)
            if child.is_alive():
                child.kill()
                child.join(2.0)
            parent.close()
            self._child = None
        return heard


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

    def _open_output(self, info: AudioInfo) -> _CallbackOutput | None:
        if not (self.play and self.realtime):
            return None
        try:
            return _CallbackOutput(info.samplerate, min(info.channels, 2), self.block)
        except Exception as exc:                    # no output device: analysed in silence, on the clock
            self._report(f"no sound output ({_short(exc)}); analysing in silence")
            return None

    def _play(self, info: AudioInfo) -> None:
        assert self._clock is not None and self._post is not None
        clock, post = self._clock, self._post
        stream = self._open_output(info)
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
                stream.close()

    def _emit(self, data: np.ndarray, stream: Any, start: float, written: int, info: AudioInfo,
              schedule: _Schedule) -> None:
        """Play one block (or wait for its time on the clock) and post what is due by then."""
        assert self._clock is not None and self._post is not None
        if stream is not None:
            stream.write(data)                                    # waits while the output is full
        elif self.realtime:
            due = start + (written + len(data)) / info.samplerate
            while not self._stop.is_set() and (delay := due - self._clock.now()) > 0:
                schedule.post_due(self._clock.now(), self._post)
                time.sleep(min(delay, 0.01, max(0.0, schedule.next_due() - self._clock.now())) or 0.001)
        schedule.post_due(self._clock.now() if self.realtime else math.inf, self._post)


class _CallbackOutput:
    """A sounddevice output in callback mode, fed from a short queue (PortAudio's blocking ``write`` corrupts
    the heap on JACK here): :meth:`write` waits while the queue is full, so the reader is paced by the sound
    card; the callback plays silence when the queue runs dry (a late reader is a gap, never a glitch loop)."""

    DEPTH = 4                                   # blocks queued ahead of the sound card

    def __init__(self, samplerate: int, channels: int, block: int) -> None:
        import queue

        import sounddevice as sd
        self.channels, self.block = channels, block
        self._queue: queue.Queue[np.ndarray] = queue.Queue(maxsize=self.DEPTH)
        self._stream = sd.OutputStream(samplerate=samplerate, channels=channels, blocksize=block,
                                       dtype="float32", callback=self._callback)
        self._stream.start()
        self.latency = float(self._stream.latency)   # type: ignore[arg-type]

    def _callback(self, outdata: np.ndarray, frames: int, timing: Any, status: Any) -> None:
        try:
            data = self._queue.get_nowait()
        except Exception:                       # queue.Empty: silence this period
            outdata.fill(0)
            return
        n = min(frames, len(data))
        outdata[:n] = data[:n, :self.channels]
        outdata[n:] = 0

    def write(self, data: np.ndarray) -> None:
        """Queue one block; TimeoutError if the output has stopped taking blocks."""
        import queue
        try:
            self._queue.put(np.ascontiguousarray(data, dtype=np.float32), timeout=2.0)
        except queue.Full:
            raise TimeoutError("the sound output stopped taking blocks") from None

    def close(self) -> None:
        try:
            self._stream.stop()
            self._stream.close()
        except Exception:                       # a device that vanished fails its own close
            log.debug("audio: closing the output failed", exc_info=True)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]
