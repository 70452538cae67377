"""GLSL effect files: loading, parameter declarations, compile errors with lines, hot reload.

An effect file in ``shaders/`` is a fragment shader body; its ``uniform float`` lines with a
``// default D, range A .. B`` comment declare engine parameters named ``<file name>.<uniform>``. The library
compiles each file once, then :meth:`ShaderLibrary.poll` recompiles files whose modification time changed:
a file that compiles replaces the running version, one that fails is reported with its GLSL error and line
(:class:`ShaderError`) and the previous version keeps running.

    >>> library = ShaderLibrary(ctx, "shaders", params)      # doctest: +SKIP
    >>> library.get("vignette").params[0].key                # doctest: +SKIP
    'vignette.amount'
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re

import moderngl

from engine.params import ParamSpec, ParamStore

log = logging.getLogger(__name__)

GLSL_VERSION = "#version 330 core\n"
FULLSCREEN_VERTEX = GLSL_VERSION + """
out vec2 uv;
void main() {
    // One triangle that covers the viewport; no vertex buffer needed.
    vec2 p = vec2(float((gl_VertexID << 1) & 2), float(gl_VertexID & 2));
    uv = p;
    gl_Position = vec4(p * 2.0 - 1.0, 0.0, 1.0);
}
"""
_PARAM_LINE = re.compile(
    r"^\s*uniform\s+float\s+(?P<name>[a-z][a-z0-9_]*)\s*;\s*//\s*default\s+(?P<default>[-+0-9.eE]+)\s*,"
    r"\s*range\s+(?P<min>[-+0-9.eE]+)\s*\.\.\s*(?P<max>[-+0-9.eE]+)(?P<doc>.*)$")
_FLOAT_UNIFORM = re.compile(r"^\s*uniform\s+float\s+([A-Za-z_][A-Za-z0-9_]*)\s*;")
_GLSL_ERROR = re.compile(r"\d+:(?P<line>\d+)\(\d+\):\s*(?:error|ERROR):\s*(?P<message>.*)")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclasses.dataclass(frozen=True)
class ShaderError:
    """Why a shader file is not running (its previous version, if any, still is)."""

    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        return f"{where}: {self.message}"


class ShaderCompileError(Exception):
    def __init__(self, error: ShaderError) -> None:
        super().__init__(str(error))
        self.error = error


@dataclasses.dataclass
class Effect:
    """A compiled effect and what it declares."""

    name: str
    path: str
    program: moderngl.Program
    vao: moderngl.VertexArray
    params: tuple[ParamSpec, ...]
    uses_history: bool
    mtime: float

    def at_defaults(self, values: dict[str, float]) -> bool:
        return all(values.get(p.key, p.default) == p.default for p in self.params)

    def release(self) -> None:
        self.vao.release()
        self.program.release()


def parse_params(name: str, path: str, source: str) -> tuple[ParamSpec, ...]:
    """The parameters a shader declares; a float uniform without a declaration is an error (named, with line)."""
    specs = []
    for number, line in enumerate(source.splitlines(), start=1):
        uniform = _FLOAT_UNIFORM.match(line)
        if uniform is None or uniform.group(1).startswith("u_"):
            continue
        match = _PARAM_LINE.match(line)
        if match is None:
            raise ShaderCompileError(ShaderError(path, number, f"uniform float {uniform.group(1)} needs a "
                                                 "declaration comment: '// default D, range MIN .. MAX'"))
        try:
            specs.append(ParamSpec(f"{name}.{match['name']}", float(match["default"]), float(match["min"]),
                                   float(match["max"]), match["doc"].strip(" .;-")))
        except ValueError as exc:
            raise ShaderCompileError(ShaderError(path, number, str(exc))) from None
    return tuple(specs)


def compile_program(ctx: moderngl.Context, path: str, source: str) -> moderngl.Program:
    """Compile a single-file shader; the file's own line numbers appear in errors (``#line 1``)."""
    has_vertex = "VERTEX_SHADER" in source
    fragment = GLSL_VERSION + "#define FRAGMENT_SHADER\n#line 1\n" + source
    vertex = GLSL_VERSION + "#define VERTEX_SHADER\n#line 1\n" + source if has_vertex else FULLSCREEN_VERTEX
    try:
        return ctx.program(vertex_shader=vertex, fragment_shader=fragment)
    except moderngl.Error as exc:
        text = str(exc)
        match = _GLSL_ERROR.search(text)
        if match is None:
            lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not set(ln.strip()) <= {"="}]
            raise ShaderCompileError(ShaderError(path, None, " ".join(lines[-2:]) or text)) from None
        raise ShaderCompileError(ShaderError(path, int(match["line"]), match["message"].strip())) from None


class ShaderLibrary:
    """The effects of one GL context, compiled from a directory and kept up to date with it."""

    def __init__(self, ctx: moderngl.Context, directory: str, params: ParamStore | None = None) -> None:
        self.ctx = ctx
        self.directory = directory
        self.params = params
        self.effects: dict[str, Effect] = {}
        self.errors: dict[str, ShaderError] = {}

    def path(self, name: str) -> str:
        if not _NAME.match(name):
            raise ValueError(f"shader names are lower case letters, digits and _, got {name!r}")
        return os.path.join(self.directory, f"{name}.glsl")

    def get(self, name: str) -> Effect:
        """The running version of an effect, compiling it on first use (raises ShaderCompileError then)."""
        effect = self.effects.get(name)
        if effect is None:
            effect = self._compile(name)
            self._install(effect)
        return effect

    def poll(self) -> list[ShaderError]:
        """Recompile effects whose file changed; returns the errors found in this poll (already logged)."""
        found = []
        for name, effect in list(self.effects.items()):
            try:
                mtime = os.stat(effect.path).st_mtime
            except OSError as exc:
                error = ShaderError(effect.path, None, f"cannot read the file ({exc.strerror}); keeping the last version")
                if self.errors.get(name) != error:
                    found.append(self._report(name, error))
                continue
            if mtime == effect.mtime:
                continue
            try:
                new = self._compile(name)
            except ShaderCompileError as exc:
                effect.mtime = mtime  # report once per save, not every poll
                found.append(self._report(name, exc.error))
                continue
            self._install(new)
            effect.release()
            log.info("reloaded shader %s", new.path)
        return found

    def _compile(self, name: str) -> Effect:
        path = self.path(name)
        try:
            with open(path, encoding="utf-8") as f:
                source = f.read()
            mtime = os.stat(path).st_mtime
        except (OSError, UnicodeDecodeError) as exc:
            raise ShaderCompileError(ShaderError(path, None, f"cannot read the shader ({exc})")) from None
        specs = parse_params(name, path, source)
        program = compile_program(self.ctx, path, source)
        vao = self.ctx.vertex_array(program, [])
        return Effect(name=name, path=path, program=program, vao=vao, params=specs,
                      uses_history="u_history" in program, mtime=mtime)

    def _install(self, effect: Effect) -> None:
        self.effects[effect.name] = effect
        self.errors.pop(effect.name, None)
        if self.params is not None:
            for spec in effect.params:
                self.params.declare(spec)

    def _report(self, name: str, error: ShaderError) -> ShaderError:
        self.errors[name] = error
        log.error("shader %s", error)
        return error
