"""What a hostile or careless shader file, a long run or a broken stage must never do to the picture:
freeze it (an endless loop), blacken it (a broken blend or HUD stage), leak GL objects, or lose time precision."""

from __future__ import annotations

import os
import shutil
import time

import numpy as np
import pytest

from engine.gl import probe
from engine.gl.compositor import TIME_WRAP_SECONDS
from tests.conftest import ROOT
from tests.gl.test_compositor import EFFECTS, SHADERS, Rig, gen, solid

ENDLESS = """// An effect whose loop never ends in practice: it would stop the engine if it ran in the display.
uniform float amount;   // default 0.0, range 0.0 .. 1.0
uniform sampler2D u_image;
uniform float u_time;
uniform vec2 u_resolution;
in vec2 uv;
out vec4 fragColor;
void main() {
    vec3 c = texture(u_image, uv).rgb;
    for (int i = 0; i < 2000000000; i++) { c = sin(c * 1.0001 + float(i)); }
    fragColor = vec4(mix(texture(u_image, uv).rgb, c, amount), 1.0);
}
"""


@pytest.fixture()
def folder(tmp_path):
    path = tmp_path / "shaders"
    shutil.copytree(SHADERS, path)
    return path


def save(path, text: str, stamp: float) -> None:
    path.write_text(text)
    os.utime(path, (stamp, stamp))


def test_an_endless_loop_is_killed_in_the_probe_and_the_display_goes_on(gl, folder, monkeypatch):
    monkeypatch.setattr(probe, "PER_SHADER_SECONDS", 1.5)
    r = Rig(gl, fit="fill", chain=("vignette",), shader_dir=str(folder))
    r.params.set("vignette.amount", 1.0)
    frame = gen(solid((200, 200, 200)), 1)
    before = r.draw(0.0, [frame]).copy()
    save(folder / "vignette.glsl", ENDLESS.replace("amount", "amount"), 1e9)
    drawn, errors = 0, list(r.library.poll())
    while r.library.pending:
        assert np.array_equal(r.draw(0.1, [frame]), before)   # the old vignette keeps running meanwhile
        drawn += 1
        errors += r.library.poll()
        time.sleep(0.01)
    assert drawn >= 10                                         # frames kept coming while the probe ran
    assert len(errors) == 1 and "did not finish" in errors[0].message and "vignette.glsl" in str(errors[0])
    assert np.array_equal(r.draw(0.2, [frame]), before)
    r.release()


def test_a_shader_over_its_time_budget_is_refused(gl, folder):
    r = Rig(gl, fit="fill", chain=("vignette",), shader_dir=str(folder))
    r.library.budget_ms = 1e-6                                 # nothing can draw a frame this fast
    text = (folder / "vignette.glsl").read_text()
    save(folder / "vignette.glsl", text + "\n// touched\n", 1e9)
    errors = r.settle()
    assert len(errors) == 1 and "too slow" in errors[0].message
    assert r.library.get("vignette") is not None              # the running version stays
    r.release()


def test_the_shipped_effects_draw_well_inside_the_default_budget(gl):
    r = Rig(gl, chain=EFFECTS)
    assert sorted(r.library.effects) == sorted([*EFFECTS, "blend", "hud"]) and not r.library.errors
    r.release()


@pytest.mark.parametrize("stage", ["blend", "hud"])
def test_saving_a_compositor_stage_never_freezes_the_picture(gl, folder, stage):
    r = Rig(gl, fit="fill", chain=(), shader_dir=str(folder))
    red, blue, green = gen(solid((255, 0, 0)), 1), gen(solid((0, 0, 255)), 2), gen(solid((0, 255, 0)), 3)
    assert tuple(r.draw(0.0, [red])[45, 80]) == (255, 0, 0)
    path = folder / f"{stage}.glsl"
    save(path, path.read_text(), 1e9)                          # saved unchanged
    assert r.settle() == []
    r.draw(1.0, [red, blue])
    assert tuple(r.draw(2.5, [red, blue])[45, 80]) == (0, 0, 255)   # new frames still reach the picture
    save(path, path.read_text().replace("void main() {", "void main() { broken"), 2e9)
    errors = r.settle()
    assert len(errors) == 1 and f"{stage}.glsl" in str(errors[0])
    r.draw(3.0, [blue, green])
    assert tuple(r.draw(5.0, [blue, green])[45, 80]) == (0, 255, 0)   # the previous stage still runs
    r.release()


def test_a_broken_stage_at_start_falls_back_to_the_shipped_one(gl, folder):
    save(folder / "blend.glsl", "this is not glsl\n", 1e9)
    r = Rig(gl, fit="fill", chain=(), shader_dir=str(folder))
    assert "blend" in r.comp.errors
    assert tuple(r.draw(0.0, [gen(solid((0, 255, 0)), 1)])[45, 80]) == (0, 255, 0)   # not black
    r.release()


def test_no_gl_object_is_made_per_frame(gl):
    """Feedback on, the chain switched back and forth, a HUD overlay: the inventory stays flat."""
    r = Rig(gl, fit="fill", chain=EFFECTS)
    r.params.set("feedback.amount", 0.8)
    r.params.set("kaleidoscope.amount", 0.5)
    overlay = np.zeros((40, 120, 4), np.uint8)
    frames = [gen(solid((i * 20 % 255, 80, 160)), i) for i in range(1, 400)]
    for i in range(20):
        r.comp.render(i * 0.03, frames[i:i + 2], r.params.snapshot(), r.fbo, overlay)
    settled = r.gl.count
    created = r.gl.created
    for i in range(20, 300):
        if i % 50 == 0:
            r.comp.chain = ["vignette"] if r.comp.chain != ["vignette"] else list(EFFECTS)
        r.comp.render(i * 0.03, frames[i:i + 2], r.params.snapshot(), r.fbo, overlay)
    r.comp.chain = list(EFFECTS)
    for i in range(300, 320):
        r.comp.render(i * 0.03, frames[i:i + 2], r.params.snapshot(), r.fbo, overlay)
    assert r.gl.count == settled, r.gl.counts()
    # Only the feedback pair (two targets: four objects) is made again, each of the 3 times it rejoins the chain.
    assert r.gl.created - created == 3 * 4
    r.release()


def test_time_uniform_keeps_its_precision_after_weeks(gl, folder):
    """A shader that shows u_time: three weeks in, the value it gets is the time within the hour."""
    save(folder / "clock.glsl", "uniform float amount;  // default 0.0, range 0.0 .. 1.0\n"
                                "uniform float u_time;\nin vec2 uv;\nout vec4 fragColor;\n"
                                "void main() { fragColor = vec4(fract(u_time), u_time / 3600.0, 0.0, 1.0); }\n", 1e9)
    r = Rig(gl, fit="fill", chain=("clock",), shader_dir=str(folder))
    r.params.set("clock.amount", 1.0)
    weeks = 3 * 7 * 86400 + 1234.3        # as float32, three weeks in, only eighths of a second would be left
    pixel = r.draw(weeks, [gen(solid((0, 0, 0)), 1)])[45, 80]
    r.release()
    within = weeks % TIME_WRAP_SECONDS
    assert abs(int(pixel[0]) - round(255 * (within % 1))) <= 1          # the 0.3 s survives
    assert abs(int(pixel[1]) - round(255 * within / 3600)) <= 1


def test_without_a_working_probe_shaders_still_run(gl, folder, monkeypatch, caplog):
    monkeypatch.setattr(probe.sys, "executable", "/bin/false")
    save(folder / "vignette.glsl", (folder / "vignette.glsl").read_text() + "\n// new\n", 1e9)
    r = Rig(gl, fit="fill", chain=("vignette",), shader_dir=str(folder))
    assert r.library.get("vignette") is not None
    assert any("could not run" in rec.message for rec in caplog.records)
    r.release()


@pytest.mark.parametrize("content,words", [
    (b"// big\n" + b" " * (300 * 1024), "KiB"),
    (b"\xff\xfe not utf-8", "UTF-8"),
], ids=["oversized", "binary"])
def test_files_that_are_not_effects(gl, folder, content, words):
    (folder / "odd.glsl").write_bytes(content)
    r = Rig(gl, chain=("odd",), shader_dir=str(folder))
    assert words in r.comp.errors["odd"]
    r.release()


def test_a_deleted_effect_keeps_running_and_says_so(gl, folder):
    r = Rig(gl, fit="fill", chain=("vignette",), shader_dir=str(folder))
    r.params.set("vignette.amount", 1.0)
    (folder / "vignette.glsl").unlink()
    errors = r.settle()
    assert len(errors) == 1 and "cannot read" in errors[0].message
    assert r.library.get("vignette") is not None
    r.release()


def test_probe_processes_do_not_outlive_their_job(folder, monkeypatch):
    monkeypatch.setattr(probe, "PER_SHADER_SECONDS", 1.0)
    path = str(folder / "endless.glsl")
    from engine.gl.glsl import parse_params, program_sources
    request = probe.ProbeRequest.of("endless", path, *program_sources(ENDLESS), parse_params("endless", path, ENDLESS))
    job = probe.ProbeJob([request])
    process = job._proc
    verdicts = job.wait(60)
    assert verdicts and not verdicts[0].ok and process is not None and process.poll() is not None


def test_a_fifo_in_place_of_an_effect_never_blocks_the_display(gl, folder):
    r = Rig(gl, fit="fill", chain=("vignette",), shader_dir=str(folder))
    (folder / "vignette.glsl").unlink()
    os.mkfifo(folder / "vignette.glsl")
    errors = r.settle()
    assert len(errors) == 1 and "not a regular file" in errors[0].message
    assert r.library.get("vignette") is not None
    r.release()


@pytest.mark.parametrize("condition", ["u_time > 3000.0", "u_resolution.x != 1920.0", "amount > 0.4 && amount < 0.6"],
                         ids=["late-in-the-hour", "not-at-1080p", "mid-range"])
def test_shaders_that_loop_only_sometimes_are_caught(gl, folder, monkeypatch, condition):
    """The probe draws at the output's own size, at both ends of the hour and at midpoints of the ranges."""
    monkeypatch.setattr(probe, "PER_SHADER_SECONDS", 1.5)
    text = ENDLESS.replace("for (int i = 0;", f"if ({condition}) for (int i = 0;")
    save(folder / "sneaky.glsl", text, 1e9)
    r = Rig(gl, fit="fill", chain=("sneaky",), shader_dir=str(folder), size=(160, 90))
    assert r.library.get("sneaky") is None and "did not finish" in r.comp.errors["sneaky"]
    r.release()


def test_an_effect_may_not_take_an_engine_parameter_group(gl, folder):
    save(folder / "gen.glsl", "uniform float psi;  // default 0.7, range -1e9 .. 1e9\nout vec4 fragColor;\n"
                              "void main() { fragColor = vec4(psi); }\n", 1e9)
    r = Rig(gl, chain=("gen",), shader_dir=str(folder))
    assert "engine parameters" in r.comp.errors["gen"] and "gen.psi" not in r.params.keys()
    r.release()


def test_a_rate_parameter_turns_smoothly_across_the_hour_and_when_it_changes(gl, folder):
    """u_phase_<name> integrates the parameter: across the hourly wrap of u_time, and when the rate moves,
    the phase moves on by rate × frame time and never jumps."""
    save(folder / "turn.glsl", "uniform float speed;  // default 0.0, range -2.0 .. 2.0\n"
                               "uniform float u_phase_speed;\nin vec2 uv;\nout vec4 fragColor;\n"
                               "void main() { fragColor = vec4(u_phase_speed / 6.2831853, 0.0, 0.0, 1.0); }\n", 1e9)
    r = Rig(gl, fit="fill", chain=("turn",), shader_dir=str(folder))
    r.comp.skip_at_defaults = False
    frame = gen(solid((0, 0, 0)), 1)
    r.params.set("turn.speed", 0.5)
    start = 3600.0 * 24 * 7 - 5.0                    # a week in, five seconds before an hour turns
    values = []
    for i in range(11):                              # one frame a second, across the hour
        if i == 6:
            r.params.set("turn.speed", 1.0)          # the rate changes live
        values.append(int(r.draw(start + i, [frame])[45, 80][0]))
    r.release()
    steps = [(b - a) % 256 for a, b in zip(values, values[1:])]
    # 0.5 rad/s is 255 * 0.5 / 2π ≈ 20 levels a second, 1 rad/s about 41: no step is anything else.
    assert all(abs(s - 20) <= 1 for s in steps[:5]) and all(abs(s - 41) <= 1 for s in steps[5:]), steps
