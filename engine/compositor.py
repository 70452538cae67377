"""The GL compositor: generated frames in, a finished picture out, at the display's rate.

Per output, every display frame:

1. **Upload** any newly generated frame into one of two textures (the older one is kept).
2. **Blend** the two latest generated frames by time (``blend.glsl``): when a frame arrives, the screen shows
   the previous one and fades to the new one over the interval the generator took to make it. A generator
   slower than the display thus gives smooth motion one generator frame behind, never a stutter.
   The same pass places the square image on the output: ``fit`` (letterbox), ``fill`` (crop) or ``stretch``,
   for the output's region of the canvas (one projector of several).
3. **Effects**: the chain of ``shaders/`` effects, ping-ponging between two textures; effects at their
   defaults are skipped; feedback effects get their own previous output.
4. **Present**: ``hud.glsl`` draws the result (with the operator overlay if any) into the target framebuffer.

Nothing raises out of :meth:`Compositor.render`: a failing stage is reported in :attr:`Compositor.errors`
and skipped, and without any generated frame yet the picture is black.

    >>> comp = Compositor(ctx, ShaderLibrary(ctx, "shaders", params), (1920, 1080))   # doctest: +SKIP
    >>> comp.render(now, worker.frames.snapshot(), params.snapshot(), fbo)          # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence

import moderngl
import numpy as np

from engine.shaders import Effect, ShaderCompileError, ShaderLibrary
from engine.worker import GeneratedFrame

log = logging.getLogger(__name__)

FIT_MODES: tuple[str, ...] = ("fit", "fill", "stretch")
DEFAULT_CHAIN: tuple[str, ...] = ("feedback", "kaleidoscope", "colour_grade", "vignette", "crossfade")


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
    fit: str = "fit"

    def __post_init__(self) -> None:
        x, y, w, h = self.region
        if not (0 <= x < 1 and 0 <= y < 1 and 0 < w <= 1 - x + 1e-9 and 0 < h <= 1 - y + 1e-9):
            raise ValueError(f"region must lie inside the canvas (x, y, w, h in 0..1), got {self.region}")
        if self.fit not in FIT_MODES:
            raise ValueError(f"fit must be one of {FIT_MODES}, got {self.fit!r}")


class _Target:
    """A colour texture with its framebuffer."""

    def __init__(self, ctx: moderngl.Context, size: tuple[int, int]) -> None:
        self.texture = ctx.texture(size, 4)
        self.texture.filter = (moderngl.LINEAR, moderngl.LINEAR)
        self.texture.repeat_x = self.texture.repeat_y = False
        self.fbo = ctx.framebuffer(color_attachments=[self.texture])
        self.fbo.clear(0.0, 0.0, 0.0, 1.0)

    def release(self) -> None:
        self.fbo.release()
        self.texture.release()


class Compositor:
    """Draws one output. Owns its textures; shares the shader library of its GL context."""

    def __init__(self, ctx: moderngl.Context, shaders: ShaderLibrary, output_size: tuple[int, int],
                 layout: Layout | None = None, chain: Sequence[str] = DEFAULT_CHAIN) -> None:
        self.ctx = ctx
        self.shaders = shaders
        self.output_size = output_size
        self.layout = layout or Layout(canvas_size=output_size)
        self.chain = list(chain)
        self.errors: dict[str, str] = {}
        self.blend = shaders.get("blend")
        self.present = shaders.get("hud")
        for name in self.chain:  # compile now: a broken effect is reported at start, then skipped
            self._effect(name)
        self._frames: list[moderngl.Texture] = []
        self._sequences: list[int] = []
        self._arrivals: list[float] = []
        self._stage = [_Target(ctx, output_size), _Target(ctx, output_size)]
        self._history: dict[str, list[_Target]] = {}
        self._overlay: moderngl.Texture | None = None
        self.last_weight = 1.0

    # ---------------------------------------------------------------------------------------------- frames
    def _upload(self, frame: GeneratedFrame, now: float) -> None:
        h, w = frame.rgb.shape[:2]
        texture = None
        if len(self._frames) == 2:  # keep two: the older one goes (its texture is reused if the size fits)
            texture = self._frames.pop(0)
            self._sequences.pop(0)
            self._arrivals.pop(0)
            if texture.size != (w, h):
                texture.release()
                texture = None
        if texture is None:
            texture = self.ctx.texture((w, h), 3)
            texture.filter = (moderngl.LINEAR, moderngl.LINEAR)
            texture.repeat_x = texture.repeat_y = False
        texture.write(np.ascontiguousarray(frame.rgb).tobytes(), alignment=1)
        self._frames.append(texture)
        self._sequences.append(frame.sequence)
        self._arrivals.append(now)

    def submit(self, frames: Sequence[GeneratedFrame], now: float) -> None:
        """Take the newest generated frames (oldest first); uploads only what is new."""
        for frame in frames[-2:]:
            if not self._sequences or frame.sequence > self._sequences[-1]:
                self._upload(frame, now)

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
        except Exception as exc:  # a GL failure must not stop the show; it is reported and retried
            self.errors["render"] = f"{type(exc).__name__}: {exc}"
            log.exception("compositor frame failed")

    def _blend_pass(self, now: float, blend: bool = True) -> _Target:
        out = self._stage[0]
        out.fbo.use()
        if not self._frames:
            out.fbo.clear(0.0, 0.0, 0.0, 1.0)
            return out
        prev, nxt = (self._frames[0], self._frames[-1])
        arrivals = (self._arrivals[0], self._arrivals[-1]) if len(self._frames) == 2 else None
        self.last_weight = blend_weight(now, arrivals) if blend else 1.0
        image_size = nxt.size
        canvas = self.layout.canvas_size
        prog = self.blend.program
        prev.use(0)
        nxt.use(1)
        _set(prog, "u_prev", 0)
        _set(prog, "u_next", 1)
        _set(prog, "u_weight", self.last_weight)
        _set(prog, "u_region", self.layout.region)
        _set(prog, "u_fit", fit_transform(image_size, canvas, self.layout.fit))
        self.blend.vao.render(moderngl.TRIANGLES, vertices=3)
        return out

    def _effect_passes(self, source: _Target, now: float, params: dict[str, float]) -> _Target:
        for name in self.chain:
            effect = self._effect(name)
            if effect is None or effect.at_defaults(params):
                continue
            if effect.uses_history:
                history = self._history.setdefault(name, [_Target(self.ctx, self.output_size),
                                                          _Target(self.ctx, self.output_size)])
                out, previous = history[0], history[1]
                history.reverse()
            else:
                out, previous = (self._stage[1] if source is self._stage[0] else self._stage[0]), None
            out.fbo.use()
            prog = effect.program
            source.texture.use(0)
            _set(prog, "u_image", 0)
            if previous is not None:
                previous.texture.use(1)
                _set(prog, "u_history", 1)
            _set(prog, "u_resolution", self.output_size)
            _set(prog, "u_time", now)
            for spec in effect.params:
                _set(prog, spec.key.split(".", 1)[1], params.get(spec.key, spec.default))
            effect.vao.render(moderngl.TRIANGLES, vertices=3)
            source = out  # a stage texture, or this effect's history texture (which stays as drawn)
        return source

    def _present_pass(self, source: _Target, target: moderngl.Framebuffer, overlay: np.ndarray | None) -> None:
        target.use()
        prog = self.present.program
        source.texture.use(0)
        _set(prog, "u_image", 0)
        rect = (0.0, 0.0, 0.0, 0.0)
        if overlay is not None:
            h, w = overlay.shape[:2]
            if self._overlay is None or self._overlay.size != (w, h):
                if self._overlay is not None:
                    self._overlay.release()
                self._overlay = self.ctx.texture((w, h), 4)
            self._overlay.write(np.ascontiguousarray(overlay).tobytes(), alignment=1)
            self._overlay.use(1)
            _set(prog, "u_overlay", 1)
            ow, oh = self.output_size
            sw, sh = min(w / ow, 1.0), min(h / oh, 1.0)
            rect = (0.0, 1.0 - sh, sw, sh)
        _set(prog, "u_rect", rect)
        self.present.vao.render(moderngl.TRIANGLES, vertices=3)

    def _effect(self, name: str) -> Effect | None:
        try:
            effect = self.shaders.get(name)
        except (ShaderCompileError, ValueError) as exc:
            message = str(exc)
            if self.errors.get(name) != message:
                log.error("effect %s is skipped: %s", name, message)
            self.errors[name] = message
            return None
        if name in self.shaders.errors:
            self.errors[name] = str(self.shaders.errors[name])
        else:
            self.errors.pop(name, None)
        return effect

    def release(self) -> None:
        unbind_framebuffers(self.ctx)
        for texture in self._frames:
            texture.release()
        for target in self._stage + [t for pair in self._history.values() for t in pair]:
            target.release()
        if self._overlay is not None:
            self._overlay.release()


def unbind_framebuffers(ctx: moderngl.Context) -> None:
    """Bind the default framebuffer before releasing ours: moderngl re-binds the last framebuffer it used
    when it creates the next one, and re-binding a deleted one is a GL error."""
    ctx.detect_framebuffer(0).use()


def _set(program: moderngl.Program, name: str, value: object) -> None:
    """Set a uniform if the program uses it (the GLSL compiler drops unused ones)."""
    member = program.get(name, None)
    if isinstance(member, moderngl.Uniform):
        member.value = value
