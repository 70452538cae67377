"""GLSL effect files: loading, parameter declarations, compile errors with lines, safe hot reload.

An effect file in ``shaders/`` is a fragment shader body; its ``uniform float`` lines with a
``// default D, range A .. B`` comment declare engine parameters named ``<file name>.<uniform>`` (see
:mod:`engine.gl.glsl`). The library keeps the running version of each effect and watches the files:

* a new or changed file is first tried by the **shader probe** (:mod:`engine.gl.probe`): compiled and drawn
  at its parameters' defaults, minima and maxima in a separate process that is killed if it overruns;
* only a file the probe accepts is compiled here, in the display's context, and replaces the running
  version; one that fails (GLSL error, endless loop, too slow, driver crash) is reported with its line and
  the previous version keeps running;
* the display thread never waits for any of this: :meth:`ShaderLibrary.poll` only looks at the probe.

At start, :meth:`ShaderLibrary.preload` probes the effects an output needs in one blocking batch. The
compositor's own stages (``blend``, ``hud``) fall back to the versions shipped with the engine when a
user's copy cannot run, so a broken stage never blackens the screen.

    library = ShaderLibrary(GLResources(ctx), "shaders", params)
    library.preload(["blend", "hud", "vignette"])
    library.get("vignette").params[0].key   # 'vignette.amount'
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Iterable

import moderngl

from engine.defaults import SHIPPED_SHADERS
from engine.gl.glsl import (RESERVED_GROUPS, ShaderCompileError, ShaderError, compile_program, is_shader_name,
                            parse_params, program_sources, read_source)
from engine.gl.probe import (DEFAULT_DRAW_BUDGET_MS, PROBE_SIZE, ProbeJob, ProbeRequest, Verdict, cached,
                             probe)
from engine.gl.resources import GLResources
from engine.params import ParamSpec, ParamStore

log = logging.getLogger(__name__)

STAGES = ("blend", "hud")       # the compositor's own stages, not effects of the chain

__all__ = ["Effect", "ShaderCompileError", "ShaderError", "ShaderLibrary", "SHIPPED_SHADERS", "STAGES",
           "parse_params"]


@dataclasses.dataclass
class Effect:
    """A compiled effect and what it declares."""

    name: str
    path: str
    program: moderngl.Program
    vao: moderngl.VertexArray
    params: tuple[ParamSpec, ...]
    uses_history: bool
    phases: tuple[ParamSpec, ...] = ()      # parameters whose time integral the shader reads as u_phase_<name>

    def at_defaults(self, values: dict[str, float]) -> bool:
        return all(values.get(p.key, p.default) == p.default for p in self.params)


@dataclasses.dataclass(frozen=True)
class _Source:
    """An effect file as read: what to probe, and its declarations."""

    request: ProbeRequest
    specs: tuple[ParamSpec, ...]
    mtime: float
    text: str                                    # the file as read (what a recording keeps)


class ShaderLibrary:
    """The effects of one output's GL context, kept up to date with a folder (see the module docstring)."""

    def __init__(self, gl: GLResources, directory: str, params: ParamStore | None = None,
                 budget_ms: float = DEFAULT_DRAW_BUDGET_MS, size: tuple[int, int] = PROBE_SIZE) -> None:
        self.gl = gl
        self.directory = directory
        self.params = params
        self.budget_ms = budget_ms
        self.size = size                             # the output's size: the probe draws test frames at it
        self.effects: dict[str, Effect] = {}
        self.errors: dict[str, ShaderError] = {}
        self._seen: dict[str, float | None] = {}     # every name asked for -> mtime last looked at
        self._queue: dict[str, _Source] = {}
        self._job: ProbeJob | None = None
        self._job_sources: dict[str, _Source] = {}
        self._fallbacks: dict[str, Effect] = {}
        self.texts: dict[str, str] = {}              # the source text of every effect that runs, by name
        self.on_install: Callable[[str, str], None] | None = None   # (name, text) each time one starts running

    def path(self, name: str) -> str:
        if not is_shader_name(name):
            raise ValueError(f"shader names are lower case letters, digits and _, got {name!r}")
        return os.path.join(self.directory, f"{name}.glsl")

    # -------------------------------------------------------------------------------------------- using
    def get(self, name: str) -> Effect | None:
        """The running version of an effect, or None while it is not (yet) accepted; a name not seen before
        is read and probed in the background from the next :meth:`poll` on. Never raises: a name that cannot
        be an effect file is reported in :attr:`errors`."""
        effect = self.effects.get(name)
        if effect is None and name not in self._seen and name not in self.errors:
            if not is_shader_name(name):
                self._report(name, ShaderError(f"{name!r}", None, "not an effect name (lower case letters, "
                                                                  "digits and _, the name of a file in shaders/)"))
                return None
            self._seen[name] = None
        return effect

    def stage(self, name: str) -> Effect:
        """A compositor stage (blend, hud): the folder's version if it runs, else the shipped one."""
        effect = self.effects.get(name)
        if effect is not None:
            return effect
        fallback = self._fallbacks.get(name)
        if fallback is None:
            path = os.path.join(SHIPPED_SHADERS, f"{name}.glsl")
            source = read_source(path)  # ours, shipped with the engine: compiled without a probe
            fallback = self._compile(name, path, *program_sources(source), ())
            self._fallbacks[name] = fallback
            if os.path.abspath(self.directory) != os.path.abspath(SHIPPED_SHADERS):
                log.warning("using the engine's own %s stage until %s runs", name, self.path(name))
        return fallback

    def preload(self, names: Iterable[str]) -> None:
        """Probe and compile these effects now, in one blocking batch (at start, before anything is live)."""
        sources = {}
        for name in names:
            if name in self.effects or not is_shader_name(name):
                self.get(name)
                continue
            self.get(name)
            source = self._read(name)
            if source is not None:
                sources[name] = source
        verdicts = probe([s.request for s in sources.values()]) if sources else {}
        for name, source in sources.items():
            self._judge(source, verdicts[name])

    def poll(self) -> list[ShaderError]:
        """Look for changed files and at the running probe; returns the errors found now (already logged)."""
        found: list[ShaderError] = []
        for name, seen in list(self._seen.items()):
            try:
                mtime: float | None = os.stat(self.path(name)).st_mtime
            except OSError:
                mtime = None
            if mtime == seen and (mtime is not None or name in self.errors):
                continue
            source = self._read(name)
            if source is None:
                found.append(self.errors[name])
                continue
            verdict = cached(source.request)
            if verdict is not None:
                error = self._judge(source, verdict)
                found += [error] if error else []
            else:
                self._queue[name] = source
        if self._job is None and self._queue:
            self._job_sources, self._queue = dict(self._queue), {}
            self._job = ProbeJob([s.request for s in self._job_sources.values()])
        if self._job is not None:
            for verdict in self._job.poll():
                source = self._job_sources.get(verdict.name)
                if source is not None:
                    error = self._judge(source, verdict)
                    found += [error] if error else []
            if self._job.done:
                for request in self._job.untested():      # after a probe killed on another shader
                    self._queue.setdefault(request.name, self._job_sources[request.name])
                self._job = None
        return found

    @property
    def pending(self) -> bool:
        """Whether a changed or new shader is still waiting for (or in) the probe."""
        return self._job is not None or bool(self._queue)

    def release(self) -> None:
        if self._job is not None:
            self._job.close()
            self._job = None
        for effect in list(self.effects.values()) + list(self._fallbacks.values()):
            self.gl.release(effect.vao, effect.program)
        self.effects.clear()
        self._fallbacks.clear()

    # ---------------------------------------------------------------------------------------- internals
    def _read(self, name: str) -> _Source | None:
        path = self.path(name)
        try:
            mtime = os.stat(path).st_mtime
            source = read_source(path)
            if name in RESERVED_GROUPS:
                raise ShaderCompileError(ShaderError(path, None, f"'{name}' is a group of engine parameters; an "
                                                                 "effect file needs another name"))
            specs = parse_params(name, path, source)
        except OSError as exc:
            self._seen[name] = None
            self._report(name, ShaderError(path, None, f"cannot read the shader ({exc.strerror or exc})"))
            return None
        except ShaderCompileError as exc:
            self._seen[name] = _mtime(path)
            self._report(name, exc.error)
            return None
        self._seen[name] = mtime
        return _Source(ProbeRequest.of(name, path, *program_sources(source), specs, self.size), specs, mtime, source)

    def _judge(self, source: _Source, verdict: Verdict) -> ShaderError | None:
        """Install a shader the probe accepted; report one it refused (the running version stays)."""
        name, path = source.request.name, source.request.path
        refusal = verdict.refusal(self.budget_ms)
        if refusal is not None:
            return self._report(name, refusal)
        try:
            effect = self._compile(name, path, source.request.vertex, source.request.fragment, source.specs)
        except ShaderCompileError as exc:
            return self._report(name, exc.error)
        old = self.effects.get(name)
        self.effects[name] = effect
        self.errors.pop(name, None)
        self.texts[name] = source.text
        if self.on_install is not None:
            self.on_install(name, source.text)
        if self.params is not None:
            for spec in effect.params:
                self.params.declare(spec)
        if old is not None:  # nothing else holds it: the compositor looks effects up every frame
            self.gl.release(old.vao, old.program)
            log.info("reloaded shader %s", path)
        return None

    def _compile(self, name: str, path: str, vertex: str, fragment: str, specs: tuple[ParamSpec, ...]) -> Effect:
        program = compile_program(self.gl.program, path, vertex, fragment)
        vao = self.gl.vertex_array(program)
        phases = tuple(spec for spec in specs if f"u_phase_{spec.key.split('.', 1)[1]}" in program)
        return Effect(name=name, path=path, program=program, vao=vao, params=specs,
                      uses_history="u_history" in program, phases=phases)

    def _report(self, name: str, error: ShaderError) -> ShaderError:
        if self.errors.get(name) != error:
            log.error("shader %s", error)
        self.errors[name] = error
        return error


def _mtime(path: str) -> float | None:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return None
