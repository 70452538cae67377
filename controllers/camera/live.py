"""The camera as a live input: its features as ``camera.*`` sources, its picture as the ``camera`` image layer.

:class:`CameraInput` runs a :class:`~controllers.camera.pipeline.CameraPipeline` on its own thread beside its
:class:`~controllers.camera.capture.CameraCapture`: every new camera frame is measured and its features posted;
the layer is made at the camera's rate, or with a pix2pix model (in its own process,
controllers.camera.model_process) at ``model_fps`` at most. The newest camera frame always wins (older ones
are dropped), so the camera model never starves the display, and the features never wait for it.

    camera = CameraInput(0, CameraPipeline(Preprocess(edges=(60, 160)), model="edges2cats/latest_net_G.pth"))
    # engine: controllers=[camera]; each display frame asks camera.layer() -> (rgb, sequence) or None

A camera that stops is reported by its capture and reopened; its sources go stale (the modulations fade
out), and :meth:`CameraInput.layer` gives None after :data:`STALE_SECONDS`, so the compositor fades the layer
out rather than freezing its last picture on the wall.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from controllers.background import Background
from controllers.base import Controller, Post
from controllers.camera.capture import CameraCapture
from controllers.camera.pipeline import CameraPipeline
from engine.clock import Clock

log = logging.getLogger(__name__)

STALE_SECONDS = 2.0         # no new camera frame this long: the layer is gone


class CameraInput(Controller):
    name = "camera"

    def __init__(self,
                 source: int | str,
                 pipeline: CameraPipeline | None = None,
                 model_fps: float = 10.0,                  # the pix2pix model's rate at most
                 size: tuple[int, int] | None = None,      # asked of the camera
                 fps: float | None = None,
                 ) -> None:
        if not 0.1 <= model_fps <= 240:
            raise ValueError(f"model_fps must be 0.1..240, got {model_fps}")
        self.capture = CameraCapture(source, size=size, fps=fps)
        self.pipeline = pipeline or CameraPipeline()
        self.model_fps = model_fps
        self._worker = Background("camera-input")
        self.processed = 0

    def start(self, post: Post, clock: Clock) -> None:
        if self._worker.running:
            return
        self.capture.start()
        self._worker.start(self._run, post, clock)

    def stop(self) -> None:
        self._worker.stop()
        self.capture.stop()
        self.pipeline.close()

    def status(self) -> str:
        text = self.capture.status()
        p = self.pipeline
        if p.process is not None:
            return f"{text}; {p.process.status()}"
        if p.model_problem:
            return f"{text}; model: {p.model_problem[:80]}"
        if p.model is not None:
            return f"{text}, pix2pix {p.model_frames} frames ({p.model_ms:.0f} ms each)"
        return text

    def layer(self) -> tuple[np.ndarray, int] | None:
        """The newest layer picture (RGB uint8) and its sequence; None before the first or once stale."""
        held = self.pipeline.newest()
        if held is None or time.monotonic() - held[2] > STALE_SECONDS:
            return None
        return held[0], held[1]

    def _run(self, post: Post, clock: Clock) -> None:
        self.pipeline.load_model(own_process=True)
        seen = 0
        next_model = 0.0
        while not self._worker.stopped():
            captured = self.capture.latest()
            if captured is None or captured.number == seen:
                self._worker.wait(0.005)
                continue
            seen = captured.number
            try:
                for event in self.pipeline.measure(captured.frame, clock.now()):
                    post(event)
                generate = time.monotonic() >= next_model
                if generate and (self.pipeline.model is not None or self.pipeline.process is not None):
                    next_model = time.monotonic() + 1.0 / self.model_fps
                self.pipeline.picture(captured.frame, seen, time.monotonic(), generate)
                self.processed += 1
            except Exception as exc:                   # never out of the thread: the show goes on
                log.warning("camera: a frame failed (%s)", str(exc).splitlines()[0][:160] if str(exc) else exc)
                self._worker.wait(0.1)
