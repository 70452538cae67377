"""The frame guard: NaN or infinity from a latent or a model never reaches a screen or a video."""

from __future__ import annotations

import copy
import time

import numpy as np
import pytest
import torch

from engine.generate import FrameSynthesizer, NonFiniteFrame
from engine.latent import Keyframe, LatentWalker, WalkFrame, WalkSettings
from engine.render import RenderError, RenderSettings, render_walk
from engine.worker import GeneratorWorker


@pytest.fixture(scope="module")
def walker(default_generator):
    return LatentWalker(default_generator, WalkSettings(keyframes=(Keyframe(seed=1), Keyframe(seed=2)),
                                                        seconds_per_keyframe=0.5))


def poisoned(frame: WalkFrame) -> WalkFrame:
    ws = frame.ws.clone()
    ws[0, 3, 7] = float("nan")
    return WalkFrame(t=frame.t, ws=ws, noise_mode=frame.noise_mode, noise_seed=frame.noise_seed)


@pytest.fixture(scope="module")
def overflowing(default_generator):
    """The default model with its constant input scaled to overflow float32 inside the network."""
    G = copy.deepcopy(default_generator)
    with torch.no_grad():
        G.synthesis.block(4).const.mul_(3e38)
    return G


def test_a_non_finite_latent_is_named(default_generator, walker):
    with pytest.raises(NonFiniteFrame, match="latent W"):
        FrameSynthesizer(default_generator).render(poisoned(walker.frame_at(0.1)))


def test_a_model_that_overflows_is_caught_before_its_pixels_exist(overflowing, walker):
    with pytest.raises(NonFiniteFrame, match="generator produced NaN or infinite"):
        FrameSynthesizer(overflowing).render(walker.frame_at(0.1))


def test_live_the_last_good_frame_stays_and_the_status_says_why(default_generator, walker):
    worker = GeneratorWorker(FrameSynthesizer(default_generator)).start()
    try:
        worker.request(walker.frame_at(0.0))
        deadline = time.monotonic() + 30
        while worker.frames.latest() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        good = worker.frames.latest()
        assert good is not None
        for i in range(5):
            worker.request(poisoned(walker.frame_at(0.1 * (i + 1))))
            while worker.status.errors < i + 1 and time.monotonic() < deadline:
                time.sleep(0.01)
        assert worker.status.errors == 5 and worker.frames.latest() is good
        assert "frame skipped" in (worker.status.recent_error() or "")
    finally:
        worker.stop()


class BreaksAt(LatentWalker):
    """A real walk whose latents turn to NaN from ``t_bad`` on (a stand-in for a diverging live input)."""

    t_bad = 0.25

    def frame_at(self, t, truncation_psi=None):
        frame = super().frame_at(t, truncation_psi)
        return poisoned(frame) if t >= self.t_bad else frame


def test_offline_the_render_stops_with_the_frame_number(default_generator, tmp_path):
    walk = BreaksAt(default_generator, WalkSettings(keyframes=(Keyframe(seed=1), Keyframe(seed=2))))
    with pytest.raises(RenderError, match=r"frame 3 \(t = 0.300 s\).*3 frames written") as err:
        render_walk(walk, str(tmp_path / "f" / "%03d.png"),
                    RenderSettings(fps=10, frames=10))
    assert "\n" not in str(err.value)
    written = sorted((tmp_path / "f").glob("*.png"))
    assert len(written) == 3


def test_render_lengths_are_bounded():
    with pytest.raises(RenderError, match="at most"):
        RenderSettings(fps=30, duration=1e308).frame_count(1.0)
    with pytest.raises(RenderError, match="unbounded"):
        RenderSettings(fps=30, duration=float("inf")).frame_count(1.0)
    assert RenderSettings(fps=30, duration=2.0).frame_count(1.0) == 60
    assert np.isfinite(RenderSettings(fps=30).frame_count(1.0))
