"""The operator's heads-up display: a few lines of status drawn into an RGBA image on the CPU.

Drawing text with OpenCV keeps the HUD independent of the window system (it works the same in a pyglet
window and headless) and costs well under a millisecond for a few lines; the compositor overlays the image.

    >>> hud_image(["gen 20.1 fps"]).shape[2]
    4
"""

from __future__ import annotations

import cv2
import numpy as np

_FONT = cv2.FONT_HERSHEY_SIMPLEX


def hud_image(lines: list[str], scale: float = 0.5, width: int = 560) -> np.ndarray:
    """Lines of text as a premultiplied RGBA image (top row first) on a translucent dark panel."""
    thickness = max(1, round(scale * 2))
    line_height = int(28 * scale * 1.6)
    height = line_height * len(lines) + 10
    img = np.zeros((height, width, 4), np.uint8)
    img[..., 3] = 150  # panel: black at ~60 % opacity (premultiplied: rgb stays 0)
    for i, line in enumerate(lines):
        colour = (255, 110, 90, 255) if line.startswith("!") else (235, 235, 235, 255)
        cv2.putText(img, line, (8, 6 + line_height * (i + 1) - line_height // 4), _FONT, scale, colour,
                    thickness, cv2.LINE_AA)
    return img
