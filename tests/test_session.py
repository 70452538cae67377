"""The session builds live and offline runs alike: the same --fit and --chain give the same picture in a
headless live run as in an offline render, and each default is the one defined in engine.defaults."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

from engine.defaults import DEFAULT_CHAIN, DEFAULT_FIT
from engine.render import RenderSettings
from engine.session import Session, SessionConfig

# One keyframe: the same W at every time, so a live frame and an offline frame show the same image.
SHOW = """format: 1
walk: {seeds: [5]}
outputs: [{size: [128, 64], fit: fit, chain: [kaleidoscope]}]
parameters:
  initial: {vignette.amount: 0.9, vignette.softness: 0.2, colour_grade.saturation: 2.5, colour_grade.hue: 0.2,
            kaleidoscope.amount: 1.0}
cues: [{id: a, actions: []}]
"""


def live_picture(config: SessionConfig) -> np.ndarray:
    session = Session(config).load()
    engine = session.open_live()
    engine.worker.start()
    try:
        deadline = time.monotonic() + 60
        while engine.worker.frames.latest() is None and time.monotonic() < deadline:
            engine.frame()
            time.sleep(0.01)
        for _ in range(3):
            engine.frame()
        return engine.outputs[0].read().copy()
    finally:
        engine.close()


def offline_picture(config: SessionConfig, tmp_path) -> np.ndarray:
    session = Session(config).load()
    pattern = str(tmp_path / "offline-%02d.png")
    session.render(pattern, RenderSettings(fps=10, frames=1, size=(128, 64)))
    return cv2.cvtColor(cv2.imread(pattern % 0), cv2.COLOR_BGR2RGB)


@pytest.mark.parametrize("fit, chain", [("fit", ("vignette",)), ("fill", ("colour_grade", "vignette")),
                                        ("stretch", ())])
def test_the_same_fit_and_chain_give_the_same_picture_live_and_offline(tmp_path, fit, chain):
    show = tmp_path / "show.yaml"
    show.write_text(SHOW)
    config = SessionConfig(show=str(show), size=(128, 64), fit=fit, chain=chain, headless=True, generator="thread")
    live, offline = live_picture(config), offline_picture(config, tmp_path)
    assert live.shape == offline.shape == (64, 128, 3)
    assert np.abs(live.astype(int) - offline.astype(int)).max() <= 2, (fit, chain)
    if fit == "fit":                                  # letterboxed: black bars at the sides, both ways
        assert live[:, :8].max() == 0 and offline[:, :8].max() == 0
    # The command line's fit and chain won over the show output's (fit, a kaleidoscope at full).
    other = SessionConfig(show=str(show), size=(128, 64), headless=True)
    assert np.abs(offline_picture(other, tmp_path).astype(int) - offline.astype(int)).max() > 10


def test_each_default_comes_from_one_place(default_generator):
    session = Session.from_parts(default_generator)
    (spec,) = session.output_specs()
    assert spec.chain == DEFAULT_CHAIN and spec.fit == DEFAULT_FIT
    given = Session.from_parts(default_generator, config=SessionConfig(chain=(), fit="fit"))
    (spec,) = given.output_specs()
    assert spec.chain == () and spec.fit == "fit"          # an empty chain is a chain: no effects


def test_the_show_inputs_build_the_controllers(tmp_path):
    show = tmp_path / "show.yaml"
    show.write_text(SHOW.replace("cues:", "inputs: {keyboard: {keys: {g: go, space: none}}}\ncues:"))
    engine = Session(SessionConfig(show=str(show), headless=True, size=(64, 64), generator="thread")).load().open_live()
    try:
        (keyboard,) = engine.controllers
        assert keyboard.command_for("g") == "go" and keyboard.command_for("space") is None
    finally:
        engine.close()


def test_a_takeover_during_a_fade_is_on_the_hud(tmp_path):
    from engine.inputs import InputEvent
    show = tmp_path / "show.yaml"
    show.write_text(SHOW.replace("cues: [{id: a, actions: []}]",
                                 "cues: [{id: a, actions: [{fade: {param: vignette.amount, to: 0.1, time: 30}}]}]"))
    engine = Session(SessionConfig(show=str(show), headless=True, size=(64, 64), generator="thread")).load().open_live()
    try:
        engine.post(InputEvent(engine.clock.now(), "keyboard", "command", "go"))
        engine.frame()
        engine.post(InputEvent(engine.clock.now(), "osc", "set", "vignette.amount", 0.7))
        for _ in range(3):
            engine.frame()
        assert any("vignette.amount: taken over by osc" in m for m in engine.messages)
        assert engine.params.get("vignette.amount") == pytest.approx(0.7)
    finally:
        engine.close()
