"""The camera's pix2pix model in its own process (controllers/camera/model_process.py): the newest frame wins,
the results match the model run in-line, a model that cannot load is reported, and a process that dies is
started again; and the live camera input with the model beside it."""

from __future__ import annotations

import os
import signal

import numpy as np
import torch

import engine.shared_process as shared_process
from controllers.camera.live import CameraInput
from controllers.camera.model_process import ModelProcess
from controllers.camera.pipeline import CameraPipeline
from controllers.camera.preprocess import Preprocess
from engine.clock import WallClock
from engine.models.pix2pix import MIN_PSNR_DB, _psnr, load_pix2pix
from tests.conftest import FIXTURES, wait_for
from tests.controllers.test_camera import pattern, write_video

UNET = str(FIXTURES / "pix2pix" / "unet256_batch_ngf8.pth")


def images(n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (256, 256, 3), dtype=np.uint8) for _ in range(n)]


def test_the_newest_image_wins_and_the_results_are_the_models():
    model = ModelProcess(UNET, side=256)
    try:
        wait_for(lambda: model.poll() is None and model.running, 60, "the model loaded in its process")
        offered = images(12)
        for sequence, image in enumerate(offered, start=1):
            model.offer(image, sequence)                     # far faster than it can run: most are replaced
        result = wait_for(lambda: (r := model.poll()) is not None and r[1] == 12 and r, 30, "the newest result")
        assert model.frames < 12                             # it skipped what it could not keep up with
        inline = load_pix2pix(UNET)
        x = torch.from_numpy(offered[-1]).permute(2, 0, 1)[None].float().div(127.5).sub(1)
        with torch.inference_mode():
            expected = inline(x)[0].clamp(-1, 1).add(1).mul(127.5).round().permute(1, 2, 0)
        got = torch.from_numpy(result[0].astype(np.float32))
        assert _psnr(got / 127.5 - 1, expected / 127.5 - 1) >= MIN_PSNR_DB
        assert "own process" in model.status()
    finally:
        model.close()


def test_a_model_that_cannot_load_is_reported_once(tmp_path):
    bad = tmp_path / "latest_net_G.pth"
    bad.write_bytes(b"not a checkpoint")
    model = ModelProcess(str(bad))
    try:
        wait_for(lambda: (model.poll(), model.problem)[1], 60, "the report")
        assert "not a checkpoint of plain tensors" in model.status()
        model.offer(images(1)[0], 1)                         # harmless: nothing to send it to
        assert model.poll() is None
    finally:
        model.close()


def test_a_model_process_that_dies_is_started_again(monkeypatch):
    monkeypatch.setattr(shared_process, "RESTART_PAUSES", (0.5,))
    model = ModelProcess(UNET)
    try:
        wait_for(lambda: model.poll() is None and model.running, 60, "loaded")
        os.kill(wait_for(lambda: model.pid, 10, "its process"), signal.SIGKILL)
        wait_for(lambda: (model.poll(), model.problem)[1], 10, "the death reported")
        wait_for(lambda: (model.poll(), model.running)[1], 60, "started again")
        model.offer(images(1)[0], 7)
        assert wait_for(lambda: (r := model.poll()) is not None and r[1] == 7, 30, "a result again")
    finally:
        model.close()


def test_the_live_camera_runs_the_model_beside_it(tmp_path):
    path = write_video(str(tmp_path / "visitor.mp4"), [pattern(i) for i in range(25)], fps=25)
    plain = Preprocess(size=256, mirror=False)
    camera = CameraInput(path, CameraPipeline(plain, model=UNET), model_fps=25)
    events: list = []
    camera.start(events.append, WallClock())
    try:
        wait_for(lambda: camera.pipeline.process is not None and camera.pipeline.process.frames >= 3, 90,
                 "model frames")
        layer = camera.layer()
        assert layer is not None and layer[0].shape == (256, 256, 3)
        captured = camera.capture.latest()
        assert captured is not None
        assert np.abs(layer[0].astype(int) - plain(captured.frame).astype(int)).mean() > 10   # not the camera
        assert any(e.key == "camera.motion" for e in events)
        assert "pix2pix" in camera.status()
    finally:
        camera.stop()
    assert camera.pipeline.process is None                   # its process is gone with it
