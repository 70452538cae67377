"""GLSL sources of effect files: parameter declarations, the program sources, compile errors with lines.

Shared by the shader library (which compiles in the display's context) and the shader probe (which compiles
and draws test frames in a separate process first). Nothing here needs a GL context except
:func:`compile_program`.

    >>> parse_params("vignette", "vignette.glsl", "uniform float amount; // default 0.0, range 0.0 .. 1.0")[0].key
    'vignette.amount'
"""

from __future__ import annotations

import dataclasses
import os
import re
import stat
from collections.abc import Callable
from typing import TYPE_CHECKING

from engine.params import ParamSpec

if TYPE_CHECKING:  # GL is imported only to compile: reading declarations needs none (show validation)
    import moderngl

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


def program_sources(source: str) -> tuple[str, str]:
    """The vertex and fragment sources of a single-file shader (``#line 1``: errors name the file's lines)."""
    has_vertex = "VERTEX_SHADER" in source
    fragment = GLSL_VERSION + "#define FRAGMENT_SHADER\n#line 1\n" + source
    vertex = GLSL_VERSION + "#define VERTEX_SHADER\n#line 1\n" + source if has_vertex else FULLSCREEN_VERTEX
    return vertex, fragment


def compile_program(create: Callable[[str, str], moderngl.Program], path: str, vertex: str,
                    fragment: str) -> moderngl.Program:
    """Compile with ``create(vertex, fragment)``; a GLSL error becomes a ShaderCompileError with its line."""
    import moderngl
    try:
        return create(vertex, fragment)
    except moderngl.Error as exc:
        text = str(exc)
        match = _GLSL_ERROR.search(text)
        if match is None:
            lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not set(ln.strip()) <= {"="}]
            raise ShaderCompileError(ShaderError(path, None, " ".join(lines[-2:]) or text)) from None
        raise ShaderCompileError(ShaderError(path, int(match["line"]), match["message"].strip())) from None


MAX_SHADER_BYTES = 256 * 1024   # an effect file is a page or two of GLSL; a bigger one is not an effect
# Parameter groups the engine and its inputs own: an effect file of that name would redeclare (and could
# widen) them, e.g. shaders/gen.glsl declaring gen.psi with a range of ±1e9.
RESERVED_GROUPS = frozenset({"gen", "walk", "dir", "audio", "camera", "bio", "midi", "osc", "show", "engine",
                             "param"})


def is_shader_name(name: str) -> bool:
    """Effect names are file stems: lower case letters, digits and _ (so a name can never be a path)."""
    return bool(_NAME.match(name))


def read_source(path: str) -> str:
    """An effect file's text (UTF-8, at most MAX_SHADER_BYTES); ShaderCompileError with the reason otherwise."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):   # a FIFO would block the display thread
            raise ShaderCompileError(ShaderError(path, None, "not a regular file"))
        with open(path, "rb") as f:
            data = f.read(MAX_SHADER_BYTES + 1)
    except OSError as exc:
        raise ShaderCompileError(ShaderError(path, None, f"cannot read the shader ({exc.strerror or exc})")) from None
    if len(data) > MAX_SHADER_BYTES:
        raise ShaderCompileError(ShaderError(path, None, f"larger than {MAX_SHADER_BYTES // 1024} KiB; "
                                                         "not an effect file"))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ShaderCompileError(ShaderError(path, None, f"not UTF-8 text (byte {exc.start})")) from None
