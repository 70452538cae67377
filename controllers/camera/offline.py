"""The camera in an offline render: a video file's frame for each video frame's time, through the same
pipeline as live (controllers.camera.pipeline), so a render with a camera file is repeatable frame for frame.

    camera = OfflineCamera("visitor.mp4", CameraPipeline(Preprocess()), model_fps=10, fps=30)
    events = camera.step(i, t)          # camera.* sources for frame i (time t); camera.layer() the picture
"""

from __future__ import annotations

import numpy as np

from controllers.camera.capture import VideoFrames
from controllers.camera.pipeline import CameraPipeline
from engine.inputs import InputEvent


class OfflineCamera:
    name = "camera"

    def __init__(self, path: str, pipeline: CameraPipeline, model_fps: float, fps: float) -> None:
        self.frames = VideoFrames(path)
        self.pipeline = pipeline
        self.every = max(1, round(fps / model_fps))           # the model on every n-th video frame, as live
        self.pipeline.load_model()
        self._index = -1

    def step(self, i: int, t: float) -> list[InputEvent]:
        """Frame ``i`` at time ``t``: the camera frame shown then, measured and made into the layer."""
        frame = self.frames.frame_at(t)
        self._index = self.frames.index_at(t)
        events = self.pipeline.measure(frame, t)
        self.pipeline.picture(frame, i + 1, t, generate=i % self.every == 0)     # the model in-line
        return events

    def layer(self) -> tuple[np.ndarray, int] | None:
        held = self.pipeline.newest()
        return None if held is None else (held[0], held[1])

    def close(self) -> None:
        self.frames.close()
