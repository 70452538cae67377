"""Compositor pixels on a real GL context (EGL, Mesa in CI): placement, blending, effects, hot reload."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

import time

from engine.gl.compositor import Compositor, Layout, blend_weight, fit_transform
from engine.gl.resources import GLResources
from engine.gl.shaders import ShaderLibrary
from engine.params import ParamStore
from engine.worker import GeneratedFrame
from tests.conftest import ROOT

SHADERS = str(ROOT / "shaders")
EFFECTS = ("feedback", "kaleidoscope", "colour_grade", "vignette", "crossfade")


def solid(rgb, size=64) -> np.ndarray:
    frame = np.zeros((size, size, 3), np.uint8)
    frame[...] = rgb
    return frame


def gen(rgb: np.ndarray, seq: int) -> GeneratedFrame:
    return GeneratedFrame(rgb=rgb, stamp=seq * 0.1, sequence=seq, latency=0.0)


class Rig:
    """A compositor drawing into its own framebuffer, read back top row first."""

    def __init__(self, ctx, size=(160, 90), fit="fit", region=(0.0, 0.0, 1.0, 1.0), chain=EFFECTS,
                 shader_dir=SHADERS, canvas=None):
        self.params = ParamStore()
        self.gl = GLResources(ctx)
        self.library = ShaderLibrary(self.gl, shader_dir, self.params, size=size)
        self.comp = Compositor(self.gl, self.library, size, Layout(canvas or size, region, fit), chain)
        self.target = self.gl.target(size)
        self.fbo = self.target.fbo
        self.size = size

    def draw(self, now, frames) -> np.ndarray:
        self.comp.render(now, frames, self.params.snapshot(), self.fbo)
        w, h = self.size
        return np.frombuffer(self.fbo.read(components=3, alignment=1), np.uint8).reshape(h, w, 3)[::-1]

    def settle(self, timeout: float = 120.0) -> list:
        """Poll the library until no shader waits for the probe; the errors found on the way."""
        errors = list(self.library.poll())
        deadline = time.monotonic() + timeout
        while self.library.pending and time.monotonic() < deadline:
            time.sleep(0.02)
            errors += self.library.poll()
        assert not self.library.pending, "the shader probe gave no verdict"
        return errors

    def release(self):
        self.comp.release()
        self.library.release()
        self.gl.release_all()
        assert self.gl.count == 0


@pytest.fixture()
def rig(gl):
    r = Rig(gl)
    yield r
    r.release()


def banded() -> np.ndarray:
    """A 64² frame: top 8 rows red, bottom 8 blue, left 8 columns green, the rest grey."""
    f = solid((128, 128, 128))
    f[:8] = (255, 0, 0)
    f[-8:] = (0, 0, 255)
    f[8:-8, :8] = (0, 255, 0)
    return f


def test_known_texture_is_drawn_upright(rig):
    img = rig.draw(0.0, [gen(banded(), 1)])
    # fit on 16:9: the square image spans the full height, centred
    assert tuple(img[2, 80]) == (255, 0, 0) and tuple(img[-3, 80]) == (0, 0, 255)
    assert tuple(img[45, 37]) == (0, 255, 0) and tuple(img[45, 80]) == (128, 128, 128)


def test_fit_letterboxes_fill_crops_stretch_fills(gl):
    for fit, left, top in (("fit", (0, 0, 0), (255, 0, 0)), ("fill", (0, 255, 0), (128, 128, 128)),
                           ("stretch", (0, 255, 0), (255, 0, 0))):
        r = Rig(gl, fit=fit)
        img = r.draw(0.0, [gen(banded(), 1)])
        r.release()
        assert tuple(img[45, 2]) == left, fit      # left edge: black bar, or the green band
        assert tuple(img[1, 80]) == top, fit       # top edge: the red band, unless fill cropped it away


def test_fit_transform_numbers():
    assert fit_transform((256, 256), (1920, 1080), "fit") == pytest.approx((16 / 9, 1.0, (1 - 16 / 9) / 2, 0.0))
    assert fit_transform((256, 256), (1920, 1080), "fill") == pytest.approx((1.0, 9 / 16, 0.0, (1 - 9 / 16) / 2))
    with pytest.raises(ValueError):
        fit_transform((1, 1), (1, 1), "zoom")


def test_regions_split_the_canvas_between_outputs(gl):
    canvas = (320, 90)
    left = Rig(gl, size=(160, 90), region=(0.0, 0.0, 0.5, 1.0), fit="stretch", canvas=canvas)
    right = Rig(gl, size=(160, 90), region=(0.5, 0.0, 0.5, 1.0), fit="stretch", canvas=canvas)
    frame = solid((0, 0, 0))
    frame[:, :32] = (255, 0, 0)
    frame[:, 32:] = (0, 0, 255)
    a, b = left.draw(0.0, [gen(frame, 1)]), right.draw(0.0, [gen(frame, 1)])
    left.release(), right.release()
    assert (a[:, 5:150] == (255, 0, 0)).all() and (b[:, 10:155] == (0, 0, 255)).all()


def test_blend_weights():
    assert blend_weight(5.0, None) == 1.0
    assert blend_weight(2.0, (1.0, 2.0)) == 0.0
    assert blend_weight(2.25, (1.0, 2.0)) == pytest.approx(0.25)
    assert blend_weight(9.0, (1.0, 2.0)) == 1.0


def test_frames_are_blended_by_time(rig):
    red, blue = gen(solid((255, 0, 0)), 1), gen(solid((0, 0, 255)), 2)
    rig.draw(0.0, [red])
    rig.draw(1.0, [red, blue])                     # blue arrives one second after red
    start = rig.draw(1.0, [red, blue])[45, 80]
    mid = rig.draw(1.5, [red, blue])[45, 80]
    end = rig.draw(2.5, [red, blue])[45, 80]
    assert tuple(start) == (255, 0, 0)
    assert abs(int(mid[0]) - 128) <= 2 and abs(int(mid[2]) - 128) <= 2
    assert tuple(end) == (0, 0, 255)


def test_no_frame_yet_is_black_not_an_error(rig):
    assert rig.draw(0.0, []).max() == 0 and not rig.comp.errors


@pytest.mark.parametrize("key,value,check", [
    ("vignette.amount", 1.0, lambda base, img: img[45, 80].mean() > 0.9 * base[45, 80].mean()
     and img[2, 2].mean() < 0.5 * base[2, 2].mean()),
    ("colour_grade.saturation", 0.0, lambda base, img: np.ptp(img[45, 80].astype(int)) <= 1),
    ("colour_grade.exposure", 1.0, lambda base, img: img[45, 80].mean() > 1.3 * base[45, 80].mean()),
    ("colour_grade.hue", 0.33, lambda base, img: np.argmax(img[45, 80]) != np.argmax(base[45, 80])),
    ("crossfade.amount", 1.0, lambda base, img: img.max() == 0),
    ("kaleidoscope.amount", 1.0, lambda base, img: np.abs(img.astype(int) - base.astype(int)).mean() > 10),
])
def test_each_effect_changes_the_image_as_its_parameter_says(gl, key, value, check):
    r = Rig(gl, fit="fill")
    frame = banded()
    frame[16:48, 16:48] = (200, 60, 30)  # a saturated, warm centre
    base = r.draw(0.0, [gen(frame, 1)]).copy()
    r.params.set(key, value)
    img = r.draw(0.1, [gen(frame, 1)])
    r.release()
    assert check(base, img), key


def test_every_effect_compiles_and_is_identity_at_defaults(gl):
    """Each effect drawn at its defaults (the skip switched off, so every pass really runs) leaves the
    picture as it is."""
    frame = banded()
    plain = Rig(gl, fit="fill", chain=())
    base = plain.draw(0.0, [gen(frame, 1)]).copy()
    plain.release()
    for effect in EFFECTS:
        r = Rig(gl, fit="fill", chain=(effect,))
        assert sorted(r.library.effects) == sorted([effect, "blend", "hud"])
        r.comp.skip_at_defaults = False
        r.draw(0.0, [gen(frame, 1)])                  # a feedback effect's history starts black
        img = r.draw(0.1, [gen(frame, 1)])
        r.release()
        assert np.abs(img.astype(int) - base.astype(int)).max() <= 1, effect


def test_feedback_leaves_trails(gl):
    r = Rig(gl, fit="fill", chain=("feedback",))
    r.params.set("feedback.amount", 0.9)
    white, black = gen(solid((255, 255, 255)), 1), gen(solid((0, 0, 0)), 2)
    r.draw(0.0, [white])
    r.draw(0.0, [white])
    r.draw(1.0, [white, black])
    img = r.draw(5.0, [white, black])  # fully faded to black: only the trail is left
    r.release()
    assert img[45, 80].mean() > 100


def test_broken_shader_on_reload_keeps_the_old_one_and_reports_the_line(gl, tmp_path):
    folder = tmp_path / "shaders"
    shutil.copytree(SHADERS, folder)
    r = Rig(gl, fit="fill", chain=("vignette",), shader_dir=str(folder))
    r.params.set("vignette.amount", 1.0)
    frame = gen(solid((200, 200, 200)), 1)
    before = r.draw(0.0, [frame]).copy()
    path = folder / "vignette.glsl"
    lines = path.read_text().splitlines()
    lines[10] = lines[10] + " this is not glsl"
    path.write_text("\n".join(lines) + "\n")
    os.utime(path, (1e9, 1e9))
    errors = r.settle()
    assert len(errors) == 1 and errors[0].line == 11 and errors[0].path.endswith("vignette.glsl")
    assert "vignette.glsl:11" in r.comp.errors["vignette"]
    assert np.array_equal(r.draw(0.1, [frame]), before)   # the old vignette still runs
    assert r.settle() == []                              # reported once per save, not every poll
    path.write_text(path.read_text().replace(" this is not glsl", "").replace(
        "texture(u_image, uv).rgb * v", "vec3(0.0, 1.0, 0.0)"))
    os.utime(path, (2e9, 2e9))
    assert r.settle() == [] and "vignette" not in r.library.errors
    assert tuple(r.draw(0.2, [frame])[45, 80]) == (0, 255, 0)  # the fixed file took over
    r.release()


def test_shader_without_parameter_declaration_is_named(gl, tmp_path):
    (tmp_path / "bad.glsl").write_text("uniform float strength;\nuniform sampler2D u_image;\nin vec2 uv;\n"
                                       "out vec4 fragColor;\nvoid main() { fragColor = texture(u_image, uv); }\n")
    resources = GLResources(gl)
    lib = ShaderLibrary(resources, str(tmp_path), ParamStore())
    lib.preload(["bad"])
    assert lib.get("bad") is None
    assert "bad.glsl:1: uniform float strength needs a declaration" in str(lib.errors["bad"])
    lib.release()


def test_missing_effect_is_reported_and_skipped(gl):
    r = Rig(gl, chain=("nonexistent", "vignette"))
    assert "nonexistent" in r.comp.errors
    r.params.set("vignette.amount", 1.0)
    img = r.draw(0.0, [gen(solid((100, 100, 100)), 1)])
    r.release()
    assert img[45, 80].mean() > 90


@pytest.mark.parametrize("mode, expected", [(0, (200, 50, 0)), (1, (255, 150, 100)), (2, (221, 130, 100)),
                                            (3, (78, 20, 0)), (4, (100, 50, 100))])
def test_the_camera_layer_blends_in_each_mode(gl, mode, expected):
    r = Rig(gl, size=(96, 96), chain=("camera_layer",))
    try:
        r.params.set("camera_layer.amount", 1.0)
        r.params.set("camera_layer.mode", float(mode))
        r.comp.set_layer("camera", solid((200, 50, 0), 32), 1, now=0.0)
        got = r.draw(1.0, [gen(solid((100, 100, 100)), 1)])[48, 48]     # faded in by then
        assert np.all(np.abs(got.astype(int) - expected) <= 2), (mode, got)
    finally:
        r.release()


def test_the_camera_layer_is_upright_placed_and_faded_by_its_opacity(gl):
    r = Rig(gl, size=(160, 90), fit="fill", chain=("camera_layer",))
    try:
        camera = solid((0, 255, 0), 64)
        camera[:8] = (255, 0, 0)                                 # red on top, blue at the bottom
        camera[-8:] = (0, 0, 255)
        base = [gen(solid((10, 10, 10)), 1)]
        assert tuple(r.draw(0.0, base)[45, 80]) == (10, 10, 10)  # no camera yet, and amount 0: untouched
        r.params.set("camera_layer.amount", 1.0)
        assert tuple(r.draw(0.0, base)[45, 80]) == (10, 10, 10)  # amount 1 but no frame: untouched
        r.comp.set_layer("camera", camera, 1, now=0.0)
        rising = r.draw(0.5, base)[45, 80].astype(int)           # fading in over a second
        assert np.all(np.abs(rising - (5, 132, 5)) <= 3), rising
        img = r.draw(1.0, base)
        assert tuple(img[2, 80]) == (255, 0, 0) and tuple(img[-3, 80]) == (0, 0, 255)   # upright
        assert tuple(img[45, 5]) == (10, 10, 10)                 # fit: the sides of 16:9 stay the picture
        r.params.set("camera_layer.fill", 1.0)
        assert tuple(r.draw(1.1, base)[45, 5]) == (0, 255, 0)    # fill: the camera covers it all
        r.params.set("camera_layer.amount", 0.5)
        half = r.draw(1.2, base)[45, 80].astype(int)
        assert np.all(np.abs(half - (5, 132, 5)) <= 2), half
        r.comp.set_layer("camera", solid((255, 255, 255), 64), 1, now=1.3)   # not newer: not uploaded
        assert np.all(np.abs(r.draw(1.3, base)[45, 80].astype(int) - (5, 132, 5)) <= 2)
        r.params.set("camera_layer.amount", 1.0)
        r.comp.set_layer("camera", None, 0, now=2.0)             # the camera went: the layer fades out
        assert np.all(np.abs(r.draw(2.5, base)[45, 80].astype(int) - (5, 132, 5)) <= 3)
        assert tuple(r.draw(3.0, base)[45, 80]) == (10, 10, 10)
    finally:
        r.release()
