"""The GL objects of one output, created and released in one place.

Every texture, framebuffer, program and vertex array an output uses is made through its
:class:`GLResources`, which keeps the inventory: nothing is created per frame (owners make their objects
once and keep them; :attr:`GLResources.count` stays flat while a show runs, and the soak test checks it),
and nothing is released twice or while still bound. A render target (a colour texture with its framebuffer)
is the unit most owners need.

    gl = GLResources(ctx)
    stage = gl.target((1280, 720))
    gl.count, gl.counts()   # (2, {'Framebuffer': 1, 'Texture': 1})
    gl.release(stage); gl.count   # 0
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Any, TypeVar

import moderngl

_Object = TypeVar("_Object")


@dataclasses.dataclass(eq=False)
class RenderTarget:
    """A colour texture (linear filtering, clamped) with the framebuffer that draws into it."""

    texture: moderngl.Texture
    fbo: moderngl.Framebuffer

    @property
    def size(self) -> tuple[int, int]:
        return self.texture.size  # type: ignore[no-any-return]


class GLResources:
    """Creates GL objects for one context, tracks them, and releases them (see the module docstring)."""

    def __init__(self, ctx: moderngl.Context) -> None:
        self.ctx = ctx
        self._live: dict[int, Any] = {}
        self.created = 0          # objects ever made (a count that grows per frame would be a leak)

    def _track(self, obj: _Object) -> _Object:
        self._live[id(obj)] = obj
        self.created += 1
        return obj

    # --------------------------------------------------------------------------------------------- making
    def texture(self, size: tuple[int, int], components: int, data: bytes | None = None) -> moderngl.Texture:
        texture = self.ctx.texture(size, components, data)
        texture.filter = (moderngl.LINEAR, moderngl.LINEAR)
        texture.repeat_x = texture.repeat_y = False
        return self._track(texture)

    def target(self, size: tuple[int, int]) -> RenderTarget:
        """An RGBA render target cleared to opaque black."""
        texture = self.texture(size, 4)
        fbo = self._track(self.ctx.framebuffer(color_attachments=[texture]))
        fbo.clear(0.0, 0.0, 0.0, 1.0)
        return RenderTarget(texture, fbo)

    def program(self, vertex_shader: str, fragment_shader: str) -> moderngl.Program:
        return self._track(self.ctx.program(vertex_shader=vertex_shader, fragment_shader=fragment_shader))

    def vertex_array(self, program: moderngl.Program) -> moderngl.VertexArray:
        """A vertex array with no buffers (the full-screen triangle comes from gl_VertexID)."""
        return self._track(self.ctx.vertex_array(program, []))

    # ------------------------------------------------------------------------------------------ releasing
    def release(self, *objects: Any) -> None:
        """Release objects made here (render targets included); unknown or already released ones are skipped."""
        for obj in objects:
            if obj is None:
                continue
            if isinstance(obj, RenderTarget):
                self.release(obj.fbo, obj.texture)
                continue
            if self._live.pop(id(obj), None) is None:
                continue
            if isinstance(obj, moderngl.Framebuffer):
                # moderngl re-binds the last framebuffer it used when it makes the next one; re-binding a
                # deleted one is a GL error, so the default framebuffer is bound first.
                self.ctx.detect_framebuffer(0).use()
            obj.release()

    def release_all(self) -> None:
        """Everything still alive, framebuffers and vertex arrays before what they refer to."""
        order = (moderngl.VertexArray, moderngl.Framebuffer, moderngl.Program, moderngl.Texture)
        for kind in order:
            self.release(*[obj for obj in list(self._live.values()) if isinstance(obj, kind)])
        self.release(*list(self._live.values()))

    # ------------------------------------------------------------------------------------------ inventory
    @property
    def count(self) -> int:
        """GL objects alive now."""
        return len(self._live)

    def counts(self) -> dict[str, int]:
        return dict(sorted(collections.Counter(type(o).__name__ for o in self._live.values()).items()))
