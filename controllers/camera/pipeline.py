"""The camera pipeline: one frame in, ``camera.*`` source events and the layer picture out, live and offline.

:class:`CameraPipeline` measures the features (controllers.camera.features), pre-processes the frame
(controllers.camera.preprocess) and, with a pix2pix model, runs it on the result; the layer is smoothed over
time against flicker (``smoothing``: the share of the previous layer kept, 0..0.95). The live controller
(controllers.camera.live) feeds it from the capture thread; an offline render feeds it the video file's frame
for each video frame's time, so both make the same pictures from the same frames.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, NamedTuple

import numpy as np

from controllers.camera.features import CameraFeatures
from controllers.camera.preprocess import Preprocess
from engine.inputs import InputEvent

log = logging.getLogger(__name__)

MAX_SMOOTHING = 0.95
SOURCE = "camera"


class LayerPicture(NamedTuple):
    """The newest layer picture, with where it came from (for the compositor, the HUD and the latency bench)."""

    rgb: np.ndarray          # RGB uint8
    sequence: int            # the layer's own, increasing: the compositor uploads only newer ones
    at: float                # time.monotonic() when it was made
    frame: int               # the camera frame it was made from


class CameraPipeline:
    """One camera's measuring and picture making (see the module docstring)."""

    def __init__(self,
                 preprocess: Preprocess | None = None,
                 model: str | None = None,                 # a pix2pix/CycleGAN generator checkpoint
                 model_options: dict[str, Any] | None = None,   # load_pix2pix options (netG, norm, batchnorm …)
                 smoothing: float = 0.0,
                 ) -> None:
        if not 0.0 <= smoothing <= MAX_SMOOTHING:
            raise ValueError(f"smoothing must be 0..{MAX_SMOOTHING}, got {smoothing}")
        self.preprocess = preprocess or Preprocess()
        self.features = CameraFeatures(mirror=self.preprocess.mirror)
        self.model_path, self.model_options, self.smoothing = model, dict(model_options or {}), smoothing
        self.model: Any = None
        self.model_problem: str | None = None
        self.model_frames = 0
        self.model_ms = 0.0
        self._layer: LayerPicture | None = None
        self.process: Any = None                      # live: the model in its own process (ModelProcess)
        self._from_model = -1                         # the camera frame of the model's result last shown
        self._published = 0
        self._smoothed: np.ndarray | None = None
        self._lock = threading.Lock()

    def load_model(self, own_process: bool = False) -> None:
        """The pix2pix model, if one is named: in-line (offline renders, for repeatability), or in its own
        process (live: controllers.camera.model_process, the newest frame wins). A model that cannot load is
        reported, and the layer shows the pre-processed camera instead."""
        if self.model_path is None or self.model is not None or self.process is not None:
            return
        if own_process:
            from controllers.camera.model_process import ModelProcess
            self.process = ModelProcess(str(self.model_path), self.model_options, side=self.preprocess.size)
            return
        from engine.models.pix2pix import Pix2PixError, Pix2PixRunner, load_pix2pix
        try:
            self.model = Pix2PixRunner(load_pix2pix(str(self.model_path), **self.model_options),
                                       side=self.preprocess.size)
            log.info("camera model %s: %s", self.model_path, self.model.path)
        except (Pix2PixError, ValueError, TypeError) as exc:
            self.model_problem = str(exc)
            log.error("camera model: %s; the camera layer shows the pre-processed image", exc)

    def measure(self, frame: np.ndarray, now: float) -> list[InputEvent]:
        """The frame's features as ``camera.*`` source events at engine time ``now``."""
        return [InputEvent(now, SOURCE, "source", f"camera.{name}", float(value))
                for name, value in self.features.process(frame, now).items()]

    def picture(self, frame: np.ndarray, sequence: int, at: float, generate: bool = True) -> None:
        """The frame pre-processed (and through the model when ``generate`` and there is one) as the layer.
        With the model in its own process the image is offered to it, and its newest result (once there is
        one; the pre-processed camera before) becomes the layer."""
        image = self.preprocess(frame)
        if self.process is not None:
            if generate:
                self.process.offer(image, sequence)
            result = self.process.poll()
            if result is None:
                if self.process.running is None or self.process.problem:     # loading, or failed
                    self._publish(image, at, sequence)
                return
            if result[1] != self._from_model:
                self._from_model = result[1]
                self._publish(result[0], at, result[1])
            return
        if generate and self.model is not None:
            image = self.generate(image)
        elif self.model is not None:
            return                                    # between the model's frames the layer keeps its last
        self._publish(image, at, sequence)

    def generate(self, image: np.ndarray) -> np.ndarray:
        """The model's output for one pre-processed image (RGB uint8 in, RGB uint8 out)."""
        started = time.perf_counter()
        out: np.ndarray = self.model.image(image)
        self.model_frames += 1
        self.model_ms = (time.perf_counter() - started) * 1000
        return out

    def _publish(self, image: np.ndarray, at: float, frame: int) -> None:
        """The new layer picture (its own increasing sequence: the compositor uploads only newer ones)."""
        self._published += 1
        sequence = self._published
        if self.smoothing > 0:
            current = image.astype(np.float32)
            if self._smoothed is None or self._smoothed.shape != current.shape:
                self._smoothed = current
            else:
                self._smoothed = self._smoothed * self.smoothing + current * (1.0 - self.smoothing)
            image = self._smoothed.round().astype(np.uint8)
        with self._lock:
            self._layer = LayerPicture(image, sequence, at, frame)

    def close(self) -> None:
        if self.process is not None:
            self.process.close()
            self.process = None

    def newest(self) -> LayerPicture | None:
        """The newest layer picture, or None before the first."""
        with self._lock:
            return self._layer
