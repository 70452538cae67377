"""Every default of a run, defined once: what a show, the command line and the session fall back to.

Nothing here imports torch or GL, so show validation (``--check``) and ``--help`` can use it.

>>> DEFAULT_FIT in FIT_MODES
True
>>> DEFAULT_CHAIN[-1]            # crossfade last: a fade to black covers every effect before it
'crossfade'
"""

from __future__ import annotations

import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHIPPED_SHADERS = os.path.join(ROOT, "shaders")     # the effects and stages that ship with the engine

# The effect chain of a run that names none: effects at their defaults cost nothing (the compositor skips them).
DEFAULT_CHAIN: tuple[str, ...] = ("feedback", "kaleidoscope", "colour_grade", "vignette", "crossfade")

# ``--camera`` without a show: the default chain with the camera layer before the vignette, shown at these
# settings (a show says its own: shows/camera.yaml).
CAMERA_CHAIN: tuple[str, ...] = ("feedback", "kaleidoscope", "colour_grade", "camera_layer", "vignette", "crossfade")
CAMERA_LAYER_DEFAULTS: dict[str, float] = {"camera_layer.amount": 0.5, "camera_layer.mode": 2.0,  # screen
                                           "camera_layer.fill": 1.0}

# How the square model image meets an output of another aspect ratio: letterbox, crop, or stretch.
FIT_MODES: tuple[str, ...] = ("fit", "fill", "stretch")
DEFAULT_FIT = "fill"                                 # an installation wall has no black bars

DEFAULT_LIVE_SIZE = (1280, 720)                      # a live output's size (a window's size before fullscreen)
DEFAULT_FPS = 60.0                                   # the live loop's frame cap on a GPU
SOFTWARE_GL_FPS = 30.0                               # ... and where GL renders on the CPU (the generator needs room)
