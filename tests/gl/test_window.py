"""A fullscreen pyglet window on a real X server (Xvfb), showing generated frames; its keys."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np

from tests.conftest import ROOT


def test_fullscreen_window_shows_generated_frames(xvfb_display, tmp_path):
    out = tmp_path / "window.npz"
    result = subprocess.run([sys.executable, str(ROOT / "tests" / "gl" / "window_session.py"), str(out)],
                            capture_output=True, text=True, timeout=180, env={**os.environ, "DISPLAY": xvfb_display})
    assert result.returncode == 0, result.stderr[-3000:]
    r = np.load(out)
    assert bool(r["fullscreen"]) and tuple(r["output_size"]) == (1920, 1080)   # the whole Xvfb screen
    first, later = r["first"], r["later"]
    assert first.shape == (1080, 1920, 3)
    assert first.mean() > 20 and first.std() > 10                              # generated frames, not black
    assert np.abs(first.astype(int) - later.astype(int)).mean() > 1            # changing over time
    assert int(r["display_frames"]) > 20
    assert bool(r["hud_after_h"]) and not bool(r["fullscreen_after_f"]) and not bool(r["running_after_esc"])
    assert str(r["gl_error"]) == "GL_NO_ERROR" and bool(r["closed"])
