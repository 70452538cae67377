"""Audio files (controllers/audio/files.py): every format soundfile claims, read block by block, and the
hostile ones refused in one line or read safely."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from controllers.audio.analysis import AnalysisSettings
from controllers.audio.files import AudioFileError, analyse_file, probe, read_blocks
from tests.controllers.audio_signals import SR, click_track


@pytest.mark.parametrize("extension, options", [("wav", {"subtype": "PCM_16"}), ("flac", {}),
                                                ("ogg", {"subtype": "VORBIS"}), ("mp3", {"format": "MP3"})])
def test_each_format_reads_and_gives_the_clicks(tmp_path, extension, options):
    import soundfile
    x, clicks = click_track(120.0, 5.0, sr=44_100, drone=0.05)
    path = str(tmp_path / f"clicks.{extension}")
    soundfile.write(path, x, 44_100, **options)
    info = probe(path)
    assert info.samplerate == 44_100 and info.channels == 1 and abs(info.duration - 5.0) < 0.1
    onsets = [f.time for f in analyse_file(info) if f.onset and f.time > 0.2]
    assert len(onsets) == len(clicks)                       # lossy codecs too: every click, nothing else
    assert all(0 <= o - c < 0.045 for o, c in zip(onsets, clicks))


def test_blocks_stop_at_the_declared_length_and_carry_every_channel(tmp_path):
    import soundfile
    stereo = np.stack([np.linspace(-1, 1, 5000), np.zeros(5000)], axis=1).astype(np.float32)
    path = str(tmp_path / "s.wav")
    soundfile.write(path, stereo, SR, subtype="FLOAT")
    blocks = list(read_blocks(probe(path), 1024))
    assert [b.shape for b in blocks] == [(1024, 2)] * 4 + [(904, 2)]
    assert np.array_equal(np.concatenate(blocks), stereo)
    with pytest.raises(ValueError, match="block"):
        next(read_blocks(probe(path), 4))


def _wav_header(frames: int, channels: int = 1, rate: int = SR, bits: int = 16) -> bytes:
    data = frames * channels * bits // 8
    return (b"RIFF" + struct.pack("<I", 36 + data) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, channels, rate,
            rate * channels * bits // 8, channels * bits // 8, bits) + b"data" + struct.pack("<I", data))


def test_a_header_that_promises_more_than_the_file_holds_reads_what_is_there(tmp_path):
    path = tmp_path / "liar.wav"
    path.write_bytes(_wav_header(SR * 60) + np.zeros(SR, np.int16).tobytes())   # says 60 s, holds 1 s
    info = probe(str(path))
    total = sum(len(b) for b in read_blocks(info, 1024))
    assert total <= SR * 60
    frames = list(analyse_file(info))
    assert all(np.isfinite(f.values).all() for f in frames)


@pytest.mark.parametrize("name, data, words", [
    ("missing.wav", None, "no such audio file"),
    ("notes.txt", b"hello", "expected an audio file"),
    ("noise.wav", b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk" * 8, "not an audio file soundfile can read"),
    ("empty.wav", _wav_header(0), "expected 0 < length"),
    ("rate.wav", _wav_header(100, rate=1000) + bytes(200), "sample rate 1000 Hz"),
    ("wide.wav", _wav_header(10, channels=200) + bytes(4000), "channels"),
])
def test_hostile_files_are_refused_in_one_line_naming_the_file(tmp_path, name, data, words):
    path = tmp_path / name
    if data is not None:
        path.write_bytes(data)
    with pytest.raises(AudioFileError) as refused:
        probe(str(path))
    message = str(refused.value)
    assert str(path) in message and words in message and "\n" not in message


def test_float_files_full_of_nan_and_inf_give_finite_features(tmp_path):
    import soundfile
    x = np.zeros(SR * 2, np.float32)
    x[::3] = np.nan
    x[1::5] = np.inf
    x[2::7] = -1e30
    path = str(tmp_path / "poison.wav")
    soundfile.write(path, x, SR, subtype="FLOAT")
    frames = list(analyse_file(probe(path), AnalysisSettings(samplerate=SR)))
    assert frames and all(np.isfinite(f.values).all() for f in frames)
