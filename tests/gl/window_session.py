"""Runs in a fresh process on an X display (see test_window.py): a GLX window must not share a thread with
the EGL context the other GL tests make current, so window checks get a process of their own.

    python tests/gl/window_session.py OUT.npz
"""

from __future__ import annotations

import sys
import pathlib

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from pyglet.window import key  # noqa: E402

from controllers import Keyboard  # noqa: E402
from engine.generate import FrameSynthesizer  # noqa: E402
from engine.latent import Keyframe, LatentWalker, WalkSettings  # noqa: E402
from engine.live import LiveEngine  # noqa: E402
from engine.models import load_generator  # noqa: E402
from engine.gl.outputs import OutputSpec, WindowOutput  # noqa: E402
from engine.params import ParamStore  # noqa: E402
from engine.worker import GeneratorWorker  # noqa: E402

SHADERS = str(pathlib.Path(__file__).resolve().parents[2] / "shaders")


def press(window: WindowOutput, symbol: int) -> None:
    """A key press as the window system delivers it: queued, then dispatched by the loop's event pump."""
    window.window.dispatch_event("on_key_press", symbol, 0)
    window.dispatch_events()


def main(out: str) -> None:
    torch.set_num_threads(2)
    G = load_generator("default", device="cpu")
    walker = LatentWalker(G, WalkSettings(keyframes=tuple(Keyframe(seed=s) for s in (1, 2, 3)),
                                          seconds_per_keyframe=0.5))
    params = ParamStore()
    keyboard = Keyboard()
    window = WindowOutput(SHADERS, params, OutputSpec(size=(640, 360), fullscreen=True), on_key=keyboard.press)
    engine = LiveEngine(walker, GeneratorWorker(FrameSynthesizer(G)), [window], params, max_fps=60,
                        controllers=[keyboard])
    result: dict[str, object] = {"fullscreen": window.window.fullscreen}
    stats = engine.run(duration=2.0)
    result["output_size"] = window.compositor.output_size
    result["first"] = window.read()
    engine.run(duration=1.0)
    result["later"] = window.read()
    result["display_frames"] = stats.display_frames
    engine.start_controllers()
    press(window, key.H)
    engine.frame()                      # the key became an event; this frame routes it
    result["hud_after_h"] = engine.show_hud
    press(window, key.F)
    result["fullscreen_after_f"] = window.window.fullscreen
    engine.running = True
    press(window, key.ESCAPE)
    engine.frame()
    result["running_after_esc"] = engine.running
    result["gl_error"] = window.ctx.error
    engine.close()
    result["closed"] = window.closed
    np.savez(out, **{k: np.asarray(v) for k, v in result.items()})


if __name__ == "__main__":
    main(sys.argv[1])
