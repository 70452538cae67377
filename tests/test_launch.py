"""The command line, end to end in a subprocess: success prints frames/s, every failure is one line."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys

import cv2
import pytest

from tests.conftest import ROOT


def launch(*args: str, timeout: float = 120, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "launch.py"), *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env=env)


def assert_one_line_error(result: subprocess.CompletedProcess[str], code: int, *words: str) -> None:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines, "no error message"
    for word in words:
        assert word in lines[-1], lines[-1]


def test_help_documents_every_option_with_defaults():
    result = launch("--help")
    assert result.returncode == 0
    for option in ("--model", "--seeds", "--latents", "--psi", "--render", "--fps", "--size", "--precision",
                   "--interpolation", "--mix-seed", "--noise-mode", "--convert"):
        assert option in result.stdout
    assert "default: 30.0" in result.stdout


def test_render_default_model(tmp_path):
    out = tmp_path / "demo.mp4"
    result = launch("--render", str(out), "--seeds", "0-2", "--frames", "12", "--fps", "12", "--quiet")
    assert result.returncode == 0, result.stderr
    assert "frames/s" in result.stderr
    cap = cv2.VideoCapture(str(out))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 12
    assert (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))) == (256, 256)


def test_render_and_convert_an_official_pickle(tmp_path, tiny_pkl):
    converted = tmp_path / "tiny.safetensors"
    result = launch("--model", str(tiny_pkl), "--convert", str(converted))
    assert result.returncode == 0 and converted.is_file(), result.stderr
    result = launch("--model", str(converted), "--render", str(tmp_path / "f" / "%04d.png"), "--frames", "3",
                    "--quiet", "--size", "64x48", "--fit", "fit")
    assert result.returncode == 0, result.stderr
    assert sorted(os.listdir(tmp_path / "f")) == ["0000.png", "0001.png", "0002.png"]


@pytest.mark.parametrize("args,code,words", [
    (["--seeds", "x"], 2, ["--seeds"]),
    (["--size", "12"], 2, ["--size"]),
    (["--fps", "-3"], 2, ["--fps"]),
    (["--precision", "fp8"], 2, ["--precision"]),
    (["--output", "screen=x"], 2, ["--output"]),
    (["--headless", "--output", "region=0.5:0:0.9:1"], 1, ["region"]),
    (["--render", "out.avi"], 1, ["out.avi", "unknown output type"]),
    (["--render", "/proc/nope/x.mp4"], 1, ["x.mp4"]),
    (["--model", "missing.pkl", "--render", "x.mp4"], 1, ["missing.pkl", "cannot read"]),
    (["--latents", "missing.npz", "--render", "x.mp4"], 1, ["missing.npz"]),
    (["--class", "3", "--render", "x.mp4"], 1, ["unconditional"]),
    (["--device", "cuda:0", "--render", "x.mp4"], 1, ["CUDA"]),
    (["--mix-seed", "1", "--mix-layers", "20", "--render", "x.mp4"], 1, ["style mix"]),
])
def test_bad_arguments_end_with_one_clear_line(tmp_path, args, code, words):
    result = launch(*[a if a != "x.mp4" else str(tmp_path / "x.mp4") for a in args])
    assert_one_line_error(result, code, *words)


def test_hostile_model_is_refused_without_running(tmp_path):
    sentinel = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {sentinel}",))

    model = tmp_path / "evil.pkl"
    model.write_bytes(pickle.dumps({"G_ema": Evil()}))
    result = launch("--model", str(model), "--render", str(tmp_path / "x.mp4"))
    assert_one_line_error(result, 1, "evil.pkl", "refused")
    assert not sentinel.exists()


def test_live_headless_runs_and_reports(tmp_path):
    result = launch("--headless", "--duration", "2", "--hud", "--size", "320x180")
    assert result.returncode == 0, result.stderr
    assert "display fps" in result.stderr and "generator fps" in result.stderr


def test_live_without_a_display_says_so_in_one_line():
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "PYGLET_HEADLESS")}
    result = launch(env=env)
    assert_one_line_error(result, 1, "no display", "--headless", "--render")


def test_list_screens_on_a_real_display(xvfb_display):
    result = launch("--list-screens", env={**os.environ, "DISPLAY": xvfb_display})
    assert result.returncode == 0 and "0: 1920x1080" in result.stdout, result.stderr


# --------------------------------------------------------------------------------- hostile command lines
@pytest.mark.parametrize("args,words", [
    (["--fps", "inf"], "--fps"), (["--fps", "nan"], "--fps"), (["--duration", "1e308"], "--duration"),
    (["--seconds-per-keyframe", "1e-310"], "--seconds-per-keyframe"), (["--max-fps", "1e-300"], "--max-fps"),
    (["--psi", "1e30"], "--psi"), (["--threads", "100000"], "--threads"), (["--crf", "99"], "--crf"),
    (["--seeds", "0-4000000000"], "at most"), (["--output", "region=0:0:5e-324:1"], "region"),
    (["--mix-layers", "8:4"], "--mix-layers"), (["--frames", "0"], "--frames"),
    (["--osc", "nine"], "--osc"), (["--osc", "host:99999"], "--osc"), (["--osc-allow", "laptop"], "--osc-allow"),
    (["--osc-out", "host:port"], "--osc-out"),
    (["--render-scale", "0.01"], "--render-scale"),
], ids=lambda v: v if isinstance(v, str) else " ".join(v))
def test_absurd_numbers_are_usage_errors_in_one_line(args, words):
    result = launch(*args, "--render", "/tmp/never.mp4")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and words in lines[0] and "see launch.py --help" in lines[0], result.stderr


def test_a_mistyped_option_is_one_line_not_a_page_of_usage():
    result = launch("--rendr", "x.mp4")
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2 and len(lines) == 1 and "--rendr" in lines[0]


def test_help_says_each_default_once():
    text = launch("--help").stdout
    assert text.count("(default: None)") == 0
    blocks, current = [], []
    for line in text.splitlines():
        if line.startswith("  -") or not line.strip():
            blocks.append(" ".join(current))
            current = []
        if line.strip():
            current.append(line.strip())
    for block in blocks + [" ".join(current)]:
        assert block.count("default") <= 1 or "(default:" not in block, block


@pytest.mark.parametrize("args,words", [
    (["--render", "{tmp}/f/%d%d.png"], "exactly one frame-number field"),
    (["--render", "{tmp}/f/%s.png"], "exactly one frame-number field"),
    (["--render", "{tmp}/%d/x.png"], "file name"),
    (["--convert", "{tmp}"], "is a folder"),
    (["--convert", "{tmp}/missing/x.safetensors"], "does not exist"),
    (["--shaders", "{tmp}/nowhere", "--headless"], "no such folder"),
    (["--device", "meta", "--render", "{tmp}/x.mp4"], "--device meta"),
    (["--log", "{tmp}", "--render", "{tmp}/x.mp4"], "--log"),
], ids=["two-fields", "string-field", "pattern-in-folder", "convert-folder", "convert-missing", "shaders",
        "device", "log-folder"])
def test_odd_paths_and_devices_fail_in_one_line_before_any_work(tmp_path, args, words):
    result = launch(*[a.format(tmp=tmp_path) for a in args])
    assert_one_line_error(result, 1, words)


def test_the_reference_show_renders_past_its_last_go():
    from engine.show import load_show
    from engine.show.render import show_length
    show = load_show(str(ROOT / "shows" / "reference.yaml"))
    # GO at 30 starts cue 2; it continues to 3 (at 36, with a 1 s pre-wait and 3 s keyframe) and follows to 4.
    assert show_length(show, [0.0, 15.0, 30.0]) >= 42.0
    assert show_length(show, [0.0, 15.0, 30.0]) <= 30.0 + 600.0


def test_options_are_never_abbreviated():
    """'--sup' must not mean --supervise: a child would supervise again, without end."""
    result = launch("--sup", "--headless")
    assert result.returncode == 2 and "--sup" in result.stderr


def test_an_integer_too_large_for_a_float_is_a_usage_error():
    result = launch("--threads", "1" + "0" * 400, "--render", "/tmp/never.mp4")
    assert result.returncode == 2 and "Traceback" not in result.stderr and "--threads" in result.stderr


def test_a_frame_number_field_of_absurd_width_is_refused(tmp_path):
    assert_one_line_error(launch("--render", str(tmp_path / "f" / "%99999999999d.png")), 1, "frame-number field")


def test_a_show_with_its_own_chain_needs_no_default_effects(tmp_path):
    folder = tmp_path / "fx"
    folder.mkdir()
    for name in ("blend", "hud", "vignette"):
        (folder / f"{name}.glsl").write_text((ROOT / "shaders" / f"{name}.glsl").read_text())
    show = tmp_path / "show.yaml"
    show.write_text("format: 1\nchain: [vignette]\ncues: []\n")
    result = launch(str(show), "--shaders", str(folder), "--render", str(tmp_path / "o" / "%03d.png"),
                    "--frames", "2", "--size", "64x64", "--quiet")
    assert result.returncode == 0, result.stderr


def test_check_validates_a_show_without_torch_or_gl():
    script = ("import sys; sys.argv = ['launch.py', 'shows/reference.yaml', '--check']\n"
              "import launch\ncode = launch.main()\n"
              "print(code, sorted(m for m in ('torch', 'moderngl', 'cv2', 'pyglet') if m in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.stdout.strip().splitlines()[-1] == "0 []", done.stdout + done.stderr
    assert "valid (5 cues" in done.stdout


def test_check_reports_every_error_and_with_model_the_model_checks(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("format: 1\nwalk: {seeds: [1], class: 3}\ncues:\n  - id: a\n    pre_wait: -1\n  - id: a\n")
    result = launch(str(bad), "--check")
    assert result.returncode == 1 and "E006" in result.stderr and "E002" in result.stderr
    fixed = tmp_path / "fixed.yaml"
    fixed.write_text("format: 1\nwalk: {seeds: [1], class: 3}\ncues: []\n")
    assert launch(str(fixed), "--check").returncode == 0
    result = launch(str(fixed), "--check", "--with-model")
    assert_one_line_error(result, 1, "E017", "unconditional")


def test_list_params_names_every_parameter_with_its_osc_address():
    result = launch("shows/reference.yaml", "--list-params")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    for key in ("gen.psi", "walk.speed", "vignette.amount", "kaleidoscope.spin", "mood.energy"):
        line = next(line for line in lines if line.startswith(key + " "))
        assert f"/param/{key.replace('.', '/')}" in line and "default" in line
