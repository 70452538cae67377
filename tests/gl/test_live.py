"""The live loop on real GL: headless (EGL) and in a pyglet window on an Xvfb display."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from engine.generate import FrameSynthesizer
from engine.latent import Keyframe, LatentWalker, WalkSettings
from engine.live import LiveEngine
from engine.gl.outputs import HeadlessOutput
from engine.session import Session, SessionConfig
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def walker(default_generator):
    keyframes = tuple(Keyframe(seed=s) for s in (1, 2, 3))
    return LatentWalker(default_generator, WalkSettings(keyframes=keyframes, seconds_per_keyframe=0.5))


class FlakySynthesizer(FrameSynthesizer):
    """The real synthesizer, except that every third frame raises."""

    def __init__(self, G) -> None:
        super().__init__(G)
        self.calls = 0

    def render(self, frame):
        self.calls += 1
        if self.calls % 3 == 0:
            raise RuntimeError("simulated CUDA error")
        return super().render(frame)


def headless_engine(gl, walker, synthesizer=None, size=(320, 180), **config) -> tuple[LiveEngine, HeadlessOutput]:
    """The engine as ``launch.py --headless`` builds it (through the session), on a generator thread."""
    settings = dict(headless=True, size=size, max_fps=60, generator="thread", fit="fit") | config
    engine = Session.from_parts(walker.G, walker=walker, config=SessionConfig(**settings)).open_live()
    if synthesizer is not None:
        engine.worker.synthesizer = synthesizer
    return engine, engine.outputs[0]


def wait_for_frames(engine: LiveEngine, count: int, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while engine.worker.status.frames < count:
        assert time.monotonic() < end, "the generator produced no frames"
        engine.frame()
        time.sleep(0.01)


def test_headless_loop_shows_moving_frames_and_stops_cleanly(gl, walker):
    threads_before = set(threading.enumerate())
    engine, output = headless_engine(gl, walker)
    engine.worker.start()
    wait_for_frames(engine, 2)
    first = output.read()
    time.sleep(0.4)
    wait_for_frames(engine, engine.worker.status.frames + 3)
    later = output.read()
    engine.close()
    assert first.mean() > 20 and first.std() > 10                      # a picture, not black
    assert np.abs(first.astype(int) - later.astype(int)).mean() > 1   # and it moves
    assert set(threading.enumerate()) == threads_before                # no thread left behind


def test_run_paces_and_counts(gl, walker):
    engine, _ = headless_engine(gl, walker)
    stats = engine.run(max_frames=30)
    engine.close()
    assert stats.display_frames == 30 and not engine.worker.alive


def test_a_generator_that_raises_does_not_stop_the_display(gl, walker):
    synth = FlakySynthesizer(walker.G)
    engine, output = headless_engine(gl, walker, synth)
    stats = engine.run(duration=1.5)
    picture = output.read()
    engine.close()
    assert engine.worker.status.errors >= 1 and "simulated CUDA error" in engine.worker.status.last_error
    assert engine.worker.status.frames >= 2
    assert stats.display_frames >= 30                 # the display kept its rate
    assert picture.mean() > 20                        # and the last good frame stayed on screen


def test_hud_overlays_status(gl, walker):
    engine, output = headless_engine(gl, walker, size=(640, 360))
    engine.worker.start()
    wait_for_frames(engine, 1)
    engine.frame()
    plain = output.read()
    engine.handle_key("hud")
    engine.frame()
    with_hud = output.read()
    engine.close()
    corner = np.s_[5:40, 5:300]
    assert np.abs(plain[corner].astype(int) - with_hud[corner].astype(int)).mean() > 5
    assert np.array_equal(plain[300:], with_hud[300:])  # the rest of the picture is untouched


def test_psi_parameter_reaches_the_screen(gl, walker):
    engine, output = headless_engine(gl, walker)
    engine.params.set("walk.speed", 0.0)                 # hold still so only psi changes the picture
    engine.worker.start()
    wait_for_frames(engine, 2)
    time.sleep(0.3)
    wait_for_frames(engine, engine.worker.status.frames + 2)
    before = output.read()
    engine.params.set("gen.psi", 0.0)                     # the average image
    wait_for_frames(engine, engine.worker.status.frames + 3)
    time.sleep(0.5)
    for _ in range(5):
        engine.frame()
    after = output.read()
    engine.close()
    assert np.abs(before.astype(int) - after.astype(int)).mean() > 3


def test_the_hud_grows_with_the_output(gl, walker):
    """Text that reads on a laptop is unreadable on a projector: the HUD scales with the output's height."""
    sizes = {}
    for size in ((1280, 720), (3840, 2160)):
        engine, output = headless_engine(gl, walker, size=size)
        engine.show_hud = True
        sizes[size[1]] = engine._overlay(0.0).shape
        engine.close()
    assert sizes[2160][0] >= 2.5 * sizes[720][0] and sizes[2160][1] == 3 * sizes[720][1]


def test_software_gl_draws_the_effects_at_a_render_scale_and_the_picture_barely_changes(gl, walker):
    """Where GL renders on the CPU, a 256² model filling 1280×720 needs effects at 0.4 of the pixels; the
    output stays full size and differs from the full-scale picture only by resampling."""
    pictures = {}
    for scale in (None, 1.0):
        engine, output = headless_engine(gl, walker, size=(1280, 720), fit="fill", render_scale=scale,
                                         chain=("vignette", "colour_grade"))
        try:
            engine.params.set("vignette.amount", 0.8, immediate=True)
            engine.params.set("colour_grade.saturation", 1.6, immediate=True)
            engine.params.set("walk.speed", 0.0)
            engine.worker.start()
            wait_for_frames(engine, 1)
            for _ in range(3):
                engine.frame()
            pictures[scale] = output.read().astype(int)
            work = output.compositor.work_size
        finally:
            engine.close()
        assert work == ((512, 288) if scale is None else (1280, 720))
    assert pictures[None].shape == pictures[1.0].shape == (720, 1280, 3)
    assert np.abs(pictures[None] - pictures[1.0]).mean() < 3.0
