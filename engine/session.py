"""The session: the one place that builds the engine from a configuration, for live and offline alike.

    config = SessionConfig(show="shows/demo.yaml", headless=True)
    session = Session(config).load()             # the model, the show (checked against it), the walk
    stats = session.live()                       # windows or offscreen, until quit or --duration
    stats = session.render("demo.mp4", RenderSettings(fps=30, duration=20))   # the same frames, offline

Both paths run the same per-frame step (:meth:`engine.live.LiveEngine.frame`): offline only swaps the wall
clock for a frame clock and the threaded generator for one that renders each request at once
(:class:`engine.worker.SyncWorker`), and draws without blending. So ``--fit``, ``--chain``, the show's cues
and effects, and input events (``--go-at`` is a list of GO events) give the same pictures live and offline,
and every default (effect chain, shader folder, fit) is defined here once.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from engine.defaults import (CAMERA_CHAIN, CAMERA_LAYER_DEFAULTS, DEFAULT_CHAIN, DEFAULT_FIT, DEFAULT_FPS, DEFAULT_LIVE_SIZE, FIT_MODES, SHIPPED_SHADERS,
                             SOFTWARE_GL_FPS)
from engine.inputs import InputEvent
from engine.latent.spec import Keyframe

if TYPE_CHECKING:
    from engine.live import LiveEngine, LoopStats
    from engine.models.networks import Generator
    from engine.recording import Recording
    from engine.render import RenderSettings, RenderStats
    from engine.show.model import Show
    from engine.video import FrameSink

log = logging.getLogger(__name__)


class SessionError(Exception):
    """Something the session cannot build; one line saying what and why."""


@dataclasses.dataclass(frozen=True)
class Replay:
    """What a recording replays: its input events (engine times in ``event.time``), the later show versions,
    and the later shader sources (engine time, effect name, text), which :meth:`Session.render` writes into
    ``workspace``: the folder of the recorded shaders the replay draws with."""

    events: tuple[InputEvent, ...]
    shows: tuple[tuple[float, Show], ...]
    shaders: tuple[tuple[float, str, str], ...] = ()
    workspace: tempfile.TemporaryDirectory[str] | None = None


@dataclasses.dataclass(frozen=True)
class WalkConfig:
    """The walk of a run without a show (a show brings its own)."""

    seeds: tuple[int, ...] | None = None         # None: 0-7 unless latents are given
    latents: tuple[str, ...] = ()
    latent_space: str = "w"
    class_index: int | None = None
    seconds_per_keyframe: float = 4.0
    interpolation: str = "cubic"
    easing: str = "linear"
    loop: bool = True
    psi: float = 0.7
    cutoff: int | None = None
    mix_seed: int | None = None
    mix_layers: tuple[int, int | None] = (4, None)
    noise_mode: str = "const"


@dataclasses.dataclass(frozen=True)
class SessionConfig:
    """Everything a run is built from (launch.py turns the command line into one of these)."""

    model: str = "default"
    device: str = "auto"
    precision: str = "auto"
    threads: int | None = None
    show: str | None = None
    walk: WalkConfig = WalkConfig()
    shaders: str = SHIPPED_SHADERS
    chain: tuple[str, ...] | None = None         # None: the show's chain (and its outputs'), else DEFAULT_CHAIN
    fit: str | None = None                       # None: each show output's fit, else DEFAULT_FIT
    size: tuple[int, int] | None = None
    outputs: tuple[dict[str, Any], ...] = ()     # per-output overrides (screen, size, region, fit, chain, fullscreen)
    headless: bool = False
    fullscreen: bool = False
    screen: int = 0
    hud: bool = False
    max_fps: float | None = None
    shader_budget_ms: float = 100.0
    state: str | None = None
    resume: bool = False
    heartbeat_fd: int | None = None
    record: str | None = None                    # --record FILE: the performance, for --replay
    generator: str = "auto"                      # thread / process / auto (a process where GL runs on the CPU)
    osc: tuple[str, int] | None = None           # --osc [HOST:]PORT: listen for OSC (else as the show's inputs say)
    osc_allow: tuple[str, ...] = ()              # --osc-allow: the only senders listened to (empty: any)
    osc_out: tuple[tuple[str, int], ...] = ()    # --osc-out HOST:PORT: feedback targets (else the show's)
    oscquery: bool = True                        # serve and advertise the namespace with OSC in (--no-oscquery)
    midi: tuple[str, ...] = ()                   # --midi PATTERN: MIDI input ports (else as the show's inputs say)
    link: bool = False                           # --link: join an Ableton Link session
    audio_in: str | None = None                  # --audio-in DEVICE: live audio input (name part, index, default)
    audio: str | None = None                     # --audio FILE: live, played and analysed; offline, the render's
                                                 # features and its sound track
    audio_rate: int | None = None                # --audio-rate, --audio-channels, --audio-block (else the show's)
    audio_channels: int | None = None
    audio_block: int | None = None
    av_offset: float | None = None               # --av-offset (s): the picture this much earlier than the sound;
                                                 # None: the show's (live), the features' latency (offline)
    camera: str | None = None                    # --camera INDEX|FILE|URL: the camera (else the show's)
    camera_model: str | None = None              # --camera-model PTH: its pix2pix model (else the show's)
    render_scale: float | None = None            # effects at this share of the output's pixels; None: live on
                                                 # software GL as render_scale_for says, else 1


class Session:
    """Builds and runs one configuration (see the module docstring)."""

    def __init__(self, config: SessionConfig) -> None:
        self.config = config
        self.G: Generator | None = None
        self._precision = config.precision       # as asked (the show's when the command line says auto)
        self.show: Show | None = None
        self.walker: Any = None
        self._direction_decls: tuple[Any, ...] = ()

    @classmethod
    def from_parts(cls, G: Generator, show: Show | None = None, walker: Any = None,
                   config: SessionConfig | None = None) -> Session:
        """A session over a model, a show or a walk already at hand (tests, benchmarks, libraries)."""
        session = cls(config or SessionConfig())
        session.G, session.show, session.walker = G, show, walker
        if show is None and walker is None:
            session.walker = session.build_walker()
        return session

    # ------------------------------------------------------------------------------------------ loading
    def load(self) -> Session:
        """The show (validated), the model, the model checks, the walk: everything before going live."""
        from engine.show.load import ShowLoadError, load_show
        c = self.config
        model, precision = c.model, c.precision
        if c.show is not None:
            try:
                self.show = load_show(c.show, shader_dir=c.shaders)
            except ShowLoadError as exc:
                raise SessionError("\n".join(str(e) for e in exc.errors)) from None
            model = self.show.model
            precision = self.show.precision if precision == "auto" else precision
        self._load_model(model, precision)
        if self.show is None:
            self.walker = self.build_walker()
        return self

    def _load_model(self, model: str, precision: str) -> None:
        """The model, then the show's checks against it (before anything goes live)."""
        self._precision = precision
        import torch

        from engine.models import ModelFileError, load_generator
        from engine.models.load import resolve_device
        from engine.show.model_checks import check_show_against_model
        c = self.config
        if c.threads:
            torch.set_num_threads(c.threads)
        try:
            resolve_device(c.device)
        except ValueError as exc:
            raise SessionError(f"--device {c.device[:40]}: {exc}") from None
        try:
            self.G = load_generator(model, device=c.device, precision=precision)
        except ModelFileError as exc:
            raise SessionError(str(exc)) from None
        except (ValueError, RuntimeError) as exc:
            raise SessionError(f"cannot load model {model!r}: {str(exc).splitlines()[0] if str(exc) else exc}") from None
        if self.show is not None:
            problems = check_show_against_model(self.show, self.G)
            if problems:
                raise SessionError("\n".join(str(p) for p in problems))

    def load_replay(self, recording: Recording, model: str | None = None) -> Replay:
        """Load what ``recording`` needs, as its live run had it: the recorded model (only another one when
        ``model`` names it), the show from its recorded text, the walk from its recorded settings. Returns the
        events (a show that starts by itself gets its GO at 0, as it did live) and the later show versions,
        for :meth:`render`."""
        from engine.recording import sha256_of
        from engine.show.load import ShowLoadError, engine_vocabulary, parse_show
        if model is None:
            model = recording.model
            if recording.model_sha256 is not None:
                if not os.path.isfile(model):
                    raise SessionError(f"{recording.path}: the recorded model {model} is missing; give --model to "
                                       "replay with another")
                if sha256_of(model) != recording.model_sha256:
                    raise SessionError(f"{recording.path}: the model file {model} changed since the recording; "
                                       "give --model to replay with it anyway")
        elif model != recording.model:
            log.warning("replaying with %s, not the recorded model %s", model, recording.model)
        workspace = self._recorded_shaders(recording)
        vocabulary = engine_vocabulary(self.config.shaders)
        versions: list[tuple[float, Show]] = []
        for t, path, text in recording.shows:
            try:
                versions.append((t, parse_show(text, path, vocabulary)))
            except ShowLoadError as exc:
                raise SessionError(f"{recording.path}: the show recorded at {t:.2f} s does not load here: "
                                   f"{exc.errors[0]}") from None
        walk = recording.settings.get("walk")
        walk_config = self.config.walk
        if versions:
            self.show = versions[0][1]
        elif isinstance(walk, dict):
            try:
                values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in walk.items()}
                walk_config = WalkConfig(**values)
            except TypeError as exc:
                raise SessionError(f"{recording.path}: the recorded walk settings do not fit ({exc})") from None
        # What the live run drew with, unless this replay says otherwise (--chain, --fit).
        chain, fit = recording.settings.get("chain"), recording.settings.get("fit")
        from engine.gl.glsl import is_shader_name
        if chain is not None and not (isinstance(chain, list) and len(chain) <= 16
                                      and all(isinstance(v, str) and is_shader_name(v) for v in chain)):
            raise SessionError(f"{recording.path}: the recorded chain is not a list of at most 16 effect names")
        self.config = dataclasses.replace(
            self.config, model=model, show=None, walk=walk_config,
            chain=self.config.chain if self.config.chain is not None or not isinstance(chain, list)
            else tuple(str(v) for v in chain),
            fit=self.config.fit if self.config.fit is not None or fit not in FIT_MODES else str(fit))
        self._load_model(model, self.show.precision if self.show is not None else self.config.precision)
        if self.show is None:
            self.walker = self.build_walker()
        events = [event for _, event in recording.events]
        if self.show is not None and self.show.autostart:
            events.insert(0, InputEvent(0.0, "autostart", "command", "go"))
        later = tuple(s for s in recording.shaders if s[0] > 0.0)
        return Replay(tuple(events), tuple(versions[1:]), later, workspace)

    def _recorded_shaders(self, recording: Recording) -> tempfile.TemporaryDirectory[str] | None:
        """A folder of the shaders the live run started with: the recorded texts over a copy of this
        session's shader folder (for anything the recording does not hold). None for a recording without
        shader texts (it replays with this session's folder)."""
        from engine.gl.glsl import is_shader_name
        if not recording.shaders:
            return None
        workspace = tempfile.TemporaryDirectory(prefix="latentstage-replay-")
        try:
            names = sorted(os.listdir(self.config.shaders))[:MAX_SHADER_FILES]
        except OSError:
            names = []
        for name in names:
            source = os.path.join(self.config.shaders, name)
            if name.endswith(".glsl") and is_shader_name(name[:-5]) and os.path.isfile(source):
                shutil.copyfile(source, os.path.join(workspace.name, name))
        for t, name, text in recording.shaders:
            if t <= 0.0:
                with open(os.path.join(workspace.name, f"{name}.glsl"), "w", encoding="utf-8") as f:
                    f.write(text)
        self.config = dataclasses.replace(self.config, shaders=workspace.name)
        return workspace

    def build_walker(self) -> Any:
        """The walk the configuration describes (latent files' keyframes first, then seeds)."""
        from engine.latent import LatentFileError, LatentWalker, StyleMix, WalkSettings, keyframes_from_file
        w = self.config.walk
        assert self.G is not None
        try:
            keyframes: list[Keyframe] = []
            for path in w.latents:
                keyframes.extend(dataclasses.replace(k, class_index=w.class_index)
                                 for k in keyframes_from_file(path, w.latent_space))  # type: ignore[arg-type]
            seeds = w.seeds if w.seeds is not None else (() if w.latents else tuple(range(8)))
            keyframes.extend(Keyframe(seed=s, class_index=w.class_index) for s in seeds)
            mix = None
            if w.mix_seed is not None:
                mix = StyleMix(Keyframe(seed=w.mix_seed, class_index=w.class_index), *w.mix_layers)
            settings = WalkSettings(
                keyframes=tuple(keyframes), seconds_per_keyframe=w.seconds_per_keyframe,
                interpolation=w.interpolation, easing=w.easing, loop=w.loop,  # type: ignore[arg-type]
                truncation_psi=w.psi, truncation_cutoff=w.cutoff, style_mix=mix,
                noise_mode=w.noise_mode)  # type: ignore[arg-type]
            return LatentWalker(self.G, settings)
        except (LatentFileError, ValueError) as exc:
            raise SessionError(str(exc)) from None

    # ------------------------------------------------------------------------------------------ outputs
    def output_specs(self, render_size: tuple[int, int] | None = None) -> list[Any]:
        """The outputs: the command line's, else the show's, else one; every default in one place. For a
        render, only the first output, at ``render_size``."""
        from engine.gl.outputs import OutputSpec
        c = self.config
        show = self.show
        base: dict[str, Any] = dict(size=c.size or DEFAULT_LIVE_SIZE, screen=c.screen, fullscreen=c.fullscreen,
                                    fit=c.fit or DEFAULT_FIT,
                                    chain=_first(c.chain, show.chain if show is not None else None,
                                                 CAMERA_CHAIN if self._camera_without_show() else DEFAULT_CHAIN))
        extras: list[dict[str, Any]] = [dict(o) for o in c.outputs] or [{}]
        if show is not None and not c.outputs:    # the show's outputs; the command line's fit and chain win
            extras = [{"size": c.size or o.size, "screen": o.screen, "fullscreen": o.fullscreen or c.fullscreen,
                       "region": o.region, "fit": c.fit or o.fit, "chain": _first(c.chain, o.chain, show.chain)}
                      for o in show.outputs]
        if render_size is not None:
            extras = extras[:1]
            extras[0] = {**extras[0], "size": render_size, "screen": 0, "fullscreen": False}
        try:
            return [OutputSpec(**{**base, **extra}) for extra in extras]
        except (TypeError, ValueError) as exc:
            raise SessionError(f"bad output: {exc}") from None

    def _engine(self, outputs: Sequence[Any], params: Any, worker: Any, clock: Any, max_fps: float,
                controllers: Sequence[Any] = ()) -> LiveEngine:
        from engine.live import LiveEngine
        from engine.show.cues import seconds_since_midnight
        runner = None
        source = self.walker
        if self.show is not None:
            from engine.show import ShowRunner
            assert self.G is not None
            offline = clock is not None          # a frame clock: the time of day means nothing there
            runner = ShowRunner(self.show, self.G, params,
                                time_of_day=(lambda: -1.0) if offline else seconds_since_midnight)
            source = runner
        engine = LiveEngine(source, worker, outputs, params, clock=clock, max_fps=max_fps, runner=runner,
                            controllers=controllers)
        if runner is not None:
            runner.on_chain = engine.set_chain
        self._tune_engine(engine)
        engine.on_show.append(self._tune_engine)
        return engine

    # ---------------------------------------------------------------------------------------------- live
    def live(self, duration: float | None = None) -> LoopStats:
        """Run live in windows (or offscreen when headless) until quit or ``duration``."""
        import signal
        import threading
        engine = self.open_live()
        try:
            if threading.current_thread() is threading.main_thread():  # systemd's stop: quit cleanly, exit 0
                signal.signal(signal.SIGTERM, lambda number, frame: engine.handle_key("quit"))
            return engine.run(duration=duration)
        finally:
            engine.close()

    def open_live(self) -> LiveEngine:
        """The live engine, built and wired but not running (benchmarks drive its frames themselves);
        ``close()`` it when done."""
        from controllers import Keyboard
        from engine.gl.outputs import HeadlessOutput, WindowOutput, is_software_gl, shared_egl_context
        from engine.live import ShowWatcher
        from engine.state import Heartbeat, StateWriter, default_state_path, read_state
        c = self.config
        assert self.G is not None
        params = self._params()
        specs = self.output_specs()
        outputs: list[Any] = []
        ctx = None
        try:
            if c.headless:
                ctx = shared_egl_context()
                outputs = [HeadlessOutput(ctx, c.shaders, params, spec, shader_budget_ms=c.shader_budget_ms)
                           for spec in specs]
            else:
                # One vsync'd window paces the loop; the others flip without waiting (see WindowOutput).
                outputs = [WindowOutput(c.shaders, params, spec, vsync=i == 0, shader_budget_ms=c.shader_budget_ms)
                           for i, spec in enumerate(specs)]
            self._scale_outputs(outputs, is_software_gl(outputs[0].ctx))
            max_fps = c.max_fps
            if max_fps is None:
                max_fps = SOFTWARE_GL_FPS if is_software_gl(outputs[0].ctx) else DEFAULT_FPS
                if max_fps == SOFTWARE_GL_FPS:
                    log.warning("OpenGL runs on the CPU here (%s): display capped at 30 fps to leave the generator "
                                "room; --max-fps overrides", outputs[0].ctx.info.get("GL_RENDERER"))
            keyboard = Keyboard(**self._controller_options("keyboard"))
            controllers: list[Any] = [keyboard, *self._osc(), *self._midi(params), *self._link(), *self._audio(),
                                      *self._camera()]
            engine = self._engine(outputs, params, self._producer(is_software_gl(outputs[0].ctx)), None, max_fps,
                                  controllers=controllers)
        except BaseException:
            for output in outputs:
                output.close()
            if ctx is not None:
                ctx.release()
            raise
        if ctx is not None:
            engine.closers.append(ctx.release)
        try:
            show = self.show
            if engine.runner is not None and show is not None:
                from engine.show.model_checks import load_show_for_model
                runner, G = engine.runner, self.G
                # On the reload thread: validated against the model too, and every walk resolved there.
                engine.show_watcher = ShowWatcher(
                    show.path, lambda p: runner.prepare(load_show_for_model(p, G, c.shaders)), engine.apply_show)
            state_path = c.state or (default_state_path(show.path if show else None) if c.resume else None)
            if state_path:
                try:
                    engine.state_writer = StateWriter(state_path).start()
                except OSError as exc:  # the show runs anyway; it just cannot be resumed after a crash
                    log.error("%s: cannot keep a state file there (%s); a restart will start the show from the top",
                              state_path, exc.strerror or exc)
            if c.heartbeat_fd is not None:
                try:
                    engine.heartbeat = Heartbeat(c.heartbeat_fd)
                except OSError as exc:
                    raise SessionError(f"--heartbeat-fd {c.heartbeat_fd}: {exc.strerror or exc}") from None
            resumed = read_state(state_path, show.path if show else None) if c.resume and state_path else None
            if resumed is not None:
                engine.resume(resumed)
            elif engine.runner is not None and show is not None and show.autostart:
                engine.handle_key("go")
            for output in outputs:
                if isinstance(output, WindowOutput):
                    output.on_key = keyboard.press
                    output.on_close = _quit_event(engine)
            engine.show_hud = c.hud
            if c.record is not None:
                self._start_recording(engine, c.record)
            engine.feedback.extend(self._feedback(engine.controllers, engine.params,
                                                  lambda: engine.runner.show if engine.runner else self.show))
            return engine
        except BaseException:
            engine.close()
            raise

    # ------------------------------------------------------------------------------------------- offline
    def render_plan(self, settings: RenderSettings, go_at: Sequence[float] | None = None) -> tuple[tuple[int, int], int]:
        """The size and the number of frames a render of this session makes."""
        from engine.show.render import show_length
        assert self.G is not None
        size = settings.size or (self.show.outputs[0].size if self.show is not None
                                 else (self.G.img_resolution, self.G.img_resolution))
        length = show_length(self.show, go_at) if self.show is not None else self.walker.settings.duration
        path = self.audio_file()
        if path is not None and settings.duration is None and settings.frames is None:
            from controllers.audio.files import AudioFileError, probe
            try:
                length = probe(path).duration          # a render with a sound track lasts as long as it
            except AudioFileError as exc:
                raise SessionError(str(exc)) from None
        return size, settings.frame_count(length)

    def render(self, output: str | FrameSink, settings: RenderSettings, go_at: Sequence[float] | None = None,
               progress: Callable[[int], None] | None = None, replay: Replay | None = None) -> RenderStats:
        """Render offline through the live loop's frame step, on a frame clock: frame ``i`` is engine time
        ``i / fps``. GOs (``go_at``; by default one at 0 for a show, none for a replay, whose events hold its
        GOs) and a replay's events are input events routed at the first frame at or after their times; its
        show versions are taken at theirs."""
        from engine.clock import FrameClock
        from engine.generate import FrameSynthesizer
        from engine.gl.outputs import HeadlessOutput, is_software_gl, shared_egl_context
        from engine.render import render_frames
        from engine.show.render import OFFLINE_SHADER_BUDGET_MS
        from engine.worker import SyncWorker
        from controllers.audio.features import frame_events
        assert self.G is not None
        size, total = self.render_plan(settings, go_at)
        # The sound and the camera first: a file that cannot be used is refused before any GL is made. A
        # replay's events already hold the features its live run heard: its --audio is only the sound track.
        audio = self._audio_frames(settings.fps, total) if replay is None else None
        camera = self._offline_camera(settings.fps)
        params = self._params()
        ctx = shared_egl_context()
        spec = dataclasses.replace(self.output_specs(render_size=size)[0], render_scale=self.config.render_scale or 1.0)
        out = HeadlessOutput(ctx, self.config.shaders, params, spec, shader_budget_ms=OFFLINE_SHADER_BUDGET_MS)
        self._tune(reserved=(1 if is_software_gl(ctx) else 0) + 1)    # + the encoder (or the PNG writer)
        clock = FrameClock(settings.fps)
        engine = self._engine([out], params, SyncWorker(FrameSynthesizer(self.G)), clock, settings.fps)
        engine.blend = False                     # one generated frame per output frame
        engine.shader_poll_seconds = math.inf    # a file saved during a render must not change it halfway
        default_gos = [0.0] if self.show is not None and replay is None else []
        gos = sorted(go_at if go_at is not None else default_gos)
        pending = sorted([InputEvent(t, "render", "command", "go") for t in gos]
                         + list(replay.events if replay is not None else ()), key=lambda e: e.time)
        shows = sorted(replay.shows if replay is not None else (), key=lambda r: r[0])
        shaders = sorted(replay.shaders if replay is not None else (), key=lambda r: r[0])
        if camera is not None:
            engine.layer_sources.append(camera)

        def produce(i: int, t: float) -> Any:
            clock.frame = i
            if camera is not None:               # the camera file's frame for this time, as live would see it
                for event in camera.step(i, t):
                    engine.post(event)
            if audio is not None:                # what the live analysis would have posted by this frame
                heard = next(audio)              # only a frame that got a new hop posts its values: after
                values = heard.values if heard.fresh else None      # the track, its sources go stale
                for event in frame_events(heard.names, values, heard.onset, heard.beat, t):
                    engine.post(event)
            # Live, a reload recorded at engine time T was taken after that frame's draw: here, from the next.
            while shows and shows[0][0] < t - 1e-9 and engine.runner is not None:
                engine.apply_show(engine.runner.prepare(shows.pop(0)[1]))
            changed = False
            while shaders and shaders[0][0] < t - 1e-9 and replay is not None and replay.workspace is not None:
                _, name, text = shaders.pop(0)
                _write_shader(replay.workspace.name, name, text)
                changed = True
            if changed:
                _reload_shaders(out)
            while pending and pending[0].time <= t + 1e-9:
                engine.post(pending.pop(0))
            engine.frame()
            if engine.faults:                    # offline, a failing stage is an error, not a glitch to hide
                stage, (message, _) = next(iter(engine.faults.items()))
                raise RuntimeError(f"{stage}: {message}")
            return out.read()

        try:
            stats = render_frames(produce, total, output, size, settings, progress)
        finally:
            out.close()
            ctx.release()
            if camera is not None:
                camera.close()
        path = self.audio_file()
        if path is not None and isinstance(output, str):
            from engine.video import check_output_path, mux_audio
            if check_output_path(output) == "video":
                mux_audio(output, path, total / settings.fps)
            else:
                log.warning("%s: a PNG sequence has no sound track; %s is not in it", output, path)
        return stats

    def _offline_camera(self, fps: float) -> Any:
        """Offline: the camera must be a video file, read by time (controllers.camera.offline)."""
        from controllers.camera.offline import OfflineCamera
        built = self._camera_pipeline()
        if built is None:
            return None
        pipeline, options = built
        source = options["source"]
        if not isinstance(source, str) or "://" in source or source.isdigit():
            raise SessionError(f"camera {source}: a render reads the camera from a video file (--camera FILE)")
        try:
            return OfflineCamera(source, pipeline, float(options.get("model_fps") or 10.0), fps)
        except ValueError as exc:
            raise SessionError(f"camera: {exc}") from None

    def _audio_frames(self, fps: float, total: int) -> Iterator[Any] | None:
        """Offline: the features each video frame sees (controllers.audio.features.per_video_frame), moved
        earlier by --av-offset, else by the features' latency so that reactions land on the sound."""
        from controllers.audio.analysis import AnalysisSettings, DEFAULT_AV_OFFSET
        from controllers.audio.features import per_video_frame
        from controllers.audio.files import AudioFileError, analyse_file, probe
        path = self.audio_file()
        if path is None:
            return None
        try:
            info = probe(path)
            settings = AnalysisSettings(samplerate=info.samplerate, **self._audio_options().get("analysis", {}))
        except (AudioFileError, ValueError) as exc:
            raise SessionError(str(exc)) from None
        offset = self.config.av_offset if self.config.av_offset is not None else DEFAULT_AV_OFFSET
        block = int(self.config.audio_block or self._audio_options().get("block") or 1024)
        return per_video_frame(analyse_file(info, settings, block), fps, offset, count=total)


    def _params(self) -> Any:
        """The parameter store of a run: the engine's, and those of every effect in the shader folder (as
        show validation knows them), so a show may set or fade an effect that is not in the chain yet."""
        from engine.params import engine_params
        from engine.show.load import engine_vocabulary
        params = engine_params()
        for spec in engine_vocabulary(self.config.shaders).params.values():
            params.declare(spec)
        if self._camera_without_show():       # its defaults, so a reset or a panic keeps the camera in view
            for name, value in CAMERA_LAYER_DEFAULTS.items():
                if name in params.keys():
                    params.declare(dataclasses.replace(params.spec(name), default=value))
                    params.set(name, value, immediate=True)
        return params

    def _camera_without_show(self) -> bool:
        """``--camera`` with no show and no ``--chain``: the camera layer joins the default chain, visibly."""
        return self.config.camera is not None and self.show is None and self.config.chain is None

    def _producer(self, software_gl: bool) -> Any:
        """The generator worker for a live run: a child process where GL renders on the CPU (torch and GL
        would otherwise share the cores and the GIL), a thread otherwise; ``generator`` forces one."""
        import torch

        from engine.generate import FrameSynthesizer
        from engine.worker import GeneratorWorker
        assert self.G is not None
        choice = self.config.generator
        if choice == "auto":
            choice = "process" if software_gl and self.G.device.type == "cpu" else "thread"
        if choice == "thread":
            self._tune(reserved=1 if software_gl else 0)
            return GeneratorWorker(FrameSynthesizer(self.G))
        from engine.process_worker import ProcessWorker
        threads, precision = self._tune(reserved=1 if software_gl else 0, apply=False)
        torch.set_num_threads(1)                                     # the parent only maps seeds now
        log.info("generator in its own process")
        return ProcessWorker(self.G, model=self._model_name(), device=self.G.device.type, precision=precision,
                             threads=threads)

    def _controller_options(self, name: str) -> dict[str, Any]:
        """A controller's options from the show's ``inputs:`` section (validated when the show loaded)."""
        options = self.show.inputs.get(name) if self.show is not None else None
        return dict(options) if isinstance(options, dict) else {}

    def _osc(self) -> list[Any]:
        """OSC in, when the command line or the show's ``inputs: osc:`` asks for it (the command line wins)."""
        from controllers import OscInput
        from controllers.osc import DEFAULT_HOST, DEFAULT_PORT
        options = self._controller_options("osc")
        if self.config.osc is None and not options:
            return []
        host, port = self.config.osc if self.config.osc is not None else (
            str(options.get("host") or DEFAULT_HOST), int(options.get("port", DEFAULT_PORT)))  # type: ignore[call-overload]
        allow = self.config.osc_allow or tuple(options.get("allow", ()))  # type: ignore[call-overload]
        mappings = [dict(m) for m in options.get("map", ())]  # type: ignore[attr-defined]
        sensors = list(options.get("sensors", ()))  # type: ignore[call-overload]
        return [OscInput(port=port, host=host, allow=allow, mappings=mappings, sensors=sensors)]

    def _midi(self, params: Any) -> list[Any]:
        """MIDI in, when the command line (--midi PATTERN) or the show's ``inputs: midi:`` asks for it."""
        from controllers.midi import MidiInput, learned_entry
        from controllers.midi_map import load_device
        options = self._controller_options("midi")
        if not self.config.midi and not options:
            return []
        device = load_device(str(options["device"])) if options.get("device") else None
        ports = list(self.config.midi) or list(options.get("ports", ())) or ["*"]  # type: ignore[call-overload]
        show = self.show

        def write_learned(binding: Any) -> None:         # on the MIDI thread: the file, then the reload
            from engine.show.write_back import add_midi_mapping
            assert show is not None
            log.info("MIDI learn: %s", add_midi_mapping(show.path, learned_entry(binding, device), self.config.shaders))
        on_learn = write_learned if show is not None else None
        return [MidiInput(ports=ports, bindings=options.get("map", ()),  # type: ignore[arg-type]
                          clock=bool(options.get("clock", False)), device=options.get("device"),  # type: ignore[arg-type]
                          on_learn=on_learn, hello=device.hello if device is not None else (),
                          range_of=lambda key: (params.spec(key).minimum, params.spec(key).maximum))]

    def _link(self) -> list[Any]:
        """Ableton Link, when the command line (--link) or the show's ``inputs: link:`` asks for it."""
        from controllers.link import LinkInput
        options = self._controller_options("link")
        if not self.config.link and not options:
            return []
        return [LinkInput(bpm=float(options.get("bpm", 120.0)), quantum=int(options.get("quantum", 4)))]  # type: ignore[call-overload, arg-type]

    def _audio_options(self) -> dict[str, Any]:
        return self._controller_options("audio")

    def audio_file(self) -> str | None:
        """The file the audio comes from: --audio, else the show's ``inputs: audio: file:`` (unless --audio-in
        asks for a live input instead)."""
        if self.config.audio is not None:
            return self.config.audio
        return None if self.config.audio_in is not None else self._audio_options().get("file")

    def _audio(self) -> list[Any]:
        """Live audio, when the command line (--audio-in, --audio) or the show's ``inputs: audio:`` asks for
        it: a device's input, or a file played and analysed. The command line wins."""
        from controllers.audio.live import AudioInput, FilePlayback
        c, options = self.config, self._audio_options()
        analysis = dict(options.get("analysis", {}))
        offset = c.av_offset if c.av_offset is not None else float(options.get("offset") or 0.0)
        block = int(c.audio_block or options.get("block") or 1024)
        path = self.audio_file()
        if path is not None:
            return [FilePlayback(path, block=block, play=bool(options.get("play", True)),
                                 loop=bool(options.get("loop", False)), settings=analysis, offset=offset)]
        device = c.audio_in if c.audio_in is not None else options.get("device")
        if device is None:
            return []
        return [AudioInput(device=None if device == "default" else device,
                           samplerate=c.audio_rate or options.get("samplerate"),
                           channels=int(c.audio_channels or options.get("channels") or 1), block=block,
                           settings=analysis, offset=offset)]

    def _camera_pipeline(self) -> tuple[Any, dict[str, Any]] | None:
        """The camera's source and pipeline, from --camera and the show's ``inputs: camera:`` (None: no camera)."""
        from controllers.camera.pipeline import CameraPipeline
        options = self._controller_options("camera")
        source = self.config.camera if self.config.camera is not None else options.get("source")
        if source is None:
            if self.config.camera_model is not None:
                raise SessionError("--camera-model: no camera to run it on (give --camera, or a show with "
                                   "inputs: camera:)")
            return None
        own = self.config.camera_model is None           # --camera-model: every option read from its file
        pipeline = CameraPipeline(options.get("preprocess"),
                                  model=options.get("model") if own else self.config.camera_model,
                                  model_options=options.get("model_options") if own else None,
                                  smoothing=float(options.get("smoothing") or 0.0))
        return pipeline, {**options, "source": source}   # --camera wins over the show's

    def _camera(self) -> list[Any]:
        """The camera, live: its features as camera.* sources and its picture as the camera layer."""
        from controllers.camera.live import CameraInput
        built = self._camera_pipeline()
        if built is None:
            return []
        pipeline, options = built
        try:
            return [CameraInput(options["source"], pipeline, model_fps=float(options.get("model_fps") or 10.0),
                                size=options.get("size"), fps=options.get("fps"))]
        except ValueError as exc:
            raise SessionError(f"camera: {exc}") from None

    def _tune_engine(self, engine: LiveEngine) -> None:
        """The show's engine-side inputs: takeover mode, modulations, quantised GO (again at every reload)."""
        from controllers.midi import MidiInput
        from controllers.osc import OscInput
        from engine.inputs import SoftTakeover
        from engine.params import direction_spec
        from engine.latent.chroma import ChromaKeyframes
        from engine.sources import Modulator, Triggers
        show = self.show if engine.runner is None else engine.runner.show
        inputs = show.inputs if show is not None else {}
        midi: Any = inputs.get("midi") if isinstance(inputs.get("midi"), dict) else {}
        takeover = str(midi.get("takeover") or "pickup")
        if engine.soft.mode != takeover:                   # unchanged: faders keep what they have caught
            engine.soft = SoftTakeover(takeover)
        audio: Any = inputs.get("audio") if isinstance(inputs.get("audio"), dict) else {}
        modulations = list(inputs.get("modulate", ())) + list(audio.get("modulate", ()))  # type: ignore[call-overload]
        if engine.modulator.modulations != modulations:    # unchanged: modulations keep their weights
            engine.modulator = Modulator(modulations)
        triggers = list(audio.get("triggers", ()))
        if engine.triggers.triggers != triggers:           # unchanged: the beat count goes on
            engine.triggers = Triggers(triggers)
        chroma = audio.get("chroma")
        if chroma is None:
            engine.chroma, engine.chroma_amount = None, 0.0
        else:
            seeds, engine.chroma_amount = chroma
            if engine.chroma is None or engine.chroma.seeds != seeds:
                assert self.G is not None
                engine.chroma = ChromaKeyframes(self.G, seeds)
        quantize = inputs.get("quantize")
        engine.quantize = quantize if isinstance(quantize, tuple) else None
        decls = show.directions if show is not None else ()
        if engine.directions is None or decls != self._direction_decls:
            try:
                engine.directions = self._directions(decls)
            except ValueError as exc:                      # a direction file that does not fit the model
                if engine.directions is None:
                    raise SessionError(str(exc)) from None
                log.error("directions not changed, the show goes on: %s", exc)
        for name in engine.directions.names:               # the model's own and the show's: all knobs
            if f"dir.{name}" not in engine.params.keys():
                engine.params.declare(direction_spec(name))
        osc: Any = inputs.get("osc") if isinstance(inputs.get("osc"), dict) else {}
        for controller in engine.controllers:              # mappings follow the file; ports stay open
            if isinstance(controller, MidiInput) and controller.decoder.bindings != list(midi.get("map", ())):
                controller.rebind(midi.get("map", ()))
            elif isinstance(controller, OscInput):
                controller.remap([dict(m) for m in osc.get("map", ())], osc.get("sensors", ()))

    def _directions(self, decls: Any) -> Any:
        """The model's SeFa directions and the show's (engine.latent.direction_files.directions_for)."""
        from engine.latent.direction_files import directions_for
        assert self.G is not None
        self._direction_decls = tuple(decls)
        return directions_for(self.G, decls)

    def _feedback(self, controllers: Sequence[Any], params: Any, show: Callable[[], Show | None]) -> list[Any]:
        """OSC out to the command line's targets, else to the show's ``inputs: osc: {out: [...]}``; the state
        OSC in answers queries from (its replies go to those targets too, else to each sender) and OSCQuery;
        and the state MIDI follows (LEDs, learn)."""
        from controllers.base import FeedbackTap
        from controllers.midi import MidiInput
        from controllers.osc import OscInput, OscQueries, parse_endpoint
        from controllers.oscquery import OscQueryServer
        from controllers.osc_out import OscFeedback
        from engine.catalog import show_sources
        targets = list(self.config.osc_out)
        if not targets:
            targets = [parse_endpoint(t) for t in self._controller_options("osc").get("out", ())]
        sinks: list[Any] = [OscFeedback(targets)] if targets else []
        for controller in controllers:
            if isinstance(controller, MidiInput):
                sinks.append(FeedbackTap(controller))
            if isinstance(controller, OscInput):
                controller.reply_to = list(targets)
                sinks.append(OscQueries(controller))
                if self.config.oscquery:       # on the OSC port's number, over TCP (started after OSC binds)
                    sinks.append(OscQueryServer(params.specs, _port_of(controller), host=controller.host,
                                                sources=lambda: show_sources(show())))
        return sinks

    def _scale_outputs(self, outputs: Sequence[Any], software_gl: bool) -> None:
        """Live, where GL renders on the CPU, the effects run at the render scale that keeps about two work
        pixels per model pixel (engine.gl.outputs.render_scale_for); --render-scale sets it everywhere."""
        from engine.gl.outputs import render_scale_for
        assert self.G is not None
        for output in outputs:
            scale = self.config.render_scale
            if scale is None:
                scale = render_scale_for(output.compositor.output_size, output.spec.fit, self.G.img_resolution) \
                    if software_gl else 1.0
            if scale < 1.0 and self.config.render_scale is None:
                w, h = output.compositor.output_size
                log.info("effects drawn at %.2f of %dx%d (software GL; --render-scale 1 for full size)", scale, w, h)
            output.set_render_scale(scale)

    def _model_name(self) -> str:
        return self.show.model if self.show is not None else self.config.model

    def _tune(self, reserved: int, apply: bool = True) -> tuple[int, str]:
        """Threads and precision for the generator (engine.tuning): measured on the CPU unless --threads
        (and --precision) say; ``reserved`` cores are kept for software GL and the encoder. Applied to this
        process's generator when ``apply`` (a thread or in-line producer)."""
        import torch

        from engine.tuning import plan_cpu
        assert self.G is not None
        if self.G.device.type != "cpu":
            return torch.get_num_threads(), self.G.precision
        precision: str = self.G.precision
        if self.config.threads:
            threads = self.config.threads
        else:
            plan = plan_cpu(self.G, self._model_name(), reserved, self._precision)
            log.info("generator: %s", plan.reason)
            threads, precision = plan.threads, plan.precision
        if apply:
            torch.set_num_threads(threads)
            self.G.set_precision(precision)  # type: ignore[arg-type]
        return threads, precision

    def _start_recording(self, engine: LiveEngine, path: str) -> None:
        from engine.recording import Recorder, read_text
        c = self.config
        model = self.show.model if self.show is not None else c.model
        settings: dict[str, Any] = {"walk": dataclasses.asdict(c.walk),
                                    "chain": list(c.chain) if c.chain is not None else None, "fit": c.fit,
                                    "size": list(c.size) if c.size else None, "shaders": c.shaders,
                                    "precision": c.precision, "max_fps": engine.max_fps}
        try:
            recorder = Recorder(path, model=model, settings=settings)
        except OSError as exc:
            raise SessionError(f"--record {path}: cannot write there ({exc.strerror or exc})") from None
        if self.show is not None:
            recorder.show(0.0, self.show.path, read_text(self.show.path))
        engine.record(recorder)


MAX_SHADER_FILES = 256


def _write_shader(folder: str, name: str, text: str) -> None:
    """Save a recorded shader source as the next version of its file (its time moves on, so it is seen)."""
    path = os.path.join(folder, f"{name}.glsl")
    previous = os.stat(path).st_mtime if os.path.exists(path) else 0.0
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    stamp = max(previous + 1.0, time.time())
    os.utime(path, (stamp, stamp))


def _reload_shaders(output: Any) -> None:
    """Offline: take the shaders just written, waiting for the probe (live, the display never waits)."""
    for message in output.poll_shaders():
        log.warning("%s", message)
    while output.shaders.pending:
        time.sleep(0.005)
        for message in output.poll_shaders():
            log.warning("%s", message)


def _port_of(osc: Any) -> Callable[[], int]:
    """The port an OSC controller got (known once it has started: port 0 asks the system for one)."""
    return lambda: int(osc.port)


def _first(*chains: tuple[str, ...] | None) -> tuple[str, ...]:
    """The first chain that is given (an empty one is given: no effects)."""
    return next((chain for chain in chains if chain is not None), DEFAULT_CHAIN)


def _quit_event(engine: LiveEngine) -> Callable[[], None]:
    def post_quit() -> None:
        engine.post(InputEvent(engine.clock.now(), "window", "command", "quit"))
    return post_quit
