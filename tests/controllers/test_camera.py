"""Camera input (controllers/camera/): capture from real video files through cv2.VideoCapture (the stand-in for
a webcam) and from a real MJPEG stream over HTTP (the network cameras installations use), sources that go
away and come back, frame-exact offline reading, the pre-processing steps and the camera.* features on moving
and still test patterns."""

from __future__ import annotations

import http.server
import os
import socketserver
import threading
import time

import cv2
import numpy as np
import pytest

import controllers.camera.capture as capture_module
from controllers.camera.capture import CameraCapture, VideoFrames, parse_source
from controllers.camera.features import CameraFeatures
from controllers.camera.live import CameraInput
from controllers.camera.pipeline import CameraPipeline
from controllers.camera.preprocess import Preprocess, square
from engine.clock import WallClock
from tests.conftest import wait_for

W, H = 160, 120


def pattern(i: int, moving: bool = True, counting: bool = True) -> np.ndarray:
    """Frame ``i``: a grey level that counts frames (8 per step; or a plain grey) and a white square moving
    right (or standing still)."""
    frame = np.full((H, W, 3), (i * 8) % 200 + 20 if counting else 60, np.uint8)
    x = 10 + (i * 4) % 120 if moving else 40
    frame[50:70, x:x + 20] = 255
    return frame


def write_video(path: str, frames: list[np.ndarray], fps: float = 25.0) -> str:
    import imageio_ffmpeg
    writer = imageio_ffmpeg.write_frames(path, (W, H), fps=fps, codec="libx264", pix_fmt_in="rgb24",
                                         pix_fmt_out="yuv420p", macro_block_size=8, ffmpeg_log_level="error",
                                         output_params=["-crf", "1", "-g", "1"])
    writer.send(None)
    for frame in frames:
        writer.send(np.ascontiguousarray(frame[..., ::-1]))
    writer.close()
    return path


def counted(frame: np.ndarray) -> int:
    """The frame number a pattern frame carries (its grey level), modulo 25."""
    return round((float(frame[5:20, 5:20].mean()) - 20) / 8) % 25


def test_a_video_file_plays_at_its_rate_and_the_newest_frame_wins(tmp_path):
    path = write_video(str(tmp_path / "room.mp4"), [pattern(i) for i in range(50)])
    camera = CameraCapture(path)
    camera.start()
    try:
        first = wait_for(camera.latest, 10, "a frame")
        wait_for(lambda: camera.frames >= 30, 10, "frames at 25 fps")
        newest = camera.latest()
        assert newest is not None and newest.number > first.number
        assert newest.frame.shape == (H, W, 3) and newest.frame.dtype == np.uint8
        wait_for(lambda: camera.frames > 55, 10, "the file looping")         # 50 frames, then again
        assert "file" in camera.status() and camera.problem is None
    finally:
        camera.stop()


def test_a_camera_that_is_missing_is_reported_and_found_when_it_comes(tmp_path):
    path = str(tmp_path / "later.mp4")
    camera = CameraCapture(path)
    camera.start()
    try:
        wait_for(lambda: camera.problem and "no such video file" in camera.problem, 10, "the report")
        assert "trying again" in camera.status()
        write_video(str(tmp_path / "tmp.mp4"), [pattern(i) for i in range(20)])
        os.replace(tmp_path / "tmp.mp4", path)                              # it appears: found on a retry
        wait_for(camera.latest, 15, "frames once it is there")
        assert camera.reopened >= 1
    finally:
        camera.stop()


class MjpegCamera(socketserver.ThreadingMixIn, http.server.HTTPServer):
    """A network camera on 127.0.0.1: multipart JPEG over HTTP at 25 fps, as IP cameras and phone apps send
    it. ``freeze()`` makes it stop sending while keeping the connection open (a hung camera) and refuse new
    ones with 503; ``thaw()`` ends the frozen connections and serves again."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        self.frozen = threading.Event()
        self.sent = 0
        super().__init__(("127.0.0.1", 0), _MjpegHandler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/stream.mjpg"

    def freeze(self) -> None:
        self.frozen.set()

    def thaw(self) -> None:
        self.frozen.clear()

    def close(self) -> None:
        self.shutdown()
        self.server_close()


class _MjpegHandler(http.server.BaseHTTPRequestHandler):
    server: MjpegCamera

    def do_GET(self) -> None:
        if self.server.frozen.is_set():
            self.send_error(503)
            return
        self.send_response(200)
        self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
        self.end_headers()
        try:
            while not self.server.frozen.is_set():
                ok, jpeg = cv2.imencode(".jpg", pattern(self.server.sent)[..., ::-1])
                self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n"
                                 % len(jpeg) + jpeg.tobytes() + b"\r\n")
                self.server.sent += 1
                time.sleep(0.04)
            while self.server.frozen.is_set():         # hung: the connection stays open, nothing comes
                time.sleep(0.05)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *args: object) -> None:
        pass


def test_a_stream_that_hangs_is_reported_its_layer_fades_and_it_is_found_again(monkeypatch):
    monkeypatch.setattr(capture_module, "STALL_SECONDS", 1.0)
    server = MjpegCamera()
    camera = CameraInput(server.url, CameraPipeline(Preprocess(size=64)))
    camera.start(lambda event: None, WallClock())
    try:
        wait_for(lambda: camera.capture.frames >= 10 and camera.layer() is not None, 20, "frames from the stream")
        assert camera.capture.problem is None and "http://127.0.0.1" in camera.status()
        server.freeze()                                  # hung: no frames, the connection still open
        wait_for(lambda: camera.capture.problem and "stopped delivering" in camera.capture.problem, 10,
                 "the stall reported")
        wait_for(lambda: camera.layer() is None, 10, "the layer going (it fades rather than freezing)")
        frames = camera.capture.frames
        time.sleep(1.5)
        assert camera.capture.frames == frames and "trying again" in camera.capture.status()
        server.thaw()
        wait_for(lambda: camera.capture.frames > frames + 10 and camera.layer() is not None, 40, "found again")
        assert camera.capture.problem is None and camera.capture.reopened >= 1
    finally:
        camera.stop()
        server.close()


def test_offline_frames_by_time_are_exact_in_any_order(tmp_path):
    path = write_video(str(tmp_path / "v.mp4"), [pattern(i) for i in range(25)], fps=25)
    frames = VideoFrames(path)
    assert frames.count == 25 and frames.fps == pytest.approx(25)
    seen = [counted(frames.frame_at(t)) for t in (0.0, 0.2, 0.4, 0.04, 0.999, 1.0, 1.2)]
    assert seen == [0, 5, 10, 1, 24, 0, 5]                                # looped, and backwards too
    again = VideoFrames(path)
    assert all(np.array_equal(frames.frame_at(t), again.frame_at(t)) for t in (0.5, 0.1, 0.9))
    frames.close()
    again.close()


@pytest.mark.parametrize("text, words", [("-1", "camera index"), ("99", "0..63"), ("ftp://x", "stream URL"),
                                         ("notes.txt", "expected a camera index"), ("a\x00b", "expected")])
def test_bad_sources_are_refused_in_one_line(text, words):
    with pytest.raises(ValueError, match=words):
        parse_source(text)


def test_a_broken_video_file_is_reported_not_raised(tmp_path):
    path = tmp_path / "broken.mp4"
    path.write_bytes(os.urandom(4000))
    camera = CameraCapture(str(path))
    camera.start()
    try:
        wait_for(lambda: camera.problem, 10, "the report")
        assert camera.latest() is None
    finally:
        camera.stop()
    with pytest.raises(ValueError, match="not a video"):
        VideoFrames(str(path))


def test_preprocessing_steps_each_do_what_they_say():
    frame = np.zeros((100, 200, 3), np.uint8)
    frame[:, :100] = (255, 0, 0)                                          # blue left half (BGR)
    frame[40:60, 140:160] = 255
    plain = Preprocess(size=64, mirror=False)(frame)
    assert plain.shape == (64, 64, 3) and plain[32, 5].tolist() == [0, 0, 255]   # RGB now; centre crop
    mirrored = Preprocess(size=64)(frame)
    assert np.array_equal(mirrored, plain[:, ::-1])
    gray = Preprocess(size=64, grayscale=True)(frame)
    assert np.all(gray[..., 0] == gray[..., 1])
    poster = Preprocess(size=64, levels=2)(cv2.GaussianBlur(frame, (0, 0), 5))
    assert set(np.unique(poster).tolist()) <= {0, 255}
    blocky = Preprocess(size=64, pixelate=8)(cv2.GaussianBlur(frame, (0, 0), 9))
    assert np.array_equal(blocky[::8, ::8].repeat(8, 0).repeat(8, 1), blocky)
    edges = Preprocess(size=64, edges=(50, 150))(frame)
    assert set(np.unique(edges).tolist()) == {0, 255} and edges.mean() < 60   # white lines on black
    assert square(frame, 32, "fit").shape == (32, 32, 3) and square(frame, 32, "fit")[0].max() == 0
    with pytest.raises(ValueError, match="edges"):
        Preprocess(edges=(200, 100))
    with pytest.raises(ValueError, match="expected"):
        Preprocess()(np.zeros((4, 4, 2), np.uint8))


def test_motion_rises_on_a_moving_pattern_and_not_on_a_still_one():
    moving, still = CameraFeatures(learn=0.2), CameraFeatures(learn=0.2)
    m = [moving.process(pattern(i, moving=True, counting=False), i / 25)["motion"] for i in range(60)]
    s = [still.process(pattern(i, moving=False, counting=False), i / 25)["motion"] for i in range(60)]
    assert min(m[5:]) > 0.1 and np.mean(m[5:]) > 0.3 and max(s) == 0.0


def test_presence_against_the_empty_room_and_the_centre_of_motion():
    room = np.full((H, W, 3), 90, np.uint8)
    features = CameraFeatures(learn=1.0, mirror=False)
    for i in range(30):                                                   # the empty room, learned
        assert features.process(room, i / 25)["presence"] == 0.0
    visitor = room.copy()
    visitor[20:100, 100:150] = 220                                        # someone on the right
    values = features.process(visitor, 1.3)
    assert values["presence"] > 0.15 and values["x"] > 0.6                # there, and on the right
    assert features.process(room, 1.4)["presence"] < 0.02                 # and gone again
    assert features.process(visitor, 1.5)["brightness"] > features.process(room, 1.6)["brightness"]
