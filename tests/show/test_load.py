"""Show files: the shipped shows load, and every kind of mistake is reported with line, column and code."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from engine.show import ShowLoadError, load_show
from engine.show.model import FadeAction, GotoAction, ShadersAction, WalkAction
from tests.conftest import ROOT


def write(tmp_path, text: str) -> str:
    path = tmp_path / "show.yaml"
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return str(path)


def errors_of(tmp_path, text: str) -> list:
    with pytest.raises(ShowLoadError) as err:
        load_show(write(tmp_path, text))
    return err.value.errors


@pytest.mark.parametrize("name", ["demo.yaml", "reference.yaml", "heartbeat.yaml", "midi_controller.yaml"])
def test_shipped_shows_load(name):
    show = load_show(str(ROOT / "shows" / name))
    assert show.cues and show.format == 1


def test_reference_show_uses_every_kind_of_action_and_mode():
    show = load_show(str(ROOT / "shows" / "reference.yaml"))
    kinds = {type(a) for c in show.cues for a in c.actions}
    assert kinds == {WalkAction, FadeAction, ShadersAction, GotoAction}
    assert {c.continue_mode for c in show.cues} == {"none", "auto-continue", "auto-follow"}
    assert any(c.at for c in show.cues) and any(c.pre_wait for c in show.cues)


BASE = """
format: 1
cues:
"""


@pytest.mark.parametrize("body,code,line,column,words", [
    ("  - id: a\n    actoins: []\n", "E001", 4, 5, ["unknown key 'actoins'", "did you mean 'actions'"]),
    ("  - id: a\n  - id: a\n", "E002", 4, 5, ["'a' is used twice", "first at line 3"]),
    ("  - id: a\n    actions:\n      - fade: {param: vignette.amout, to: 1}\n", "E003", 5, 23,
     ["undefined parameter 'vignette.amout'", "did you mean 'vignette.amount'"]),
    ("  - id: a\n    actions:\n      - goto: b\n", "E004", 3, 5, ["undefined cue 'b'"]),
    ("  - id: a\n    actions:\n      - fade: {param: vignette.amount, to: 3}\n", "E005", 5, 44,
     ["out of range", "0 .. 1"]),
    ("  - id: a\n    pre_wait: -1\n", "E006", 4, 15, ["cannot be negative"]),
    ("  - id: a\n    continue: auto-follow\n    actions:\n      - walk: {seeds: [1, 2]}\n  - id: b\n",
     "E007", 3, 5, ["auto-follow", "open-ended"]),
    ("  - id: a\n    continue: auto-continue\n  - id: b\n    continue: auto-continue\n    actions:\n"
     "      - goto: a\n", "E008", 3, 5, ["takes no time", "a → b → a"]),
    ("  - id: a\n    actions:\n      - fade: {param: vignette.amount, to: 1, time: 2, curve: wobbly}\n", "E009",
     5, 63, ["'wobbly'"]),
    ("  - id: a\n    actions:\n      - fadde: {param: vignette.amount, to: 1}\n", "E010", 5, 9,
     ["unknown action 'fadde'", "did you mean 'fade'"]),
    ("  - id: a\n    actions:\n      - shaders: [vignette, sparkle]\n", "E015", 5, 29, ["'sparkle'"]),
])
def test_each_error_names_line_column_and_expectation(tmp_path, body, code, line, column, words):
    errors = errors_of(tmp_path, BASE + body)
    matching = [e for e in errors if e.code == code]
    assert matching, [str(e) for e in errors]
    error = matching[0]
    assert (error.line, error.column) == (line, column), str(error)
    assert str(error).startswith(f"{tmp_path / 'show.yaml'}:{line}:{column}: {code} ")
    for word in words:
        assert word in error.message, error.message


def test_format_version_and_missing_keys(tmp_path):
    errors = errors_of(tmp_path, "format: 2\nname: x\n")
    assert {e.code for e in errors} == {"E013", "E012"}


def test_yaml_syntax_error_has_a_position(tmp_path):
    (error,) = errors_of(tmp_path, "format: 1\ncues:\n  - id: a\n    actions: [\n")
    assert error.code == "E014" and error.line >= 4


def test_all_errors_are_reported_at_once(tmp_path):
    errors = errors_of(tmp_path, BASE + "  - id: a\n    pre_wait: -1\n    colour: red\n  - id: a\n")
    assert {e.code for e in errors} >= {"E006", "E001", "E002"}
    assert [e.line for e in errors] == sorted(e.line for e in errors)


def test_time_of_day_trigger_is_checked(tmp_path):
    errors = errors_of(tmp_path, BASE + "  - id: a\n    at: '25:00'\n")
    assert errors[0].code == "E016" and "time of day" in errors[0].message


def test_declared_parameters_can_be_faded(tmp_path):
    show = load_show(write(tmp_path, """
        format: 1
        parameters:
          declare:
            mood.energy: {default: 0.2, min: 0, max: 10, smoothing: 0.5, curve: square}
          initial:
            mood.energy: 3
        cues:
          - id: a
            actions:
              - fade: {param: mood.energy, to: 9.5, time: 1}
        """))
    assert show.declare[0].maximum == 10 and show.initial == {"mood.energy": 3.0}
    assert show.cues[0].actions[0] == FadeAction("mood.energy", 9.5, 1.0, "s")


def test_latent_paths_are_relative_to_the_show(tmp_path):
    (tmp_path / "w").mkdir()
    np.savez(tmp_path / "w" / "a.npz", w=np.zeros((3, 8), np.float32))
    show = load_show(write(tmp_path, "format: 1\nwalk: {latents: [w/a.npz], seeds: [1]}\ncues: []\n"))
    # one keyframe per row of the file, then the seeds
    assert [k.path for k in show.walk.keyframes[:3]] == [str(tmp_path / "w" / "a.npz")] * 3
    assert [k.row for k in show.walk.keyframes[:3]] == [0, 1, 2] and show.walk.keyframes[3].seed == 1


def test_a_show_changes_the_keyboard_map(tmp_path):
    show = load_show(write(tmp_path, """
        format: 1
        inputs:
          keyboard: {keys: {g: go, x: panic, space: none}}
        cues: [{id: a, actions: []}]
        """))
    from controllers import create
    keyboard = create("keyboard", **show.inputs["keyboard"])
    assert keyboard.command_for("g") == "go" and keyboard.command_for("x") == "panic"
    assert keyboard.command_for("space") is None and keyboard.command_for("p") == "panic"   # the rest stays


@pytest.mark.parametrize("keys, line, words", [
    ("{G: go}", 3, "'G' is not a key name"),
    ("{g: self-destruct}", 3, "inputs.keyboard.keys.g: 'self-destruct' is not one of go, stop"),
    ("{f: go}", 3, "'f' toggles fullscreen"),
    ("[g, go]", 3, "expected a mapping of key: command"),
])
def test_a_bad_keyboard_map_is_refused_with_its_line(tmp_path, keys, line, words):
    errors = errors_of(tmp_path, f"""
        format: 1
        inputs:
          keyboard: {{keys: {keys}}}
        cues: [{{id: a, actions: []}}]
        """)
    assert len(errors) == 1 and errors[0].line == line and words in str(errors[0]), errors


def test_a_show_says_where_osc_listens(tmp_path):
    show = load_show(write(tmp_path, """
        format: 1
        inputs:
          osc: {port: 9001, host: 0.0.0.0, allow: [192.168.1.20, "::1"], out: ["10.0.0.5:9001"]}
        cues: [{id: a, actions: []}]
        """))
    assert show.inputs["osc"] == {"port": 9001, "host": "0.0.0.0", "allow": ("192.168.1.20", "::1"),
                                  "out": ("10.0.0.5:9001",)}


@pytest.mark.parametrize("osc, words", [
    ("{port: 70000}", "inputs.osc.port"),
    ("{port: nine}", "inputs.osc.port"),
    ("{host: 'a b'}", "is not an address to listen on"),
    ("{allow: [my-laptop]}", "'my-laptop' is not an IP address"),
    ("{prot: 9000}", "did you mean 'port'"),
    ("{out: ['10.0.0.5']}", "inputs.osc.out: expected [HOST:]PORT"),
])
def test_bad_osc_inputs_are_refused_with_their_line(tmp_path, osc, words):
    errors = errors_of(tmp_path, f"""
        format: 1
        inputs:
          osc: {osc}
        cues: [{{id: a, actions: []}}]
        """)
    assert len(errors) == 1 and errors[0].line == 3 and words in str(errors[0]), errors
