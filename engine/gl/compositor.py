"""The GL compositor: generated frames in, a finished picture out, at the display's rate.

Per output, every display frame:

1. **Upload** any newly generated frame into one of two textures (the older one is kept).
2. **Blend** the two latest generated frames by time (``blend.glsl``): when a frame arrives, the screen shows
   the previous one and fades to the new one over the interval the generator took to make it. A generator
   slower than the display thus gives smooth motion one generator frame behind, never a stutter.
   The same pass places the square image on the output: ``fit`` (letterbox), ``fill`` (crop) or ``stretch``,
   for the output's region of the canvas (one projector of several).
3. **Effects**: the chain of ``shaders/`` effects, ping-ponging between two textures; effects at their
   defaults are skipped; feedback effects get their own previous output, and every effect can sample the
   image layers (:meth:`Compositor.set_layer`: the camera, as ``u_camera``).
4. **Present**: ``hud.glsl`` draws the result (with the operator overlay if any) into the target framebuffer.

Nothing raises out of :meth:`Compositor.render`: a failing stage is reported in :attr:`Compositor.errors`
and skipped, and without any generated frame yet the picture is black. Every GL object is made once, through
the output's :class:`~engine.gl.resources.GLResources`, and released by :meth:`Compositor.release` (or when an
effect leaves the chain): a long show creates nothing per frame.

Shaders see ``u_time`` as engine seconds **wrapped every hour** (:data:`TIME_WRAP_SECONDS`): a float32 uniform
that counted weeks would keep only about a tenth of a second of precision; at an hour it keeps 0.25 ms. For
motion at a rate set by a parameter (a spin, a drift), a shader reads ``u_phase_<name>``: the time integral of
its parameter ``<name>``, accumulated here in float64 and wrapped to [0, 2π). It never seams and never jumps
when the rate changes (``rate * u_time`` would turn the picture by the whole elapsed time at every change).

    comp = Compositor(gl, ShaderLibrary(gl, "shaders", params), (1920, 1080))
    comp.render(now, worker.frames.snapshot(), params.snapshot(), fbo)
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Sequence

import moderngl
import numpy as np

from engine.defaults import DEFAULT_CHAIN, DEFAULT_FIT, FIT_MODES
from engine.gl.resources import GLResources, RenderTarget
from engine.gl.shaders import STAGES, ShaderLibrary
from engine.logs import Throttle
from engine.worker import GeneratedFrame

log = logging.getLogger(__name__)
_throttle = Throttle(log)
TIME_WRAP_SECONDS = 3600.0
TAU = 2 * math.pi

MAX_LAYERS = 4          # image layers (texture units 2..5) effects may sample
LAYER_FADE_SECONDS = 1.0   # an image layer fades in when its frames come, and out when they stop
MIN_REGION = 0.001      # the smallest part of the canvas an output may show (a thousandth of its width)


def fit_transform(image_size: tuple[int, int], canvas_size: tuple[int, int], mode: str) -> tuple[float, ...]:
    """Scale and offset that map canvas uv to image uv: ``image = canvas * scale + offset`` (per axis)."""
    if mode not in FIT_MODES:
        raise ValueError(f"fit must be one of {FIT_MODES}, got {mode!r}")
    (iw, ih), (cw, ch) = image_size, canvas_size
    if mode == "stretch":
        return (1.0, 1.0, 0.0, 0.0)
    s = max(cw / iw, ch / ih) if mode == "fill" else min(cw / iw, ch / ih)
    kx, ky = cw / (iw * s), ch / (ih * s)
    return (kx, ky, (1.0 - kx) / 2, (1.0 - ky) / 2)


def blend_weight(now: float, arrivals: tuple[float, float] | None) -> float:
    """How far to fade from the older to the newer frame: over the interval between their arrivals."""
    if arrivals is None:
        return 1.0
    older, newer = arrivals
    interval = newer - older
    if interval <= 1e-6:
        return 1.0
    return min(max((now - newer) / interval, 0.0), 1.0)


@dataclasses.dataclass(frozen=True)
class Layout:
    """Where an output sits: its part of the canvas and how the image meets the canvas."""

    canvas_size: tuple[int, int]                                  # pixels of the whole canvas (all outputs)
    region: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0)  # x, y, w, h in canvas units (y up)
    fit: str = DEFAULT_FIT

    def __post_init__(self) -> None:
        x, y, w, h = self.region
        if not (0 <= x < 1 and 0 <= y < 1 and MIN_REGION <= w <= 1 - x + 1e-9 and MIN_REGION <= h <= 1 - y + 1e-9):
            raise ValueError(f"region must lie inside the canvas (x, y, w, h in 0..1, width and height at least "
                             f"{MIN_REGION:g}), got {self.region}")
        if self.fit not in FIT_MODES:
            raise ValueError(f"fit must be one of {FIT_MODES}, got {self.fit!r}")


@dataclasses.dataclass
class _Layer:
    """An image layer's texture and how much it shows (see :meth:`Compositor.set_layer`)."""

    texture: moderngl.Texture | None
    sequence: int
    since: float                    # when it (last) began to come
    live_at: float = 0.0            # its weight then
    gone: float | None = None       # when its source went (None: it is coming)

    def weight(self, now: float) -> float:
        if self.gone is not None:
            return max(0.0, self.live_at - (now - self.gone) / LAYER_FADE_SECONDS)
        return min(1.0, self.live_at + max(0.0, now - self.since) / LAYER_FADE_SECONDS)


class Compositor:
    """Draws one output. Owns its textures (through ``gl``); shares the shader library of its context."""

    def __init__(self, gl: GLResources, shaders: ShaderLibrary, output_size: tuple[int, int],
                 layout: Layout | None = None, chain: Sequence[str] = DEFAULT_CHAIN,
                 work_size: tuple[int, int] | None = None) -> None:
        self.gl = gl
        self.ctx = gl.ctx
        self.shaders = shaders
        self.output_size = output_size
        # The blend and the effects draw at the work size; the last pass scales up to the output (and adds
        # the HUD at full resolution). Smaller than the output where GL runs on the CPU (render_scale_for).
        self.work_size = work_size or output_size
        self.layout = layout or Layout(canvas_size=output_size)
        self._chain = list(chain)
        self._render_error: str | None = None
        shaders.preload([*STAGES, *self._chain])  # probed and compiled now: a broken effect is reported at start
        self._frames: list[moderngl.Texture] = []
        self._sequences: list[int] = []
        self._arrivals: list[float] = []
        self._stage = [gl.target(self.work_size), gl.target(self.work_size)]
        self._history: dict[str, tuple[RenderTarget, RenderTarget]] = {}
        self._overlay: moderngl.Texture | None = None
        self.last_weight = 1.0
        self.skip_at_defaults = True      # effects whose parameters sit at their defaults cost nothing
        self._phases: dict[str, float] = {}          # parameter key -> its integral over time, mod 2π
        self._phase_time: float | None = None
        self._layers: dict[str, _Layer] = {}          # image layers (the camera) by name

    @property
    def chain(self) -> list[str]:
        return list(self._chain)

    @chain.setter
    def chain(self, names: Sequence[str]) -> None:
        """Replace the effect chain; effects that leave it give back their feedback textures."""
        self._chain = list(names)
        for name in [n for n in self._history if n not in self._chain]:
            self.gl.release(*self._history.pop(name))
        for name in self._chain:
            self.shaders.get(name)  # a new effect is probed in the background and joins when accepted

    @property
    def feedback_effects(self) -> list[str]:
        """Effects that hold feedback targets now (they have drawn since joining the chain)."""
        return sorted(self._history)

    @property
    def errors(self) -> dict[str, str]:
        """Why parts of this output are not running, by stage or effect (for the HUD)."""
        found = {name: str(self.shaders.errors[name]) for name in (*STAGES, *self._chain)
                 if name in self.shaders.errors}
        if self._render_error is not None:
            found["render"] = self._render_error
        return found

    # ---------------------------------------------------------------------------------------------- frames
    def _upload(self, frame: GeneratedFrame, now: float) -> None:
        h, w = frame.rgb.shape[:2]
        texture = None
        if len(self._frames) == 2:  # keep two: the older one goes (its texture is reused if the size fits)
            texture = self._frames.pop(0)
            self._sequences.pop(0)
            self._arrivals.pop(0)
            if texture.size != (w, h):
                self.gl.release(texture)
                texture = None
        if texture is None:
            texture = self.gl.texture((w, h), 3)
        texture.write(np.ascontiguousarray(frame.rgb).tobytes(), alignment=1)
        self._frames.append(texture)
        self._sequences.append(frame.sequence)
        self._arrivals.append(now)

    def submit(self, frames: Sequence[GeneratedFrame], now: float) -> None:
        """Take the newest generated frames (oldest first); uploads only what is new."""
        for frame in frames[-2:]:
            if not self._sequences or frame.sequence > self._sequences[-1]:
                self._upload(frame, now)

    def set_layer(self, name: str, rgb: np.ndarray | None, sequence: int, now: float) -> None:
        """An image layer effects can sample as ``u_<name>`` (the camera: ``u_camera``), with ``u_<name>_aspect``
        its width / height and ``u_<name>_live`` its weight: it rises to 1 over :data:`LAYER_FADE_SECONDS`
        once frames come, and falls back to 0 as long after ``rgb`` is None (the source is gone: the layer
        fades out instead of freezing its last picture). Uploads only a newer ``sequence``."""
        held = self._layers.get(name)
        if rgb is None:
            if held is not None and held.gone is None:
                held.live_at, held.gone = held.weight(now), now
            return
        if held is None:
            if len(self._layers) >= MAX_LAYERS:
                raise ValueError(f"at most {MAX_LAYERS} image layers")
            held = self._layers[name] = _Layer(None, -1, now)
        elif held.gone is not None:                         # back: fade in again from where it was
            held.live_at, held.since, held.gone = held.weight(now), now, None
        if sequence <= held.sequence:
            return
        h, w = rgb.shape[:2]
        if held.texture is not None and held.texture.size != (w, h):
            self.gl.release(held.texture)
            held.texture = None
        if held.texture is None:
            held.texture = self.gl.texture((w, h), 3)
        held.texture.write(np.ascontiguousarray(rgb, dtype=np.uint8).tobytes(), alignment=1)
        held.sequence = sequence

    # ---------------------------------------------------------------------------------------------- render
    def render(self, now: float, frames: Sequence[GeneratedFrame], params: dict[str, float],
               target: moderngl.Framebuffer, overlay: np.ndarray | None = None, blend: bool = True) -> None:
        """Draw the picture for display time ``now`` into ``target``. Never raises.

        ``blend=False`` shows the newest frame as it is (offline renders make one frame per output frame).
        """
        try:
            self.submit(frames, now)
            source = self._blend_pass(now, blend)
            source = self._effect_passes(source, now, params)
            self._present_pass(source, target, overlay)
            self._render_error = None
        except Exception as exc:  # a GL failure must not stop the show; it is reported and retried
            self._render_error = f"{type(exc).__name__}: {exc}".splitlines()[0]
            _throttle.error("render", "compositor frame failed: %s", self._render_error, exc_info=True)

    def _blend_pass(self, now: float, blend: bool = True) -> RenderTarget:
        out = self._stage[0]
        out.fbo.use()
        if not self._frames:
            out.fbo.clear(0.0, 0.0, 0.0, 1.0)
            return out
        prev, nxt = (self._frames[0], self._frames[-1])
        arrivals = (self._arrivals[0], self._arrivals[-1]) if len(self._frames) == 2 else None
        self.last_weight = blend_weight(now, arrivals) if blend else 1.0
        stage = self.shaders.stage("blend")
        prog = stage.program
        prev.use(0)
        nxt.use(1)
        _set(prog, "u_prev", 0)
        _set(prog, "u_next", 1)
        _set(prog, "u_weight", self.last_weight)
        _set(prog, "u_region", self.layout.region)
        _set(prog, "u_fit", fit_transform(nxt.size, self.layout.canvas_size, self.layout.fit))
        stage.vao.render(moderngl.TRIANGLES, vertices=3)
        return out

    def _history_of(self, name: str) -> tuple[RenderTarget, RenderTarget]:
        """This effect's two feedback targets (made once; they swap roles every frame)."""
        pair = self._history.get(name)
        if pair is None:
            pair = (self.gl.target(self.work_size), self.gl.target(self.work_size))
            self._history[name] = pair
        return pair

    def _effect_passes(self, source: RenderTarget, now: float, params: dict[str, float]) -> RenderTarget:
        time_uniform = now % TIME_WRAP_SECONDS
        # The step since the last frame, for the phases: never negative, at most a second (a stall or a
        # paused render must not spin the picture round).
        step = 0.0 if self._phase_time is None else min(max(now - self._phase_time, 0.0), 1.0)
        self._phase_time = now
        for name in self._chain:
            effect = self.shaders.get(name)
            if effect is None:
                continue
            for spec in effect.phases:
                rate = params.get(spec.key, spec.default)
                self._phases[spec.key] = (self._phases.get(spec.key, 0.0) + rate * step) % TAU
            if self.skip_at_defaults and effect.at_defaults(params):
                continue
            previous: RenderTarget | None = None
            if effect.uses_history:
                out, previous = self._history_of(name)
                self._history[name] = (previous, out)  # next frame draws into this frame's history
            else:
                out = self._stage[1] if source is self._stage[0] else self._stage[0]
            out.fbo.use()
            prog = effect.program
            source.texture.use(0)
            _set(prog, "u_image", 0)
            if previous is not None:
                previous.texture.use(1)
                _set(prog, "u_history", 1)
            for unit, (layer, held) in enumerate(sorted(self._layers.items()), start=2):
                if held.texture is None:
                    continue
                held.texture.use(unit)
                _set(prog, f"u_{layer}", unit)
                _set(prog, f"u_{layer}_live", held.weight(now))
                _set(prog, f"u_{layer}_aspect", held.texture.size[0] / held.texture.size[1])
            _set(prog, "u_resolution", self.work_size)
            _set(prog, "u_time", time_uniform)
            for spec in effect.params:
                _set(prog, spec.key.split(".", 1)[1], params.get(spec.key, spec.default))
            for spec in effect.phases:
                _set(prog, f"u_phase_{spec.key.split('.', 1)[1]}", self._phases.get(spec.key, 0.0))
            effect.vao.render(moderngl.TRIANGLES, vertices=3)
            source = out  # a stage target, or this effect's history target (which stays as drawn)
        return source

    def _present_pass(self, source: RenderTarget, target: moderngl.Framebuffer, overlay: np.ndarray | None) -> None:
        target.use()
        stage = self.shaders.stage("hud")
        prog = stage.program
        source.texture.use(0)
        _set(prog, "u_image", 0)
        rect = (0.0, 0.0, 0.0, 0.0)
        if overlay is not None:
            h, w = overlay.shape[:2]
            if self._overlay is None or self._overlay.size != (w, h):
                self.gl.release(self._overlay)
                self._overlay = self.gl.texture((w, h), 4)
            self._overlay.write(np.ascontiguousarray(overlay).tobytes(), alignment=1)
            self._overlay.use(1)
            _set(prog, "u_overlay", 1)
            ow, oh = self.output_size
            sw, sh = min(w / ow, 1.0), min(h / oh, 1.0)
            rect = (0.0, 1.0 - sh, sw, sh)
        _set(prog, "u_rect", rect)
        stage.vao.render(moderngl.TRIANGLES, vertices=3)

    def release(self) -> None:
        """Give back every GL object this compositor made (the shader library's programs stay)."""
        self.gl.release(*self._frames, *self._stage, *[t for pair in self._history.values() for t in pair],
                        self._overlay, *[held.texture for held in self._layers.values()])
        self._frames, self._sequences, self._arrivals, self._history, self._overlay = [], [], [], {}, None
        self._layers = {}


def _set(program: moderngl.Program, name: str, value: object) -> None:
    """Set a uniform if the program uses it (the GLSL compiler drops unused ones)."""
    member = program.get(name, None)
    if isinstance(member, moderngl.Uniform):
        member.value = value
