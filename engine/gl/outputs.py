"""Outputs: where composited frames go — pyglet windows (one per projector) or offscreen framebuffers.

Each output has its own GL framebuffer that the compositor draws into (reading back from our own framebuffer
is reliable everywhere, unlike the window's), its own :class:`~engine.gl.compositor.Compositor` (region of the
canvas, fit mode, effect chain) and, for windows, a blit to the screen and a buffer flip paced by vsync where
the display has it.

    out = HeadlessOutput(shared_egl_context(), "shaders", params, OutputSpec(size=(1280, 720)))
    out.draw(now, frames, params.snapshot()); out.read().shape   # (720, 1280, 3)
"""

from __future__ import annotations

import abc
import dataclasses
import logging
import os
from collections.abc import Callable

import moderngl
import numpy as np

from engine.defaults import DEFAULT_CHAIN, DEFAULT_FIT, DEFAULT_LIVE_SIZE
from engine.gl.compositor import Compositor, Layout
from engine.gl.probe import DEFAULT_DRAW_BUDGET_MS
from engine.gl.resources import GLResources, RenderTarget
from engine.gl.shaders import ShaderLibrary
from engine.params import ParamStore
from engine.worker import GeneratedFrame

log = logging.getLogger(__name__)
MAX_OUTPUT_SIDE = 8192          # 8K a side; a larger canvas is several outputs, each with its region


class DisplayError(Exception):
    """No display to open a window on (or the window system refused); the message says what to do."""


@dataclasses.dataclass(frozen=True)
class OutputSpec:
    """One output of an installation."""

    size: tuple[int, int] = DEFAULT_LIVE_SIZE                      # pixels (a window's initial size)
    screen: int = 0                                               # which screen a window opens on
    fullscreen: bool = False
    region: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0)  # part of the canvas: x, y, w, h (y up)
    fit: str = DEFAULT_FIT                                         # fit / fill / stretch
    chain: tuple[str, ...] = DEFAULT_CHAIN                         # effect files from shaders/, in order
    render_scale: float = 1.0      # effects run at this share of the output's pixels (see render_scale_for)

    def __post_init__(self) -> None:
        if not (isinstance(self.render_scale, (int, float)) and MIN_RENDER_SCALE <= self.render_scale <= 1.0):
            raise ValueError(f"render scale must be {MIN_RENDER_SCALE}..1, got {self.render_scale!r}")
        w, h = self.size
        if not (isinstance(w, int) and isinstance(h, int) and 16 <= w <= MAX_OUTPUT_SIDE and 16 <= h <= MAX_OUTPUT_SIDE):
            raise ValueError(f"output size must be 16..{MAX_OUTPUT_SIDE} pixels a side, got {w}x{h}")
        Layout(canvas_size=self.size, region=self.region, fit=self.fit)  # validates region and fit

    def canvas_size(self) -> tuple[int, int]:
        """The whole canvas this output is a region of, in this output's pixel scale."""
        return (round(self.size[0] / self.region[2]), round(self.size[1] / self.region[3]))


class Output(abc.ABC):
    """Something that shows frames. Its GL objects are all made through ``self.gl`` and released by close()."""

    spec: OutputSpec
    ctx: moderngl.Context
    gl: GLResources
    compositor: Compositor
    target: RenderTarget

    def _setup(self, shader_dir: str, params: ParamStore, size: tuple[int, int],
               shader_budget_ms: float = DEFAULT_DRAW_BUDGET_MS) -> None:
        self.gl = GLResources(self.ctx)
        self.shaders = ShaderLibrary(self.gl, shader_dir, params, shader_budget_ms, size=size)
        self._build(size)

    def _build(self, size: tuple[int, int]) -> None:
        limit = int(self.ctx.info.get("GL_MAX_TEXTURE_SIZE", MAX_OUTPUT_SIDE))
        if max(size) > limit:
            raise DisplayError(f"an output of {size[0]}x{size[1]} is larger than this GPU's textures "
                               f"({limit} pixels a side)")
        layout = Layout(canvas_size=self.spec.canvas_size(), region=self.spec.region, fit=self.spec.fit)
        self.target = self.gl.target(size)
        self.shaders.size = size
        scale = self.spec.render_scale
        work = (max(16, round(size[0] * scale)), max(16, round(size[1] * scale)))
        self.compositor = Compositor(self.gl, self.shaders, size, layout, self.spec.chain, work_size=work)

    def set_render_scale(self, scale: float) -> None:
        """Run the effects at another share of the output's pixels (the compositor is rebuilt; feedback
        trails start afresh)."""
        if scale == self.spec.render_scale:
            return
        self.spec = dataclasses.replace(self.spec, render_scale=scale)
        chain = self.compositor.chain
        self.compositor.release()
        self.gl.release(self.target)
        self._build(self.compositor.output_size)
        self.compositor.chain = chain

    def resize(self, size: tuple[int, int]) -> None:
        if size == self.compositor.output_size or min(size) < 1:
            return
        chain = self.compositor.chain
        self.compositor.release()
        self.gl.release(self.target)
        self._build(size)
        self.compositor.chain = chain

    def draw(self, now: float, frames: list[GeneratedFrame], params: dict[str, float],
             overlay: np.ndarray | None = None, blend: bool = True) -> None:
        """Composite one display frame into this output's framebuffer."""
        self.compositor.render(now, frames, params, self.target.fbo, overlay, blend)

    def read(self) -> np.ndarray:
        """The last composited frame as [H, W, 3] uint8, top row first."""
        w, h = self.compositor.output_size
        data = self.target.fbo.read(components=3, alignment=1)
        return np.frombuffer(data, np.uint8).reshape(h, w, 3)[::-1].copy()

    def poll_shaders(self) -> list[str]:
        return [str(e) for e in self.shaders.poll()]

    def present(self) -> None:
        """Show the frame (windows: blit and flip). Offscreen outputs have nothing to do."""

    def close(self) -> None:
        self.compositor.release()
        self.shaders.release()
        self.gl.release_all()


MIN_RENDER_SCALE = 0.25


def render_scale_for(size: tuple[int, int], fit: str, image_resolution: int, density: float = 2.0) -> float:
    """The render scale at which the effects still have ``density`` work pixels per model pixel where the
    model image is shown (never above 1): a 256² model filling a 1280×720 output needs no more than 512
    pixels across, 0.4 of the output. Where GL renders on the CPU, the effect passes cost in proportion to
    their pixels, so this is what lets the display hold its rate and leaves the generator its cores.

    >>> render_scale_for((1280, 720), "fill", 256)
    0.4
    >>> render_scale_for((1920, 1080), "fit", 1024)
    1.0
    """
    shown = min(size) if fit == "fit" else max(size)
    return round(max(MIN_RENDER_SCALE, min(1.0, density * image_resolution / shown)), 3)


def is_software_gl(ctx: moderngl.Context) -> bool:
    """Whether GL runs on the CPU (Mesa llvmpipe / softpipe): then GL competes with the generator for cores."""
    renderer = str(ctx.info.get("GL_RENDERER", "")).lower()
    return any(name in renderer for name in ("llvmpipe", "softpipe", "swrast", "software"))


def shared_egl_context() -> moderngl.Context:
    """An offscreen OpenGL 3.3+ context through EGL (works without X, e.g. Mesa llvmpipe on servers)."""
    return moderngl.create_standalone_context(require=330, backend="egl")  # type: ignore[arg-type]


class HeadlessOutput(Output):
    """An output that renders offscreen: for servers, tests and benchmarks."""

    def __init__(self, ctx: moderngl.Context, shader_dir: str, params: ParamStore, spec: OutputSpec,
                 shader_budget_ms: float = DEFAULT_DRAW_BUDGET_MS) -> None:
        self.spec, self.ctx = spec, ctx
        self._setup(shader_dir, params, spec.size, shader_budget_ms)


def list_screens() -> list[str]:
    """One line per screen: index, size and position (raises DisplayError without a display)."""
    pyglet = require_display()
    try:
        screens = pyglet.display.get_display().get_screens()
    except Exception as exc:  # pyglet raises window-system specific errors
        raise DisplayError(f"cannot query the screens ({exc})") from None
    return [f"{i}: {s.width}x{s.height} at ({s.x}, {s.y})" for i, s in enumerate(screens)]


def require_display():  # type: ignore[no-untyped-def]
    """The pyglet module, once a display is known to be there (DisplayError with what to do otherwise)."""
    if os.name == "posix" and not os.environ.get("DISPLAY") and not os.environ.get("PYGLET_HEADLESS"):
        raise DisplayError("no display found (DISPLAY is not set): use --headless to run without a window, "
                           "or --render OUT.mp4 to render offline")
    import pyglet
    return pyglet


class WindowOutput(Output):
    """A pyglet window, windowed or fullscreen on a chosen screen, with the operator's keys.

    With several windows only the first should wait for vsync (``vsync=True``): each flip that waits for the
    vertical blank costs a whole refresh, so two waiting windows would halve the frame rate.

    F or F11 toggle fullscreen here; every other key goes to ``on_key`` by name (``space``, ``escape``, ``h``,
    ``up`` …), for the keyboard controller to map (controllers/keyboard.py), and closing the window calls
    ``on_close``. Nothing here knows what a key means to the show.
    """

    def __init__(self, shader_dir: str, params: ParamStore, spec: OutputSpec, title: str = "Latent Stage",
                 on_key: Callable[[str], object] | None = None, vsync: bool = True,
                 shader_budget_ms: float = DEFAULT_DRAW_BUDGET_MS) -> None:
        pyglet = require_display()
        self.spec = spec
        try:
            display = pyglet.display.get_display()
            screens = display.get_screens()
            if not 0 <= spec.screen < len(screens):
                raise DisplayError(f"screen {spec.screen} does not exist; there are {len(screens)} "
                                   "(see --list-screens)")
            screen = screens[spec.screen]
            config = pyglet.gl.Config(double_buffer=True, red_size=8, green_size=8, blue_size=8, alpha_size=8,
                                      depth_size=0, major_version=3, minor_version=3, forward_compatible=True)
            # Fullscreen takes the screen's own size (a size here would ask the X server for a mode change).
            size = {} if spec.fullscreen else {"width": spec.size[0], "height": spec.size[1]}
            self.window = pyglet.window.Window(caption=title, resizable=True, vsync=vsync, fullscreen=spec.fullscreen,
                                               screen=screen, config=config, **size)
        except DisplayError:
            raise
        except Exception as exc:  # pyglet's window-system errors have many types
            raise DisplayError(f"cannot open a window ({type(exc).__name__}: {exc})") from None
        self.window.switch_to()
        self.ctx = moderngl.create_context()
        self._setup(shader_dir, params, self.window.get_framebuffer_size(), shader_budget_ms)
        self.on_key = on_key                                    # key names; may be set after construction
        self.on_close: Callable[[], object] | None = None       # the window was closed
        self.closed = False
        keys = pyglet.window.key

        @self.window.event
        def on_key_press(symbol: int, modifiers: int) -> bool:
            if symbol in (keys.F, keys.F11):
                self.window.set_fullscreen(not self.window.fullscreen, screen=screen)
            elif self.on_key is not None:
                self.on_key(str(keys.symbol_string(symbol)).lower())
            return True  # pyglet's default Esc handler would close the window behind our back

        @self.window.event
        def on_close() -> None:
            self.closed = True
            if self.on_close is not None:
                self.on_close()

    def draw(self, now: float, frames: list[GeneratedFrame], params: dict[str, float],
             overlay: np.ndarray | None = None, blend: bool = True) -> None:
        self.window.switch_to()
        self.resize(self.window.get_framebuffer_size())
        super().draw(now, frames, params, overlay, blend)

    def present(self) -> None:
        self.window.switch_to()
        self.ctx.copy_framebuffer(self.ctx.screen, self.target.fbo)
        self.window.flip()

    def dispatch_events(self) -> None:
        self.window.dispatch_events()

    def close(self) -> None:
        if self.closed and not self.window.context:
            return
        self.window.switch_to()
        super().close()
        self.window.close()
        self.closed = True
