"""The show's inputs: MIDI, Link, quantised GO, sensors and modulations, validated at file:line:column; and
MIDI learn writing into a show file (engine/show/write_back.py)."""

from __future__ import annotations

import os
import textwrap

import pytest

from controllers.midi_map import MidiBinding
from engine.show import ShowLoadError, load_show
from engine.show.write_back import add_midi_mapping
from engine.sources import Modulation

HEAD = """\
format: 1
parameters:
  declare:
    fx.glow: {min: 0, max: 2, default: 1}
cues:
  - id: intro
    actions:
      - fade: {param: gen.psi, to: 0.5, time: 1}
inputs:
"""


def write(tmp_path, inputs: str) -> str:
    path = tmp_path / "show.yaml"
    path.write_text(HEAD + textwrap.indent(textwrap.dedent(inputs).lstrip("\n"), "  "))
    return str(path)


def errors_of(tmp_path, inputs: str) -> list[str]:
    with pytest.raises(ShowLoadError) as err:
        load_show(write(tmp_path, inputs))
    return [f"{e.line}:{e.column} {e.code} {e.message}" for e in err.value.errors]


def test_every_family_parses_into_what_the_engine_runs(tmp_path):
    show = load_show(write(tmp_path, """
        midi:
          device: launch_control_xl
          takeover: scale
          clock: true
          map:
            - {control: fader1, param: fx.glow}
            - {control: focus1, cue: intro}
            - {nrpn: 300, bits: 7, channel: 2, param: gen.psi}
        link: {bpm: 100, quantum: 3}
        quantize: {clock: link, to: bar}
        osc:
          sensors: [muse]
          map:
            - {address: /td/eda, source: bio.eda, condition: {range: [0, 20]}}
            - {address: /td/go, command: go}
        modulate:
          - {source: bio.eda, param: fx.glow, amount: -0.5, centre: true}
    """))
    midi = show.inputs["midi"]
    assert midi["ports"] == ("Launch Control XL*", "*- Launch Control XL*") and midi["takeover"] == "scale"
    fader, focus, nrpn = midi["map"]
    assert (fader.kind, fader.number, fader.channel) == ("cc", 77, 8)          # factory template 1: channel 9
    assert (focus.kind, focus.number, focus.led, focus.led_on) == ("note", 41, True, 60)
    assert nrpn == MidiBinding("nrpn", 300, 1, param="gen.psi", bits=7)
    assert show.inputs["link"] == {"bpm": 100.0, "quantum": 3}
    assert show.inputs["quantize"] == ("link", "bar")
    assert show.inputs["modulate"] == (Modulation("fx.glow", "bio.eda", amount=-0.5, centre=True),)
    sensors = show.inputs["osc"]["sensors"]
    assert sensors[-1].address == "/td/eda" and len(sensors) == 7             # the preset's six, then the show's
    assert [m["address"] for m in show.inputs["osc"]["map"]] == ["/td/go"]


@pytest.mark.parametrize("inputs, where", [
    ("midi: {map: [{cc: 128, param: fx.glow}]}", "10:16 E016 inputs.midi.map[0]: MIDI cc 128: the number"),
    ("midi: {map: [{control: fader1, param: fx.glow}]}", "10:16 E016 inputs.midi.map[0]: a named control needs"),
    ("midi: {device: apc40}", "10:18 E016 inputs.midi.device: unknown MIDI controller map 'apc40'"),
    ("midi: {takeover: soft}", "10:20 E016 inputs.midi.takeover: 'soft' is not one of pickup, scale, none"),
    ("midi: {map: [{cc: 1, param: fx.glo}]}", "10:31 E003 inputs.midi.map[0].param: undefined parameter 'fx.glo'"),
    ("midi: {map: [{note: 1, cue: outro}]}", "10:16 E004 inputs.midi.map[0].cue: no cue 'outro'"),
    ("midi: {map: [{note: 1, command: rm}]}", "10:16 E016 inputs.midi.map[0]: MIDI note 1: command must be one of"),
    ("link: {bpm: 5000}", "10:15 E005 inputs.link.bpm: 5000 is out of range"),
    ("quantize: {clock: wall}", "10:21 E016 inputs.quantize.clock: 'wall' is not one of midi.clock, link"),
    ("osc: {sensors: [fitbit]}", "10:19 E016 inputs.osc.sensors: unknown sensor preset 'fitbit'"),
    ("osc: {map: [{address: /x, source: X}]}", "10:15 E016 inputs.osc.map[0].source: expected a source name"),
    ("modulate: [{source: bio.hr, param: fx.glow, amount: 99}]", "10:55 E005 inputs.modulate[0].amount: 99"),
    ("modulate: [{source: bio.hr, param: fx.glow, beats: true}]", "10:14 E016 inputs.modulate[0]: modulation "
                                                                   "bio.hr -> fx.glow: beats and wraps need an envelope"),
    ("modulate: [{source: Bio, param: fx.glow}]", "10:23 E016 inputs.modulate[0].source: 'Bio' is not a source"),
])
def test_bad_inputs_name_their_line_column_and_what_was_expected(tmp_path, inputs, where):
    errors = errors_of(tmp_path, inputs)
    assert any(e.startswith(where) for e in errors), errors


def test_the_number_of_mappings_is_bounded(tmp_path):
    many = "midi:\n  map:\n" + "".join(f"    - {{cc: {i % 128}, param: fx.glow}}\n" for i in range(600))
    assert any("600 mappings; at most 512" in e for e in errors_of(tmp_path, many))


LEARN_SHOW = """\
# the performer's own words, kept
format: 1
inputs:
  midi:
    map:
      - {cc: 7, param: gen.psi}   # the master fader
cues:
  - id: a
    actions:
      - fade: {param: gen.psi, to: 0.5, time: 1}   # a slow one
"""


def test_learn_adds_an_entry_keeping_comments_and_layout(tmp_path):
    path = tmp_path / "show.yaml"
    path.write_text(LEARN_SHOW)
    assert add_midi_mapping(str(path), {"cc": 8, "channel": 2, "param": "walk.speed"}) == \
        "show.yaml: cc 8 -> walk.speed"
    text = path.read_text()
    assert text == LEARN_SHOW.replace("# the master fader\n",
                                      "# the master fader\n      - {cc: 8, channel: 2, param: walk.speed}\n")
    add_midi_mapping(str(path), {"cc": 8, "channel": 2, "param": "gen.psi"})   # the same control again
    assert path.read_text().count("cc: 8") == 1 and "{cc: 8, channel: 2, param: gen.psi}" in path.read_text()
    assert [b.param for b in load_show(str(path)).inputs["midi"]["map"]] == ["gen.psi", "gen.psi"]
    assert sorted(os.listdir(tmp_path)) == ["show.yaml"]                       # no temporary left behind


def test_learn_creates_the_section_where_there_is_none(tmp_path):
    path = tmp_path / "show.yaml"
    path.write_text("format: 1  # plain\ncues:\n  - id: a\n    actions:\n      - fade: {param: gen.psi, to: 1, time: 1}\n")
    add_midi_mapping(str(path), {"note": 36, "param": "gen.psi", "toggle": True})
    assert path.read_text().endswith("inputs:\n  midi:\n    map:\n      - {note: 36, param: gen.psi, toggle: true}\n")
    assert "# plain" in path.read_text()


@pytest.mark.parametrize("text, entry, words", [
    (LEARN_SHOW, {"cc": 9, "param": "no.such"}, "would not load, the file is unchanged"),
    ("- a list\n", {"cc": 9, "param": "gen.psi"}, "not a show"),
    ("format: 1\n" + "#" * 5_000_000 + "\n", {"cc": 9, "param": "gen.psi"}, "larger than"),
])
def test_learn_never_leaves_a_broken_show(tmp_path, text, entry, words):
    path = tmp_path / "show.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=words):
        add_midi_mapping(str(path), entry)
    assert path.read_text() == text


def test_a_key_arms_midi_learn_for_a_parameter(tmp_path):
    from controllers.keyboard import Keyboard
    show = load_show(write(tmp_path, "keyboard: {keys: {l: learn fx.glow}}\n"))
    keys = show.inputs["keyboard"]["keys"]
    assert keys["l"] == "learn fx.glow"
    posted = []
    keyboard = Keyboard(keys=keys)
    keyboard.start(posted.append, __import__("engine.clock", fromlist=["WallClock"]).WallClock())
    assert keyboard.press("l")
    assert (posted[0].kind, posted[0].key, posted[0].value) == ("command", "learn", "fx.glow")
    assert any("undefined parameter 'no.such'" in e for e in errors_of(tmp_path, "keyboard: {keys: {l: learn no.such}}"))


def test_a_key_nudges_a_parameter(tmp_path):
    from controllers.keyboard import Keyboard
    from engine.clock import WallClock
    show = load_show(write(tmp_path, "keyboard: {keys: {_1: nudge fx.glow -0.25}}\n"))
    posted = []
    keyboard = Keyboard(keys=show.inputs["keyboard"]["keys"])
    keyboard.start(posted.append, WallClock())
    assert keyboard.press("_1")
    assert (posted[0].kind, posted[0].key, posted[0].value) == ("nudge", "fx.glow", -0.25)
    errors = errors_of(tmp_path, "keyboard: {keys: {_1: nudge no.such 1}}")
    assert any("undefined parameter 'no.such'" in e for e in errors)
    assert any("is not one of" in e for e in errors_of(tmp_path, "keyboard: {keys: {_1: nudge fx.glow lots}}"))
