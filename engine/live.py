"""The live loop: clock → walker → generator worker → compositor → outputs, once per display frame.

    engine = LiveEngine(walker, GeneratorWorker(FrameSynthesizer(G)), outputs, params)
    engine.run()                      # until quit (Esc / Q / window closed / duration)

With a show, the source is the show's cue runner, which the loop updates first in every frame (and the
show file is re-read when it changes).

One display frame (:meth:`LiveEngine.frame`) reads the clock once and the parameters once, advances the walk
by ``walk.speed``, posts a request to the generator worker (which only ever makes the newest one), and asks
every output to composite the two latest generated frames. It never waits for the generator: the display
keeps its rate and the compositor blends. Shader files are checked for changes twice a second. Pacing comes
from the windows' vsync where there is one, and from a frame-rate cap otherwise (offscreen, Xvfb).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

import numpy as np
import torch

from engine.clock import Clock, WallClock
from engine.feedback import Feedback, FeedbackState
from engine.inputs import EventQueue, InputError, InputEvent, Router, SoftTakeover, latent_target, walk_target
from engine.gl.hud import hud_image
from engine.latent.chroma import PITCH_CLASSES, ChromaKeyframes
from engine.latent.directions import DirectionSet
from engine.latent.labelling import DirectionLearner
from engine.latent.walker import LatentWalker, WalkFrame
from engine.logs import Throttle
from engine.models.networks import Generator
from engine.gl.outputs import Output, WindowOutput
from engine.params import ENGINE_PARAMS, ParamStore, direction_spec, engine_params
from engine.recording import Recorder, read_text
from engine.sources import Modulator, SourceStore, Triggers
from engine.state import EngineState, Heartbeat, StateWriter, file_sha256
from engine.worker import GeneratorWorker

_T = TypeVar("_T")
_Loaded = TypeVar("_Loaded")

if TYPE_CHECKING:  # the show package imports this module; at run time the runner is only passed in
    from controllers.base import Controller
    from engine.show.model import Show
    from engine.show.runner import PreparedShow, ShowRunner

__all__ = ["ENGINE_PARAMS", "LiveEngine", "LoopStats", "ShowWatcher", "engine_params"]

log = logging.getLogger(__name__)
_throttle = Throttle(log)
FAULT_SHOWN_SECONDS = 10.0      # how long the HUD shows a stage's last fault after it stops happening
CHROMA_STALE_SECONDS = 1.0      # chroma silent this long hands the picture back to the walk (over as long)
QUANTIZE_STALE_SECONDS = 1.0    # a beat clock silent this long no longer holds a GO back
QUANTIZE_MAX_WAIT = 8.0         # a bar at 30 BPM: the longest a quantised GO waits

class LatentSource(Protocol):
    """Where the W of each frame comes from: a :class:`LatentWalker`, or a show's cue runner."""

    G: Generator

    def frame_at(self, t: float, truncation_psi: float | None = None) -> WalkFrame: ...


class ShowWatcher(Generic[_Loaded]):
    """Re-reads a show file when it changes, on a thread of its own (validating a large show and resolving
    its walks take time the display does not have); the frame loop applies a valid result between two
    frames. An invalid file is reported and the running show goes on."""

    def __init__(self, path: str, load: Callable[[str], _Loaded], apply: Callable[[_Loaded], str]) -> None:
        self.path, self._load, self._apply = path, load, apply
        self._mtime = self._stat()
        self._thread: threading.Thread | None = None
        self._result: tuple[_Loaded | None, str | None] | None = None

    def _stat(self) -> float | None:
        try:
            return os.stat(self.path).st_mtime
        except OSError:
            return None

    def _read(self) -> None:
        try:
            self._result = (self._load(self.path), None)
        except Exception as exc:  # ShowLoadError lists every problem; anything else is reported the same way
            self._result = (None, str(exc))

    def poll(self) -> list[str]:
        """Never blocks: applies a finished reload, or starts one when the file changed."""
        messages: list[str] = []
        if self._thread is not None and not self._thread.is_alive():
            self._thread = None
            assert self._result is not None
            show, error = self._result
            if show is not None:
                messages.append(self._apply(show))
            else:
                lines = (error or "").splitlines()
                log.error("show file not reloaded, the running show continues:\n%s", error)
                messages.append(f"show not reloaded ({len(lines)} errors): {lines[0]}" if lines else
                                "show not reloaded")
        mtime = self._stat()
        if self._thread is None and mtime is not None and mtime != self._mtime:
            self._mtime = mtime
            self._thread = threading.Thread(target=self._read, name="show-reload", daemon=True)
            self._thread.start()
        return messages


@dataclasses.dataclass
class LoopStats:
    """Rolling measurements for the HUD and benchmarks."""

    display_frames: int = 0
    display_fps: float = 0.0
    generator_fps: float = 0.0
    latency_ms: float = 0.0
    _window_start: float = 0.0
    _window_display: int = 0
    _window_generated: int = 0


class LayerSource(Protocol):
    """Something that gives an image layer (the camera): its name and its newest picture."""

    name: str

    def layer(self) -> tuple[np.ndarray, int] | None: ...


class LiveEngine:
    """Owns the loop; the parts (walker, worker, outputs, params, clock) are built by the caller."""

    def __init__(self, source: LatentSource, worker: GeneratorWorker, outputs: Sequence[Output], params: ParamStore,
                 clock: Clock | None = None, max_fps: float = 60.0, shader_poll_seconds: float = 0.5,
                 runner: ShowRunner | None = None, show_watcher: ShowWatcher | None = None,
                 state_writer: StateWriter | None = None, heartbeat: Heartbeat | None = None,
                 controllers: Sequence[Controller] = ()) -> None:
        self.source, self.worker, self.outputs, self.params = source, worker, list(outputs), params
        self.runner = runner                    # a ShowRunner when a show is running (GO, panic, …)
        self.show_watcher = show_watcher
        self.state_writer = state_writer        # writes where the show is every few seconds (for --resume)
        self.heartbeat = heartbeat              # tells a supervisor that the loop is alive
        self.controllers = list(controllers)    # inputs; each posts InputEvents (see engine.inputs)
        self.feedback: list[Feedback] = []      # outputs of state (OSC out): offered the newest each frame
        self.events = EventQueue()              # what the controllers posted, drained once per frame
        self.router = Router()
        self.router.map("set", self._on_set)
        self.router.map("norm", self._on_norm)
        self.router.map("nudge", self._on_nudge)
        self.router.map("command", self._on_command)
        self.router.map("walk", self._on_walk)
        self.router.map("step", self._on_step)
        self.router.map("source", self._on_source)
        self.router.map("pulse", self._on_pulse)
        self.soft = SoftTakeover()              # the show's inputs: midi: takeover: picks the mode
        self.soft_sources: set[str] = {"midi"}  # 0..1 controls from these catch their parameter softly
        self.sources = SourceStore()            # what the inputs measure (bio.hr, midi.clock.bpm, …)
        self.modulator = Modulator([])          # the show's modulations: sources on top of parameters
        self.triggers = Triggers([])            # commands on every N pulses (a GO every 4 beats)
        self.layer_sources: list[LayerSource] = [c for c in controllers if hasattr(c, "layer")]  # the camera
        self.chroma: ChromaKeyframes | None = None      # twelve keyframes weighted by audio.chroma.*
        self.chroma_amount = 0.0                # how far towards them at full chroma (times react.chroma)
        self._chroma_weight = 0.0               # 0..1: fades in while the chroma is heard, out when it is not
        self._chroma_last: np.ndarray | None = None     # the weights last heard (held while fading out)
        self._chroma_time: float | None = None
        self.quantize: tuple[str, str] | None = None   # (clock, beat|bar): GO waits for the clock's next one
        self.learning: str | None = None        # the parameter armed for MIDI learn
        self.directions: DirectionSet | None = None    # latent directions: dir.{name} moves W along each
        self.learner: DirectionLearner | None = None   # directions learned from frames labelled live
        self._shown_ws: torch.Tensor | None = None     # the W last asked for (what a label labels)
        self.baseline_requests = 0              # sensor baseline captures commanded (controllers follow it)
        self._pending_go: tuple[float, float | None] | None = None   # (when GO was pressed, the phase then)
        self.recorder: Recorder | None = None   # --record: every routed event, with its frame's engine time
        self.show_sha256 = file_sha256(runner.show.path) if runner is not None else None
        self.clock = clock or WallClock()
        self.max_fps = max_fps
        self.shader_poll_seconds = shader_poll_seconds
        for spec in ENGINE_PARAMS:
            params.declare(spec)
        if isinstance(source, LatentWalker):
            self.params.set("gen.psi", source.settings.truncation_psi)
        self.walk_time = 0.0
        self.show_hud = False
        self.blend = True                       # blend the two latest generated frames (offline: no)
        self.closers: list[Callable[[], object]] = []
        self.on_show: list[Callable[[LiveEngine], object]] = []   # after a reloaded show took over
        self.running = False
        self.stats = LoopStats()
        self.messages: list[str] = []           # the latest operator messages (warnings start with "!")
        self.faults: dict[str, tuple[str, float]] = {}   # stage -> (last failure, engine time), for the HUD
        self._last_now: float | None = None
        self._last_poll = 0.0
        self._hud: np.ndarray | None = None
        self._hud_time = -1.0

    # ------------------------------------------------------------------------------------------ inputs
    def post(self, event: InputEvent) -> None:
        """Where controllers (and anything else, from any thread) send events; the next frame routes them."""
        self.events.post(event)

    def start_controllers(self) -> None:
        """Start the inputs and the feedback sinks (one that fails is reported; the show goes on)."""
        for controller in self.controllers:
            self._guard(f"controller {controller.name}", controller.start, self.post, self.clock)
        for sink in self.feedback:
            self._guard("feedback", sink.start)

    def stop_controllers(self) -> None:
        for controller in self.controllers:
            self._guard(f"controller {controller.name}", controller.stop)
        for sink in self.feedback:
            self._guard("feedback", sink.stop)

    def _offer_feedback(self, now: float, values: dict[str, float]) -> None:
        runner = self.runner
        standby = runner.standby.id if runner is not None and runner.standby is not None else None
        running = tuple(r.cue.id for r in runner.running) if runner is not None else ()
        errors = tuple(f"{stage}: {message}" for stage, (message, at) in self.faults.items()
                       if now - at <= FAULT_SHOWN_SECONDS)
        recent = self.worker.status.recent_error()
        state = FeedbackState(now=now, values=dict(values), standby=standby, running=running,
                              display_fps=self.stats.display_fps, generator_fps=self.stats.generator_fps,
                              errors=errors + ((f"generator: {recent}",) if recent else ()),
                              sources=self.sources.values(), live=tuple(self.sources.live(now)),
                              learning=self.learning, baseline=self.baseline_requests)
        for sink in self.feedback:
            sink.offer(state)

    def _route_events(self, now: float) -> None:
        events = list(self.events.drain())
        if self.recorder is not None:
            self._guard("recording", self._record_events, now, events)
        for event in events:
            self._guard(f"input {event.source}", self.router.route, event)

    def _record_events(self, now: float, events: list[InputEvent]) -> None:
        """This frame's events into the recording: each one, but the readings as one line per input with the
        newest of each source (a source keeps only its newest value: nothing a replay needs is lost)."""
        assert self.recorder is not None
        readings: dict[str, dict[str, float]] = {}
        for event in events:
            if event.kind == "source" and isinstance(event.value, (int, float)):
                readings.setdefault(event.source, {})[event.key] = float(event.value)
            else:
                self.recorder.event(now, event)
        for origin, values in readings.items():
            self.recorder.sources(now, origin, values)

    def _on_set(self, event: InputEvent) -> None:
        assert isinstance(event.value, (int, float))
        self.params.set(event.key, event.value, source=event.source)
        self.soft.release(event.key, event.source)

    def _on_norm(self, event: InputEvent) -> None:
        assert isinstance(event.value, (int, float))
        if event.source in self.soft_sources and not self.soft.accept(
                event.source, event.key, float(event.value), self.params.normalized(event.key)):
            return
        self.params.set_normalized(event.key, event.value, source=event.source)
        self.soft.release(event.key, event.source)

    def _on_nudge(self, event: InputEvent) -> None:
        assert isinstance(event.value, (int, float))
        self.params.set(event.key, self.params.get(event.key) + event.value, source=event.source)
        self.soft.release(event.key, event.source)

    def _on_step(self, event: InputEvent) -> None:
        assert isinstance(event.value, (int, float))
        self.params.set_normalized(event.key, self.params.normalized(event.key) + event.value, source=event.source)
        self.soft.release(event.key, event.source)

    def _on_source(self, event: InputEvent) -> None:
        assert isinstance(event.value, (int, float))
        self.sources.update(event.key, float(event.value), self.clock.now())

    def _on_pulse(self, event: InputEvent) -> None:
        assert isinstance(event.value, (int, float))
        now = self.clock.now()
        self.modulator.pulse(event.key, float(event.value), now)
        for trigger, fired in self.triggers.pulse(event.key):
            if trigger.action == "go":
                self.handle_key("go")
            elif self.runner is not None:
                seed = trigger.seeds[fired % len(trigger.seeds)]
                self._note(self.runner.walk_to(seed, trigger.seconds, now, origin=event.source), level=logging.INFO)

    def _on_walk(self, event: InputEvent) -> None:
        if self.runner is None:
            raise InputError("walk commands need a show (a plain --seeds walk has no crossfade to glide with)")
        if event.key == "latent":
            name, row, seconds = latent_target(event)
            self._note(self.runner.walk_to_latent(name, row, seconds, self.clock.now(), origin=event.source),
                       level=logging.INFO)
            return
        seed, seconds = walk_target(event)
        self._note(self.runner.walk_to(seed, seconds, self.clock.now(), origin=event.source), level=logging.INFO)

    def _on_command(self, event: InputEvent) -> None:
        if event.key == "start":
            if self.runner is not None:
                self._note(self.runner.start_cue(str(event.value), self.clock.now()), level=logging.INFO)
        elif event.key == "learn":                   # the same parameter again disarms (a key pressed twice)
            armed = str(event.value) if event.value and event.value != self.learning else None
            if armed is not None:
                self.params.spec(armed)                         # an unknown parameter is reported, not armed
            self.learning = armed
            self._note(f"MIDI learn: move a control for {self.learning}" if self.learning else "MIDI learn off",
                       level=logging.INFO)
        elif event.key in ("positive", "negative"):
            if self._shown_ws is None:
                raise InputError("nothing on screen to label yet")
            if self.learner is None:
                self.learner = DirectionLearner(self.source.G)
            self._note(self.learner.label(str(event.value or "learned"), event.key == "positive", self._shown_ws),
                       level=logging.INFO)
        elif event.key == "baseline":
            self.baseline_requests += 1
            self._note("sensor baseline: capturing", level=logging.INFO)
        elif event.key == "go" and self.quantize is not None and self.runner is not None:
            self._pending_go = (self.clock.now(), self._clock_phase())
            self._note(f"GO on the next {self.quantize[1]}", level=logging.INFO)
        else:
            self.handle_key(event.key)

    def _clock_phase(self) -> float | None:
        """The quantising clock's phase (0..1 within a beat or a bar), None while it is not live."""
        assert self.quantize is not None
        clock, unit = self.quantize
        key = f"{clock}.{unit}"
        if self.sources.age(key, self.clock.now()) > QUANTIZE_STALE_SECONDS:
            return None
        return self.sources.get(key)

    def _quantized_go(self, now: float) -> None:
        """A waiting GO fires when the clock's phase wraps (the next beat or bar); with no live clock, or
        after a bar's worth of waiting at 30 BPM, at once: a dead clock never swallows a GO."""
        assert self._pending_go is not None
        pressed, before = self._pending_go
        phase = self._clock_phase()
        if phase is None or before is None or phase < before or now - pressed > QUANTIZE_MAX_WAIT:
            self._pending_go = None
            self.handle_key("go")
        else:
            self._pending_go = (pressed, phase)

    def handle_key(self, action: str) -> None:
        """Run an operator command now: quit, hud; with a show also go, stop, panic, reset, up, down.
        (Inputs post ``command`` events instead; the frame loop routes them here.)"""
        if action == "quit":
            self.running = False
        elif action == "hud":
            self.show_hud = not self.show_hud
        elif self.runner is not None:
            now = self.clock.now()
            operations = {"go": lambda: self.runner.go(now), "stop": lambda: self.runner.stop(now),
                          "panic": lambda: self.runner.panic(now), "reset": lambda: self.runner.reset(now),
                          "up": lambda: self.runner.move_playhead(-1), "down": lambda: self.runner.move_playhead(1)}
            if action in operations:
                self._note(operations[action](), level=logging.INFO)

    def set_chain(self, chain: tuple[str, ...]) -> None:
        """Replace the effect chain on every output (a show's ``shaders`` action)."""
        for output in self.outputs:
            output.compositor.chain = list(chain)

    def frame(self) -> None:
        """One display frame. Never raises: each stage (parameters, cues, walk, each output, polls) is
        guarded on its own, so a failure in one is reported (log, HUD) and the others go on; the screen keeps
        the last good generated frames."""
        now = self.clock.now()
        self._route_events(now)
        self._guard("parameters", self.params.advance, now)
        if self.modulator.modulations:
            self._guard("modulations", self._modulate, now)
        if self._pending_go is not None:
            self._guard("quantised go", self._quantized_go, now)
        values = self.params.modulated()
        if self._last_now is not None:
            self.walk_time += (now - self._last_now) * values["walk.speed"]
        self._last_now = now
        if self.runner is not None:
            self._guard("cues", self.runner.update, now, self.walk_time)
            values = self.params.modulated()  # fades changed parameters for this frame
            messages = self.runner.messages
            while messages:                  # the cue list's news (a clock cue, a takeover) for the HUD
                self._note(messages.popleft(), logging.INFO)
        request = self._guard("walk", self.source.frame_at, self.walk_time, values["gen.psi"])
        if request is not None and self.directions is not None:
            request = self._guard("directions", self._steer, request, values) or request
        if request is not None and self.chroma is not None:
            request = self._guard("chroma", self._chroma, request, values, now) or request
        if self.learner is not None:
            self._guard("learned directions", self._take_learned)
        if request is not None:
            self._shown_ws = request.ws
            self.worker.request(request)
        frames = self.worker.frames.snapshot()
        for source in self.layer_sources:
            self._guard(f"layer {source.name}", self._take_layer, source, now)
        overlay = self._guard("hud", self._overlay, now) if self.show_hud else None
        for i, output in enumerate(self.outputs):
            self._guard(f"output {i}", output.draw, now, frames, values, overlay, self.blend)
        if self.feedback:
            self._guard("feedback", self._offer_feedback, now, self.params.snapshot())
        if now - self._last_poll >= self.shader_poll_seconds:
            self._last_poll = now
            for i, output in enumerate(self.outputs):
                for message in self._guard(f"shaders {i}", output.poll_shaders) or []:
                    self._note(message)
            if self.show_watcher is not None:
                for message in self._guard("show reload", self.show_watcher.poll) or []:
                    self._note(message)
        if self.state_writer is not None and self.state_writer.due(now):
            self._guard("state", self._save_state, now)
        if self.heartbeat is not None:
            self.heartbeat.beat(now)
        self._measure(now)

    def _take_layer(self, source: LayerSource, now: float) -> None:
        """An image layer's newest picture (or its absence: the layer fades out) into every output."""
        got = source.layer()
        rgb, sequence = got if got is not None else (None, 0)
        for output in self.outputs:
            output.compositor.set_layer(source.name, rgb, sequence, now)

    def _steer(self, request: WalkFrame, values: dict[str, float]) -> WalkFrame:
        """The walk's W moved along the directions by their dir.* knobs, after truncation (on their layers)."""
        assert self.directions is not None
        alphas = {name: values.get(f"dir.{name}", 0.0) for name in self.directions.names}
        return dataclasses.replace(request, ws=self.directions.apply(request.ws, alphas))

    def _chroma(self, request: WalkFrame, values: dict[str, float], now: float) -> WalkFrame:
        """The walk's W pulled towards the chroma keyframes by ``react.chroma``, faded in while the chroma is
        heard and back out over a second when it is not (silence, a lost input)."""
        assert self.chroma is not None
        keys = [f"audio.chroma.{pc}" for pc in PITCH_CLASSES]
        heard = self.sources.age(keys[0], now) <= CHROMA_STALE_SECONDS
        weights = self.chroma.weights([self.sources.get(k) for k in keys]) if heard else None
        dt = 0.0 if self._chroma_time is None else min(max(now - self._chroma_time, 0.0), 1.0)
        self._chroma_time = now
        step = dt / CHROMA_STALE_SECONDS
        self._chroma_weight = min(1.0, self._chroma_weight + step) if weights is not None \
            else max(0.0, self._chroma_weight - step)
        if weights is not None:
            self._chroma_last = weights
        last = self._chroma_last
        if last is None or self._chroma_weight == 0.0:
            return request
        mix = self.chroma_amount * values.get("react.chroma", 1.0) * self._chroma_weight
        return dataclasses.replace(request, ws=self.chroma.apply(request.ws, last, mix, values["gen.psi"]))

    def _take_learned(self) -> None:
        """Directions the learner finished: they join the set, each as a dir.{name} knob."""
        assert self.learner is not None
        for name, found, message in self.learner.finished():
            if len(found):
                self.directions = found if self.directions is None else \
                    self.directions.joined(found, self.source.G.num_ws)
                if f"dir.{name}" not in self.params.keys():
                    self.params.declare(direction_spec(name))
            self._note(message.lstrip("! "), level=logging.WARNING if message.startswith("!") else logging.INFO)

    def _modulate(self, now: float) -> None:
        self.params.modulate(self.modulator.offsets(now, self.sources, self.params.spans()))

    def record(self, recorder: Recorder) -> None:
        """Start recording: every routed event from now on, the show at every reload, and the source of every
        effect and stage that runs now and of each one that reloads later (once per change, whatever the
        number of outputs), so a replay draws with exactly these shaders."""
        self.recorder = recorder
        recorded: dict[str, str] = {}

        def installed(name: str, text: str) -> None:
            if self.recorder is not None and recorded.get(name) != text:
                recorded[name] = text
                self.recorder.shader(self._last_now or 0.0, name, text)

        for output in self.outputs:
            for name, text in sorted(output.shaders.texts.items()):
                installed(name, text)
            output.shaders.on_install = installed

    # ---------------------------------------------------------------------------------- crash and resume
    def apply_show(self, show: Show | PreparedShow) -> str:
        """A reloaded show file takes over (through the watcher, between two frames)."""
        assert self.runner is not None
        message = self.runner.apply(show)
        self.show_sha256 = file_sha256(self.runner.show.path)
        for hook in self.on_show:
            hook(self)
        if self.recorder is not None:
            self.recorder.show(self._last_now or 0.0, self.runner.show.path, read_text(self.runner.show.path))
        return message

    def state(self, now: float) -> EngineState:
        """Where this run is: times, parameter values, the cue runner's place (see engine.state)."""
        return EngineState(show=self.runner.show.path if self.runner is not None else None,
                           show_sha256=self.show_sha256, engine_time=now, walk_time=self.walk_time,
                           params=self.params.snapshot(),
                           runner=self.runner.snapshot(now) if self.runner is not None else None)

    def _save_state(self, now: float) -> None:
        assert self.state_writer is not None
        self.state_writer.offer(self.state(now), now)

    def resume(self, state: EngineState) -> None:
        """Continue a run from its state file: walk position, parameter values, the running cues."""
        now = self.clock.now()
        self.walk_time = state.walk_time
        known = set(self.params.keys())
        for key, value in state.params.items():
            if key in known:
                self.params.set(key, value, immediate=True, source="resume")
        if self.runner is not None and state.runner is not None:
            self._note(self.runner.restore(state.runner, now, self.walk_time), level=logging.INFO)
        else:
            self._note(f"resumed at walk time {self.walk_time:.1f} s", level=logging.INFO)

    def _guard(self, stage: str, step: Callable[..., _T], *args: object) -> _T | None:
        """Run one stage of the frame; a failure is logged (rate-limited) and shown on the HUD, never raised."""
        try:
            return step(*args)
        except Exception as exc:  # a bad parameter, cue, walk or output must not stop the display
            message = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
            self.faults[stage] = (message, self._last_now or 0.0)
            _throttle.error(stage, "%s failed (the show goes on): %s", stage, message, exc_info=True)
            return None

    def run(self, duration: float | None = None, max_frames: int | None = None) -> LoopStats:
        """The main loop: events, one frame, present, pace. Returns the final statistics."""
        self.running = True
        if not self.worker.alive:
            self.worker.start()
        self.start_controllers()
        start = time.perf_counter()
        try:
            while self.running:
                tick = time.perf_counter()
                for output in self.outputs:
                    if isinstance(output, WindowOutput):
                        output.dispatch_events()
                if not self.running:
                    break
                self.frame()
                for output in self.outputs:
                    try:
                        output.present()
                    except Exception as exc:  # a window system hiccup must not end the show
                        self._note(f"present: {type(exc).__name__}: {exc}")
                if max_frames is not None and self.stats.display_frames >= max_frames:
                    break
                if duration is not None and time.perf_counter() - start >= duration:
                    break
                spare = 1.0 / self.max_fps - (time.perf_counter() - tick)
                if spare > 0:
                    time.sleep(spare)
        finally:
            self.running = False
            self.stop_controllers()
            self.worker.stop()
            if self.state_writer is not None:
                self._guard("state", self._save_state, self.clock.now())
        return self.stats

    def close(self) -> None:
        """Stop the generator and the state writer, close the outputs, then release what the builder
        handed over (``closers``: e.g. the offscreen GL context the outputs shared)."""
        self.worker.stop()
        if self.state_writer is not None:
            self.state_writer.stop()
        for output in self.outputs:
            output.close()
        if self.recorder is not None:
            self.recorder.close(self._last_now or 0.0)
            self.recorder = None
        for closer in self.closers:
            closer()
        self.closers.clear()

    # ------------------------------------------------------------------------------------------ reporting
    def _note(self, message: str, level: int = logging.WARNING) -> None:
        log.log(level, "%s", message)
        shown = ("! " if level >= logging.WARNING else "") + message
        self.messages = (self.messages + [shown])[-3:]

    def _measure(self, now: float) -> None:
        s = self.stats
        s.display_frames += 1
        elapsed = now - s._window_start
        if elapsed >= 1.0:
            s.display_fps = (s.display_frames - s._window_display) / elapsed
            s.generator_fps = (self.worker.status.frames - s._window_generated) / elapsed
            s._window_start, s._window_display, s._window_generated = now, s.display_frames, self.worker.status.frames
        latest = self.worker.frames.latest()
        if latest is not None:
            s.latency_ms = latest.latency * 1000

    def _overlay(self, now: float) -> np.ndarray:
        if self._hud is None or now - self._hud_time >= 0.25:
            s, status = self.stats, self.worker.status
            lines = [f"display {s.display_fps:5.1f} fps   generator {s.generator_fps:5.1f} fps",
                     f"latency {s.latency_ms:5.0f} ms   walk t {self.walk_time:7.2f} s",
                     f"{self.source.G.img_resolution}px {self.source.G.device.type} {self.source.G.precision}"
                     f"   errors {status.errors}"]
            if self.runner is not None:
                standby = self.runner.standby
                running = ", ".join(r.cue.id for r in self.runner.running) or "-"
                lines.append(f"standby {standby.label if standby else '(end)'}   running {running}")
            lines.extend(c.status()[:80] for c in self.controllers if c.name != "keyboard")
            live = self.sources.live(now)
            if live or self.modulator.modulations:
                lines.append("live: " + (", ".join(live) if live else "no sensor heard lately")[:74])
            if self.learning:
                lines.append(f"MIDI learn: move a control for {self.learning}")
            waiting = self.soft.waiting()
            if waiting:
                lines.append("catch up: " + ", ".join(key for _, key in waiting)[:70])
            lines.extend(sink.status()[:80] for sink in self.feedback if sink.status())
            recent = status.recent_error()
            if recent:
                lines.append("! generator: " + recent[:70])
            for stage, (message, at) in list(self.faults.items()):
                if now - at <= FAULT_SHOWN_SECONDS:
                    lines.append(f"! {stage}: {message[:70]}")
            for output in self.outputs:
                lines.extend("! " + m[:80] for m in output.compositor.errors.values())
            lines.extend(m[:80] for m in self.messages)
            # The HUD grows with the output (its text must read on a projector across a room): half-size text
            # and 560 px at 720 lines, in proportion above that.
            height = self.outputs[0].compositor.output_size[1] if self.outputs else 720
            grow = max(1.0, height / 720)
            self._hud, self._hud_time = hud_image(lines, scale=0.5 * grow, width=int(560 * grow)), now
        return self._hud
