"""The cue list alone: no generator, no torch. Walk actions are handed to whoever runs the latents."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from engine.params import ParamSpec, engine_params
from engine.show.cues import CueRunner
from engine.show.load import load_show
from tests.conftest import ROOT


def cue_list(tmp_path, cues: str) -> tuple[CueRunner, list]:
    path = tmp_path / "show.yaml"
    path.write_text("format: 1\ngo_lockout: 0.5\nwalk: {seeds: [1, 2]}\ncues:\n"
                    + textwrap.indent(textwrap.dedent(cues).strip("\n"), "  ") + "\n")
    params = engine_params()
    params.declare(ParamSpec("vignette.amount", 0.0, 0.0, 1.0))
    walks: list = []
    runner = CueRunner(load_show(str(path)), params,
                       on_walk=lambda action, now, cue, index: walks.append((now, cue, index, action.keyframes)))
    return runner, walks


def test_cues_run_walks_and_fades_without_a_generator(tmp_path):
    cues, walks = cue_list(tmp_path, """
        - id: a
          actions: [{walk: {seeds: [7, 8], transition: 1}}, {fade: {param: vignette.amount, to: 1, time: 2}}]
          continue: auto-continue
          post_wait: 3
        - id: b
          pre_wait: 1
          actions: [{keyframe: {seed: 9, time: 0.5}}]
        """)
    cues.go(0.0)
    for t in (0.5, 1.0, 2.0, 3.0, 3.5, 4.0, 4.5):
        cues.update(t)
    assert [(now, cue, index) for now, cue, index, _ in walks] == [(0.0, "a", 0), (4.0, "b", 0)]
    assert [k.seed for k in walks[1][3]] == [9]
    assert cues.params.get("vignette.amount") == 1.0 and cues.standby is None


def test_reset_hands_back_the_opening_walk(tmp_path):
    cues, walks = cue_list(tmp_path, """
        - id: a
          actions: [{walk: {seeds: [7, 8]}}]
        """)
    cues.go(0.0)
    cues.reset(1.0)
    assert walks[-1][1] is None and [k.seed for k in walks[-1][3]] == [1, 2]


def test_the_cue_list_imports_neither_torch_nor_gl():
    script = (f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
              "import engine.show.cues, engine.show.load\n"
              "print(sorted(m for m in ('torch', 'moderngl', 'cv2', 'pyglet') if m in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr
