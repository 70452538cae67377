"""Shader probes: a shader is compiled and drawn in a separate process, which can be killed, before the
display ever runs it.

A GL draw cannot be interrupted, and moderngl holds Python's GIL while it waits for GL: an effect with a long
loop, on a software renderer, stops the whole engine (one such frame took 50 s), and on a GPU it hangs the
device. So before a new or changed shader replaces the running one, a probe process (``python -m
engine.gl.probe``, with its own EGL context) compiles it and draws :data:`PROBE_SIZE` test frames with its
parameters at their defaults, minima and maxima, timing each. The display keeps the old program meanwhile.
The parent kills a probe that overruns (:data:`PER_SHADER_SECONDS`) and refuses that shader; one that compiles
and draws within budget is compiled in the display's own context (fast: the probe measured it).

Verdicts are cached by source, so an unchanged shader is probed once per engine run.

    verdicts = probe([ProbeRequest.of("vignette", path, source, specs)])    # blocking, at start
    job = ProbeJob([request]); ...; job.poll()                               # from the frame loop

The protocol is JSON lines: the parent writes the requests to the probe's stdin; the probe answers
``{"ready": renderer}`` once its context exists, then per shader ``{"start": name}`` and a verdict.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence

from engine.gl.glsl import ShaderCompileError, ShaderError, compile_program
from engine.params import ParamSpec

log = logging.getLogger(__name__)

PROBE_SIZE = (1920, 1080)          # the size test frames are drawn at when no output size is given
DEFAULT_DRAW_BUDGET_MS = 100.0     # slowest test frame at the output's size
COMPILE_BUDGET_MS = 2000.0         # compiling in the display thread must not freeze it longer than this
STARTUP_SECONDS = 30.0             # for the probe process to start and make its GL context
PER_SHADER_SECONDS = 5.0           # for one shader's compile and test draws; then the probe is killed
_SAMPLERS = ("u_image", "u_history", "u_prev", "u_next", "u_overlay")


@dataclasses.dataclass(frozen=True)
class ProbeRequest:
    """One shader to try: its program sources and its declared parameters (tested at default, min, max)."""

    name: str
    path: str
    vertex: str
    fragment: str
    params: tuple[tuple[str, float, float, float], ...]       # uniform, default, minimum, maximum
    size: tuple[int, int] = PROBE_SIZE                         # the output's size: test frames are drawn at it

    @classmethod
    def of(cls, name: str, path: str, vertex: str, fragment: str, specs: Sequence[ParamSpec],
           size: tuple[int, int] = PROBE_SIZE) -> ProbeRequest:
        return cls(name, path, vertex, fragment,
                   tuple((s.key.split(".", 1)[1], s.default, s.minimum, s.maximum) for s in specs),
                   (int(size[0]), int(size[1])))

    @property
    def key(self) -> str:
        text = json.dumps([self.vertex, self.fragment, self.params, self.size])
        return hashlib.sha256(text.encode()).hexdigest()


@dataclasses.dataclass(frozen=True)
class Verdict:
    """What the probe found. ``unavailable``: no probe could run here (no EGL), nothing is known."""

    name: str
    path: str
    ok: bool
    compile_ms: float = 0.0
    draw_ms: float = 0.0
    error: ShaderError | None = None
    unavailable: bool = False

    def refusal(self, budget_ms: float) -> ShaderError | None:
        """Why this shader may not run within ``budget_ms`` a frame, or None."""
        if self.unavailable:
            return None
        if not self.ok:
            return self.error or ShaderError(self.path, None, "refused by the shader probe")
        if self.draw_ms > budget_ms:
            return ShaderError(self.path, None, f"too slow: a test frame took {self.draw_ms:.0f} ms at this output's "
                                                f"size (budget {budget_ms:.0f} ms); the previous version keeps "
                                                "running")
        if self.compile_ms > COMPILE_BUDGET_MS:
            return ShaderError(self.path, None, f"compiling took {self.compile_ms:.0f} ms (budget "
                                                f"{COMPILE_BUDGET_MS:.0f} ms)")
        return None


_verdicts: dict[str, Verdict] = {}      # by ProbeRequest.key, for this process


def cached(request: ProbeRequest) -> Verdict | None:
    verdict = _verdicts.get(request.key)
    return dataclasses.replace(verdict, name=request.name, path=request.path) if verdict else None


class ProbeJob:
    """One probe process for a batch of shaders; :meth:`poll` never blocks (call it from the frame loop)."""

    def __init__(self, requests: Sequence[ProbeRequest]) -> None:
        self.requests = {r.name: r for r in requests}
        self.verdicts: dict[str, Verdict] = {}
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._started = time.monotonic()
        self._last_event = self._started
        self._ready = False
        self._current: str | None = None
        self._stderr = tempfile.TemporaryFile()
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}
        self._proc: subprocess.Popen[str] | None = subprocess.Popen(
            [sys.executable, "-m", "engine.gl.probe"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self._stderr, text=True, env=env)
        payload = json.dumps({"shaders": [dataclasses.asdict(r) for r in requests]})
        threading.Thread(target=self._talk, args=(self._proc, payload), name="shader-probe", daemon=True).start()

    def _talk(self, proc: subprocess.Popen[str], payload: str) -> None:
        try:
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write(payload)
            proc.stdin.close()
            for line in proc.stdout:
                self._lines.put(line)
        except (OSError, ValueError):  # the probe died or was killed
            pass
        self._lines.put(None)

    @property
    def done(self) -> bool:
        return self._proc is None

    def untested(self) -> list[ProbeRequest]:
        """Requests without a verdict (after a probe that hung on another shader): probe them again."""
        return [r for name, r in self.requests.items() if name not in self.verdicts]

    def poll(self) -> list[Verdict]:
        """Verdicts that arrived since the last poll; kills an overrunning probe and judges its shader."""
        found: list[Verdict] = []
        while True:
            try:
                line = self._lines.get_nowait()
            except queue.Empty:
                break
            if line is None:
                found += self._finish("the shader crashed the GL driver in the probe process")
                return found
            found += self._event(line)
        if self._proc is not None:
            now = time.monotonic()
            if not self._ready and now - self._started > STARTUP_SECONDS:
                found += self._finish(None, kill=True)
            elif self._ready and self._current is not None and now - self._last_event > PER_SHADER_SECONDS:
                found += self._finish(f"a test frame did not finish within {PER_SHADER_SECONDS:g} s (an endless "
                                      "or very long loop?); the probe was stopped", kill=True)
        return found

    def wait(self, timeout: float) -> list[Verdict]:
        """Block until the job ends (or ``timeout``); returns all verdicts found meanwhile."""
        found: list[Verdict] = []
        deadline = time.monotonic() + timeout
        while not self.done and time.monotonic() < deadline:
            found += self.poll()
            if not self.done:
                time.sleep(0.01)
        if not self.done:
            found += self._finish("the probe did not answer in time", kill=True)
        return found

    def close(self) -> None:
        if self._proc is not None:
            self._finish(None, kill=True)

    def _event(self, line: str) -> list[Verdict]:
        self._last_event = time.monotonic()
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            return []
        if "ready" in event:
            self._ready = True
            return []
        if "start" in event:
            self._current = str(event["start"])
            return []
        name = str(event.get("name"))
        request = self.requests.get(name)
        if request is None:
            return []
        self._current = None
        error = None
        if event.get("error") is not None:
            line_no = event.get("line")
            error = ShaderError(request.path, int(line_no) if isinstance(line_no, int) else None, str(event["error"]))
        verdict = Verdict(name, request.path, bool(event.get("ok")), float(event.get("compile_ms", 0.0)),
                          float(event.get("draw_ms", 0.0)), error)
        return [self._record(request, verdict)]

    def _record(self, request: ProbeRequest, verdict: Verdict) -> Verdict:
        self.verdicts[request.name] = verdict
        if not verdict.unavailable:
            _verdicts[request.key] = verdict
        return verdict

    def _finish(self, blame: str | None, kill: bool = False) -> list[Verdict]:
        """End the process; the shader in progress gets ``blame`` (None: the probe itself could not run)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return []
        if kill or proc.poll() is None:   # a probe that closed its output but lingers is not waited for
            proc.kill()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            log.error("the shader probe (pid %d) did not exit", proc.pid)
        found = []
        if not self._ready:
            self._stderr.seek(0)
            tail = self._stderr.read()[-600:].decode("utf-8", "replace").strip().splitlines()
            reason = tail[-1] if tail else f"exit status {proc.returncode}"
            log.warning("the shader probe could not run (%s); shaders compile without a time check", reason)
            for request in self.untested():
                found.append(self._record(request, Verdict(request.name, request.path, True, unavailable=True)))
        elif self._current is not None and blame is not None:
            request = self.requests[self._current]
            found.append(self._record(request, Verdict(request.name, request.path, False,
                                                       error=ShaderError(request.path, None, blame))))
        self._stderr.close()
        return found


def probe(requests: Sequence[ProbeRequest], timeout: float = 120.0) -> dict[str, Verdict]:
    """Verdicts for every request (cached ones first), probing the rest; blocks. A probe that hangs on one
    shader is killed and the remaining shaders are tried again in a fresh process."""
    verdicts = {r.name: v for r in requests if (v := cached(r)) is not None}
    pending = [r for r in requests if r.name not in verdicts]
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        job = ProbeJob(pending)
        for verdict in job.wait(max(deadline - time.monotonic(), 0.0)):
            verdicts[verdict.name] = verdict
        retry = job.untested()
        if len(retry) == len(pending):  # no progress at all: do not spin
            break
        pending = retry
    for request in pending:
        verdicts.setdefault(request.name, Verdict(request.name, request.path, False, error=ShaderError(
            request.path, None, "the shader probe gave no verdict")))
    return verdicts


# ------------------------------------------------------------------------------------ the probe process
def _emit(event: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def _set(program: object, name: str, value: object) -> None:
    import moderngl
    member = program.get(name, None)  # type: ignore[attr-defined]
    if isinstance(member, moderngl.Uniform):
        member.value = value


def main() -> int:
    """Run in the probe process: read the requests, compile and draw each, print a verdict per shader."""
    import moderngl
    import numpy as np
    request = json.load(sys.stdin)
    ctx = moderngl.create_standalone_context(require=330, backend="egl")  # type: ignore[arg-type]
    noise = np.random.default_rng(0).integers(0, 256, (256, 256, 4), dtype=np.uint8)
    textures = [ctx.texture((256, 256), 4, noise.tobytes()) for _ in range(2)]
    targets: dict[tuple[int, int], moderngl.Framebuffer] = {}
    _emit({"ready": str(ctx.info.get("GL_RENDERER", ""))})
    for shader in request["shaders"]:
        name = shader["name"]
        width, height = (int(v) for v in shader["size"])
        target = targets.get((width, height))
        if target is None:
            target = targets[(width, height)] = ctx.framebuffer(color_attachments=[ctx.texture((width, height), 4)])
        _emit({"start": name})
        t0 = time.perf_counter()
        try:
            program = compile_program(lambda v, f: ctx.program(vertex_shader=v, fragment_shader=f),
                                      shader["path"], shader["vertex"], shader["fragment"])
        except ShaderCompileError as exc:
            _emit({"name": name, "ok": False, "error": exc.error.message, "line": exc.error.line})
            continue
        vao = ctx.vertex_array(program, [])
        for unit, sampler in enumerate(_SAMPLERS):
            textures[unit % 2].use(unit)
            _set(program, sampler, unit)
        _set(program, "u_resolution", (float(width), float(height)))
        _set(program, "u_weight", 0.5)
        _set(program, "u_region", (0.0, 0.0, 1.0, 1.0))
        _set(program, "u_fit", (1.0, 1.0, 0.0, 0.0))
        _set(program, "u_rect", (0.0, 0.5, 0.5, 0.5))
        # Software renderers (llvmpipe) compile the shader to machine code at its first draw, which the
        # display would pay too: one one-pixel draw makes that part of the compile time.
        target.viewport = (0, 0, 1, 1)
        target.use()
        vao.render(moderngl.TRIANGLES, vertices=3)
        ctx.finish()
        compile_ms = (time.perf_counter() - t0) * 1000
        target.viewport = (0, 0, width, height)
        slowest = 0.0
        for setting in ("default", "minimum", "maximum", "middle"):
            for param in shader["params"]:
                _, default, low, high = param
                value = {"default": default, "minimum": low, "maximum": high, "middle": (low + high) / 2}[setting]
                _set(program, param[0], float(value))
            for u_time in (0.0, 3599.9):
                _set(program, "u_time", u_time)
                target.use()
                t0 = time.perf_counter()
                vao.render(moderngl.TRIANGLES, vertices=3)
                ctx.finish()
                slowest = max(slowest, (time.perf_counter() - t0) * 1000)
        _emit({"name": name, "ok": True, "compile_ms": compile_ms, "draw_ms": slowest})
        vao.release()
        program.release()
    return 0


if __name__ == "__main__":
    sys.exit(main())
