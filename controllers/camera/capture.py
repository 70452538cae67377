"""Camera capture: OpenCV on its own thread, the newest frame wins; and video files read frame-exactly by time.

:class:`CameraCapture` opens a camera by index (``0``), a video file (looped, paced at its own frame rate, the
rehearsal stand-in for a camera) or a stream URL (``rtsp://…``, ``http://…``), and keeps only the newest frame:
the engine asks for :meth:`CameraCapture.latest` whenever it wants one and never waits. A camera that stops
delivering is reported, and opened again after 1, 2, 4 … 30 s until it comes back.

:class:`VideoFrames` is the offline reader: ``frame_at(t)`` is the file's frame shown at time ``t`` (looped),
whatever order it is asked in, so a render with a camera file is repeatable.

Privacy: frames live in memory only; nothing here writes one to disk.

    camera = CameraCapture(0, size=(1280, 720), fps=30)
    camera.start()
    newest = camera.latest()                     # (frame BGR uint8, its number, its time) or None
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time

import cv2
import numpy as np

from controllers.background import Background

log = logging.getLogger(__name__)

RETRY_FIRST, RETRY_MAX = 1.0, 30.0
STALL_SECONDS = 3.0             # an open camera that gives nothing this long is reopened
OPEN_SECONDS = 5.0              # a stream URL that does not answer this long counts as not there
MAX_SIDE = 8192                 # a frame larger than this is refused (a stream lying about itself)
VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v")


@dataclasses.dataclass(frozen=True)
class Captured:
    frame: np.ndarray            # BGR uint8 [H, W, 3]
    number: int                  # frames captured since start (gaps mean frames nobody took)
    time: float                  # time.monotonic() when it arrived


def parse_source(text: str | int) -> int | str:
    """A camera index (``0``), a video file, or a stream URL; ValueError otherwise."""
    if isinstance(text, int) or (isinstance(text, str) and text.isdigit()):
        index = int(text)
        if not 0 <= index < 64:
            raise ValueError(f"a camera index is 0..63, got {index}")
        return index
    if not isinstance(text, str) or not 0 < len(text) <= 1000 or not text.isprintable():
        raise ValueError(f"expected a camera index, a video file or a stream URL, got {str(text)[:60]!r}")
    if "://" in text:
        if not text.split("://", 1)[0] in ("rtsp", "rtsps", "http", "https", "udp", "tcp", "rtmp"):
            raise ValueError(f"{text[:60]}: a stream URL starts with rtsp://, http(s)://, udp://, tcp:// or rtmp://")
        return text
    if not text.lower().endswith(VIDEO_EXTENSIONS):
        raise ValueError(f"{text[:60]}: expected a camera index, a stream URL or a video file "
                         f"({', '.join(VIDEO_EXTENSIONS)})")
    return text


class CameraCapture:
    """One camera on its own thread (see the module docstring)."""

    def __init__(self,
                 source: int | str,
                 size: tuple[int, int] | None = None,     # asked of the camera (it may give another)
                 fps: float | None = None,                # asked of a camera; a file plays at its own
                 loop: bool = True,                       # a file starts again at its end
                 ) -> None:
        self.source = parse_source(source)
        self.size, self.fps, self.loop = size, fps, loop
        self.is_file = isinstance(self.source, str) and "://" not in self.source
        self._lock = threading.Lock()
        self._latest: Captured | None = None
        self._worker = Background("camera")
        self.frames = 0
        self.reopened = 0
        self.problem: str | None = None
        self.connected: str | None = None
        self._logged: str | None = None

    def start(self) -> None:
        self._worker.start(self._run)

    def stop(self) -> None:
        self._worker.stop()

    def latest(self) -> Captured | None:
        """The newest frame (None before the first)."""
        with self._lock:
            return self._latest

    def status(self) -> str:
        if self.problem:
            return f"camera: {self.problem}"
        return f"camera: {self.connected or 'starting'}, {self.frames} frames"

    def _report(self, problem: str | None) -> None:
        self.problem = problem
        if problem != self._logged:
            (log.info if problem is None else log.warning)("camera: %s", problem or self.connected)
            self._logged = problem

    def _run(self) -> None:
        wait = RETRY_FIRST
        while not self._worker.stopped():
            try:
                delivered = self._capture()
            except Exception as exc:               # never out of the thread: reported, and tried again
                log.debug("camera failed", exc_info=True)
                delivered, text = False, str(exc).strip().splitlines()
                self._report(f"{self.source}: {(text[0] if text else type(exc).__name__)[:160]}")
            if self._worker.stopped():
                return
            if delivered and self.is_file and not self.loop:
                return                              # a file played once has simply ended
            if delivered:
                wait = RETRY_FIRST
            self.problem = f"{self.problem or f'{self.source}: stopped'} (trying again in {wait:.0f} s)"
            if self._worker.wait(wait):
                return
            wait = min(wait * 2, RETRY_MAX)
            self.reopened += 1

    def _capture(self) -> bool:
        """Open the source and take frames until it fails or stalls; True if any frame came."""
        if self.is_file and not os.path.isfile(str(self.source)):
            self._report(f"{self.source}: no such video file")
            return False
        if isinstance(self.source, str) and not self.is_file and cv2.videoio_registry.hasBackend(cv2.CAP_FFMPEG):
            # FFmpeg's own read timeout is 30 s; a stream that hangs (a sender that stops sending but keeps the
            # connection) must come back as a failed read within the stall time, so it can be reopened. (An
            # OpenCV built without FFmpeg opens streams with whatever backend it has, below.)
            capture = cv2.VideoCapture(self.source, cv2.CAP_FFMPEG,
                                       [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(OPEN_SECONDS * 1000),
                                        cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(STALL_SECONDS * 1000)])
        else:
            capture = cv2.VideoCapture(self.source)
        delivered = False
        try:
            if not capture.isOpened():
                self._report(f"{self.source}: cannot be opened")
                return False
            if not self.is_file:
                if self.size is not None:
                    capture.set(cv2.CAP_PROP_FRAME_WIDTH, self.size[0])
                    capture.set(cv2.CAP_PROP_FRAME_HEIGHT, self.size[1])
                if self.fps is not None:
                    capture.set(cv2.CAP_PROP_FPS, self.fps)
            rate = capture.get(cv2.CAP_PROP_FPS)
            period = 1.0 / rate if self.is_file and 1 <= rate <= 240 else 0.0
            self.connected = f"{self.source} ({'file, ' if self.is_file else ''}{rate:.0f} fps)"
            self._report(None)
            started, shown, last = time.monotonic(), 0, time.monotonic()
            while not self._worker.stopped():
                ok, frame = capture.read()
                if not ok or frame is None:
                    if self.is_file and self.loop and delivered:
                        capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
                        ok, frame = capture.read()
                    if not ok or frame is None:
                        if time.monotonic() - last > STALL_SECONDS or self.is_file:
                            self._report(f"{self.source}: " + ("ended" if self.is_file else "stopped delivering"))
                            return delivered
                        time.sleep(0.01)
                        continue
                if frame.ndim != 3 or max(frame.shape[:2]) > MAX_SIDE:
                    self._report(f"{self.source}: a frame of {list(frame.shape)}; expected at most "
                                 f"{MAX_SIDE}x{MAX_SIDE} colour")
                    return delivered
                last = time.monotonic()
                delivered = True
                self.frames += 1
                with self._lock:
                    self._latest = Captured(frame, self.frames, last)
                if period:                              # a file: at its own rate, as a camera would deliver it
                    shown += 1
                    self._worker.wait(max(0.0, started + shown * period - time.monotonic()))
            return delivered
        finally:
            capture.release()


class VideoFrames:
    """A video file's frames by time, looped: frame ``floor(t * fps)`` (mod its length) at time ``t``."""

    def __init__(self, path: str) -> None:
        if not os.path.isfile(path):
            raise ValueError(f"{path}: no such video file")
        self.path = path
        self._capture = cv2.VideoCapture(path)
        if not self._capture.isOpened():
            raise ValueError(f"{path}: not a video OpenCV can read")
        self.fps = float(self._capture.get(cv2.CAP_PROP_FPS))
        self.count = int(self._capture.get(cv2.CAP_PROP_FRAME_COUNT))
        if not (1 <= self.fps <= 240 and self.count > 0):
            raise ValueError(f"{path}: {self.fps:g} fps and {self.count} frames; expected a video of 1..240 fps")
        self._next = 0                       # the index the capture reads next
        self._frame: np.ndarray | None = None
        self._index = -1

    def index_at(self, t: float) -> int:
        return int(np.floor(max(t, 0.0) * self.fps + 1e-6)) % self.count

    def frame_at(self, t: float) -> np.ndarray:
        """The frame shown at ``t`` (BGR uint8); reads forward, and from the start again when asked back."""
        index = self.index_at(t)
        if index == self._index and self._frame is not None:
            return self._frame
        if index < self._next:
            self._capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
            self._next = 0
        while self._next <= index:
            ok, frame = self._capture.read()
            if not ok or frame is None:      # shorter than its header said: the last frame read stands
                self.count = max(1, self._next)
                break
            self._frame, self._index = frame, self._next
            self._next += 1
        if self._frame is None:
            raise ValueError(f"{self.path}: no frame could be read")
        return self._frame

    def close(self) -> None:
        self._capture.release()
