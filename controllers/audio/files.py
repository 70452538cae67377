"""Audio files: checked before use, then read block by block (never whole into memory), through soundfile.

soundfile (libsndfile, bundled in its wheel) reads WAV, FLAC, OGG/Vorbis, Opus, MP3 and AIFF with no system
package. A file is untrusted: :func:`probe` refuses what is not audio, a sample rate outside 8..192 kHz, more
than 32 channels or more than six hours, in one line naming the file; :func:`read_blocks` stops at the length
the header declared, whatever the data goes on to say.

    info = probe("track.wav")                  # AudioFileError in one line if it is not a usable track
    for block in read_blocks(info, 1024): ...  # [1024, channels] float32
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator

import numpy as np

from controllers.audio.analysis import MAX_SAMPLERATE, MIN_SAMPLERATE, AnalysisSettings, AudioAnalyzer, FeatureFrame

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff")
MAX_SECONDS = 6 * 3600          # a longer "track" is a mistake (or a file lying about itself)
MAX_CHANNELS = 32
MAX_BYTES = 4 * 2 ** 30


class AudioFileError(Exception):
    """An audio file that cannot be used: one line naming the file and what was expected."""


@dataclasses.dataclass(frozen=True)
class AudioInfo:
    path: str
    samplerate: int
    channels: int
    frames: int                  # as the header says (MP3: libsndfile's estimate)
    format: str

    @property
    def duration(self) -> float:
        return self.frames / self.samplerate


def probe(path: str) -> AudioInfo:
    """What the file is, checked; AudioFileError otherwise."""
    import soundfile
    if not os.path.isfile(path):
        raise AudioFileError(f"{path}: no such audio file")
    if not path.lower().endswith(AUDIO_EXTENSIONS):
        raise AudioFileError(f"{path}: expected an audio file ({', '.join(AUDIO_EXTENSIONS)})")
    if os.path.getsize(path) > MAX_BYTES:
        raise AudioFileError(f"{path}: larger than {MAX_BYTES // 2 ** 30} GiB; expected a track")
    try:
        info = soundfile.info(path)
    except (RuntimeError, OSError, ValueError) as exc:      # soundfile.LibsndfileError is a RuntimeError
        raise AudioFileError(f"{path}: not an audio file soundfile can read ({_first_line(exc)})") from None
    if not MIN_SAMPLERATE <= int(info.samplerate) <= MAX_SAMPLERATE:
        raise AudioFileError(f"{path}: sample rate {info.samplerate} Hz; expected {MIN_SAMPLERATE}..{MAX_SAMPLERATE}")
    if not 1 <= int(info.channels) <= MAX_CHANNELS:
        raise AudioFileError(f"{path}: {info.channels} channels; expected 1..{MAX_CHANNELS}")
    frames = int(info.frames)
    if not 0 < frames <= MAX_SECONDS * int(info.samplerate):
        raise AudioFileError(f"{path}: {frames / info.samplerate:.0f} s of audio; expected 0 < length <= "
                             f"{MAX_SECONDS // 3600} h")
    return AudioInfo(path, int(info.samplerate), int(info.channels), frames, str(info.format))


def read_blocks(info: AudioInfo, block: int, start: int = 0) -> Iterator[np.ndarray]:
    """[block, channels] float32 blocks from frame ``start`` (the last one shorter), up to the declared length;
    AudioFileError naming the position if the data is broken."""
    import soundfile
    if not 16 <= block <= 1 << 16:
        raise ValueError(f"block must be 16..65536 frames, got {block}")
    position = start
    try:
        with soundfile.SoundFile(info.path) as f:
            if start:
                f.seek(start)
            while position < info.frames:
                data = f.read(min(block, info.frames - position), dtype="float32", always_2d=True)
                if not len(data):
                    return
                position += len(data)
                yield data
    except (RuntimeError, OSError, ValueError) as exc:
        raise AudioFileError(f"{info.path}: unreadable at {position / info.samplerate:.2f} s "
                             f"({_first_line(exc)})") from None


def analyse_file(info: AudioInfo, settings: AnalysisSettings | None = None, block: int = 1024
                 ) -> Iterator[FeatureFrame]:
    """Every hop's features of a whole file, in order (the live path's analysis, fed as fast as it goes)."""
    analyzer = AudioAnalyzer(settings or AnalysisSettings(samplerate=info.samplerate))
    for data in read_blocks(info, block):
        yield from analyzer.process(data)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
