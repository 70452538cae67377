"""Frame sinks for offline renders: H.264 MP4 through ffmpeg, or a numbered PNG sequence.

Both take [H, W, 3] uint8 RGB frames. The MP4 sink streams raw frames into the ffmpeg binary that
``imageio-ffmpeg`` bundles (libx264, yuv420p: plays everywhere), so encoding runs in another process, in
parallel with the generator.

    sink = open_sink("walk.mp4", fps=30, size=(1280, 720))
    sink.write(frame); sink.close()
"""

from __future__ import annotations

import abc
import logging
import math
import os
import re
from types import TracebackType

import cv2
import numpy as np

log = logging.getLogger(__name__)

VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv")


class OutputError(Exception):
    """An output that cannot be written; the message names the path and the reason."""


class FrameSink(abc.ABC):
    """Something frames are written to, in order."""

    def __init__(self, path: str, fps: float, size: tuple[int, int]) -> None:
        self.path, self.fps, self.size = path, fps, size
        self.frames_written = 0

    def write(self, frame: np.ndarray) -> None:
        width, height = self.size
        if frame.shape != (height, width, 3) or frame.dtype != np.uint8:
            raise ValueError(f"expected a [{height}, {width}, 3] uint8 frame, got {list(frame.shape)} {frame.dtype}")
        self._write(frame)
        self.frames_written += 1

    @abc.abstractmethod
    def _write(self, frame: np.ndarray) -> None: ...

    @abc.abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> FrameSink:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class Mp4Sink(FrameSink):
    """H.264 in MP4 (yuv420p), through the bundled ffmpeg. ``crf`` is x264's quality: lower is better."""

    def __init__(self, path: str, fps: float, size: tuple[int, int], crf: int = 18) -> None:
        super().__init__(path, fps, size)
        import imageio_ffmpeg
        width, height = size
        if width % 2 or height % 2:
            raise OutputError(f"{path}: H.264 with yuv420p needs an even width and height, got {width}x{height}")
        self._writer = imageio_ffmpeg.write_frames(
            path, size, fps=fps, codec="libx264", pix_fmt_in="rgb24", pix_fmt_out="yuv420p",
            quality=None, macro_block_size=2, ffmpeg_log_level="error",
            output_params=["-crf", str(int(crf))])
        try:
            self._writer.send(None)  # starts ffmpeg
        except (OSError, RuntimeError) as exc:
            raise OutputError(f"{path}: cannot start the video encoder ({_first_line(exc)})") from None

    def _write(self, frame: np.ndarray) -> None:
        try:
            self._writer.send(np.ascontiguousarray(frame))
        except (OSError, RuntimeError) as exc:
            raise OutputError(f"{self.path}: the video encoder failed ({_first_line(exc)})") from None

    def close(self) -> None:
        try:
            self._writer.close()
        except (OSError, RuntimeError) as exc:
            raise OutputError(f"{self.path}: the video encoder failed at the end ({_first_line(exc)})") from None


def _first_line(exc: BaseException) -> str:
    """imageio-ffmpeg errors carry the whole ffmpeg command and log; keep the line that says what failed."""
    return next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)


class PngSequenceSink(FrameSink):
    """Numbered PNG files: ``frames/%05d.png`` patterns, or a directory (files ``00000.png``, …)."""

    def __init__(self, path: str, fps: float, size: tuple[int, int]) -> None:
        super().__init__(path, fps, size)
        self.pattern = path if "%" in path else os.path.join(path, "%05d.png")

    def _write(self, frame: np.ndarray) -> None:
        name = self.pattern % self.frames_written
        if not cv2.imwrite(name, cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)):
            raise OutputError(f"{name}: could not write the PNG file")

    def close(self) -> None:
        pass


_PATTERN_FIELD = re.compile(r"%(%|[-0 +#]{0,2}\d{0,2}d)")   # %d, %05d … at most 99 wide


def check_output_path(path: str) -> str:
    """Which sink ``path`` asks for ("video" or "png"), checked without writing anything: a known type, a
    numbered pattern with exactly one integer field in the file name, a folder that exists or can be made
    and is writable. OutputError with the reason otherwise."""
    if not path or "\x00" in path:
        raise OutputError(f"{path!r}: not a file name")
    is_video = path.lower().endswith(VIDEO_EXTENSIONS)
    is_png = (path.lower().endswith(".png") or os.path.isdir(path) or path.endswith(os.sep) or "%" in path
              or not os.path.splitext(path)[1])  # a name without extension: a folder of PNG files
    if not is_video and not is_png:
        raise OutputError(f"{path}: unknown output type; use a .mp4/.mov/.mkv file, a frames/%05d.png pattern "
                          "or a directory (PNG sequence)")
    if "%" in path:
        if is_video or "%" in os.path.dirname(path):
            raise OutputError(f"{path}: a numbered pattern belongs in a PNG file name, like frames/%05d.png")
        fields = [m.group(1) for m in _PATTERN_FIELD.finditer(path)]
        numbered = [f for f in fields if f != "%"]
        if len(numbered) != 1 or path.count("%") != 2 * (len(fields) - 1) + 1:
            raise OutputError(f"{path}: the pattern needs exactly one frame-number field such as %05d (write %% for "
                              "a literal %)")
    elif is_png and path.lower().endswith(".png"):
        raise OutputError(f"{path}: a PNG sequence needs a numbered pattern such as frames/%05d.png")
    folder = os.path.dirname(os.path.abspath(path)) if is_video or "%" in path else os.path.abspath(path)
    probe = folder
    while not os.path.exists(probe):
        probe = os.path.dirname(probe)
    if not os.path.isdir(probe) or not os.access(probe, os.W_OK):
        raise OutputError(f"{path}: cannot write there ({probe} is not a writable folder)")
    if is_video and os.path.isdir(path):
        raise OutputError(f"{path}: is a directory, expected a video file name")
    return "video" if is_video else "png"


def open_sink(path: str, fps: float, size: tuple[int, int], crf: int = 18) -> FrameSink:
    """An MP4 sink for video extensions, else a PNG sequence; checks the location is writable first."""
    if not (fps > 0 and math.isfinite(fps)):
        raise OutputError(f"fps must be a positive number, got {fps}")
    kind = check_output_path(path)
    folder = os.path.dirname(os.path.abspath(path)) if kind == "video" or "%" in path else os.path.abspath(path)
    try:  # ffmpeg would only say so later, on its own stderr; ask the file system now
        os.makedirs(folder, exist_ok=True)
        if kind == "video":
            open(path, "wb").close()
    except OSError as exc:
        raise OutputError(f"{path}: cannot write there ({exc.strerror or exc})") from None
    if kind == "video":
        return Mp4Sink(path, fps, size, crf)
    return PngSequenceSink(path, fps, size)


def mux_audio(video: str, audio: str, seconds: float, bitrate: str = "192k") -> None:
    """Put ``audio`` into the finished ``video`` as an AAC track of exactly ``seconds`` (cut, or padded with
    silence), the video stream copied as it is; the file is replaced only once ffmpeg has succeeded."""
    import subprocess

    import imageio_ffmpeg
    if not (math.isfinite(seconds) and seconds > 0):
        raise OutputError(f"{video}: cannot add a sound track of {seconds} s")
    import tempfile
    folder, name = os.path.split(os.path.abspath(video))
    handle, partial = tempfile.mkstemp(prefix=f".{name}.", suffix=os.path.splitext(name)[1], dir=folder)
    os.close(handle)                            # a name of our own beside the video (ffmpeg writes it)
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-nostdin", "-i", video, "-i", audio,
               "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy", "-c:a", "aac", "-b:a", bitrate, "-ac", "2",
               "-af", "apad", "-t", f"{seconds:.6f}", "-movflags", "+faststart", partial]
    try:
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=max(120.0, seconds * 2))
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise OutputError(f"{video}: adding the sound track failed ({exc})") from None
        if done.returncode != 0:
            reason = next((line for line in done.stderr.splitlines() if line.strip()),
                          f"ffmpeg exit {done.returncode}")
            raise OutputError(f"{video}: adding the sound track from {audio} failed ({reason[:200]})")
        os.replace(partial, video)
    finally:
        if os.path.exists(partial):
            os.remove(partial)


def fit_frame(frame: np.ndarray, size: tuple[int, int], mode: str = "fill") -> np.ndarray:
    """Resize an [H, W, 3] frame to ``size`` = (width, height).

    ``fill`` scales to cover and crops the centre (no bars), ``fit`` scales to fit inside and pads with black
    (letterbox), ``stretch`` ignores the aspect ratio.
    """
    width, height = size
    h, w = frame.shape[:2]
    if (w, h) == (width, height):
        return frame
    if mode == "stretch":
        return _resize(frame, width, height)
    if mode not in ("fill", "fit"):
        raise ValueError(f"fit mode must be fill, fit or stretch, got {mode!r}")
    scale = max(width / w, height / h) if mode == "fill" else min(width / w, height / h)
    sw, sh = max(1, round(w * scale)), max(1, round(h * scale))
    resized = _resize(frame, sw, sh)
    if mode == "fill":
        x0, y0 = (sw - width) // 2, (sh - height) // 2
        return np.ascontiguousarray(resized[y0:y0 + height, x0:x0 + width])
    out = np.zeros((height, width, 3), dtype=np.uint8)
    x0, y0 = (width - sw) // 2, (height - sh) // 2
    out[y0:y0 + sh, x0:x0 + sw] = resized
    return out


def _resize(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    shrinking = width * height < frame.shape[0] * frame.shape[1]
    return cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LANCZOS4)
