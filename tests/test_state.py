"""The state file and resuming: a restarted show continues where it was (cues, fades, walk, parameters), and a
state file that cannot be trusted is refused in one line while the show starts from the top."""

from __future__ import annotations

import json
import os
import textwrap

import pytest
import torch

from engine.live import engine_params
from engine.params import ParamSpec
from engine.show import ShowRunner, load_show
from engine.show.state import RunnerState
from engine.state import EngineState, StateWriter, read_state

SHOW = """
format: 1
walk: {seeds: [1, 2], seconds_per_keyframe: 2}
cues:
  - id: a
    actions: [{fade: {param: vignette.amount, to: 1.0, time: 10}}]
    continue: auto-continue
    post_wait: 4
  - id: b
    actions: [{walk: {seeds: [7, 8, 9], seconds_per_keyframe: 3, transition: 1}}]
    continue: auto-continue
    post_wait: 5
  - id: c
    actions: [{set: {crossfade.amount: 0.5}}]
"""


def runner_for(path: str, G) -> ShowRunner:
    params = engine_params()
    params.declare(ParamSpec("vignette.amount", 0.0, 0.0, 1.0))
    params.declare(ParamSpec("crossfade.amount", 0.0, 0.0, 1.0))
    return ShowRunner(load_show(path), G, params)


def step(runner: ShowRunner, start: float, end: float, dt: float = 0.1) -> None:
    t = start
    while t <= end + 1e-9:
        runner.update(t, t)
        t += dt


def test_a_restored_runner_continues_exactly_where_the_first_one_was(tmp_path, default_generator):
    path = tmp_path / "show.yaml"
    path.write_text(textwrap.dedent(SHOW))
    first = runner_for(str(path), default_generator)
    first.go(0.0)
    step(first, 0.0, 6.0)                     # a's fade is 60 % done; b started at 4 and its walk took over
    state = RunnerState.from_dict(json.loads(json.dumps(first.snapshot(6.0).to_dict())))
    values = first.params.snapshot()

    second = runner_for(str(path), default_generator)   # "after the restart": a new clock starts at 100
    for key, value in values.items():
        second.params.set(key, value, immediate=True)
    message = second.restore(state, now=100.0, walk_time=6.0)
    assert "running" in message and second.standby.id == "c"
    for t in (6.5, 8.0, 9.5, 12.0):          # the same moments on both clocks
        first.update(t, t)
        second.update(t + 94.0, t)
        assert second.params.get("vignette.amount") == pytest.approx(first.params.get("vignette.amount"))
        assert second.params.get("crossfade.amount") == first.params.get("crossfade.amount")
        assert torch.allclose(second.frame_at(t).ws, first.frame_at(t).ws)
    assert first.params.get("crossfade.amount") == 0.5         # c continued at 9 on both


def test_the_state_file_round_trips_and_is_written_atomically(tmp_path):
    path = tmp_path / "deep" / "state.json"
    state = EngineState(show=None, show_sha256=None, engine_time=12.5, walk_time=7.0, params={"gen.psi": 0.6},
                        runner=None)
    writer = StateWriter(str(path), interval=0.0).start()
    writer.offer(state, 0.0)
    writer.stop()
    assert writer.writes == 1 and not [p for p in path.parent.iterdir() if p.suffix == ".tmp"]
    back = read_state(str(path), None)
    assert back is not None and back.walk_time == 7.0 and back.params == {"gen.psi": 0.6}


@pytest.mark.parametrize("content", [
    b"", b"{", b"[]", b'{"format": 9}', b"\xff\xfe",
    b'{"format": 1, "show": null, "show_sha256": null, "engine_time": 1e400, "walk_time": 0, "params": {},'
    b' "runner": null, "pid": 1, "written_at": 0}',
    b'{"format": 1, "show": null, "show_sha256": null, "engine_time": 1, "walk_time": 0, "params": {"x": "y"},'
    b' "runner": null, "pid": 1, "written_at": 0}',
    b'{"format": 1, "show": null, "show_sha256": null, "engine_time": 1, "walk_time": 0, "params": {},'
    b' "runner": {"running": "no"}, "pid": 1, "written_at": 0}',
    b"[" * 100_000,
], ids=["empty", "truncated", "list", "format", "binary", "inf-time", "str-param", "bad-runner", "deep"])
def test_a_state_file_that_cannot_be_trusted_means_a_fresh_start(tmp_path, content, caplog):
    path = tmp_path / "state.json"
    path.write_bytes(content)
    assert read_state(str(path), None) is None
    warnings = [r.message for r in caplog.records if "starting from the top" in r.message]
    assert len(warnings) == 1 and "\n" not in warnings[0]


def test_a_state_of_another_show_is_not_used(tmp_path, caplog):
    path = tmp_path / "state.json"
    state = EngineState(show=str(tmp_path / "a.yaml"), show_sha256=None, engine_time=1.0, walk_time=1.0,
                        params={}, runner=None)
    path.write_text(state.to_json())
    assert read_state(str(path), str(tmp_path / "b.yaml")) is None


def test_an_unwritable_state_folder_never_stops_the_show(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    writer = StateWriter(str(tmp_path / "state.json"), interval=0.0).start()
    writer.path = str(blocker / "state.json")          # a folder that cannot exist
    writer.offer(EngineState(None, None, 0.0, 0.0, {}, None), 0.0)
    writer.stop()
    assert writer.errors == 1 and writer.writes == 0
    assert os.path.isfile(blocker)


def test_a_state_file_with_an_integer_too_large_for_a_float(tmp_path):
    path = tmp_path / "state.json"
    path.write_text('{"format": 1, "show": null, "show_sha256": null, "engine_time": 1, "walk_time": 1' + "0" * 400
                    + ', "params": {}, "runner": null, "pid": 1, "written_at": 0}')
    assert read_state(str(path), None) is None
