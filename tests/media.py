"""Reading rendered media back, for tests."""

from __future__ import annotations

import cv2
import numpy as np


def read_video(path) -> list[np.ndarray]:  # type: ignore[no-untyped-def]
    """Every frame of a video file, decoded by OpenCV (BGR)."""
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    return frames
