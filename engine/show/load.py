"""Show files: YAML in, a validated :class:`~engine.show.model.Show` out — or every error at once.

The YAML is composed into nodes (which remember their line and column) and walked with the show's schema, so
each problem is reported as ``file:line:column: CODE what was found, what was expected`` before anything goes
live. All errors of a file are collected, not just the first.

    show = load_show("shows/demo.yaml")
    [cue.id for cue in show.cues]   # ['1', '2', '3']

Codes: E001 unknown key, E002 duplicate cue id, E003 undefined parameter, E004 undefined cue, E005 value out of
range, E006 negative time, E007 follow on an open-ended cue, E008 zero-time continue cycle, E009 unknown curve,
E010 unknown action, E011 wrong type, E012 missing key, E013 unsupported format, E014 YAML syntax (or a file that
is too large, too deeply nested or expands too far), E015 unknown shader, E016 bad value, E017 does not fit the
model (found once the model is loaded, before the show goes live: :mod:`engine.show.model_checks`).

Show files are untrusted: everything is bounded before it is used (file size, nesting, alias expansion, seed
ranges, times, values, output sizes), the cross-cue checks are linear in the number of cues, and nothing in the
file is ever run.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
import stat
from collections.abc import Callable, Iterable
from typing import Any

import yaml
from yaml import Node

from engine.latent.files import LatentFileError, read_latents
from engine.show.yaml_nodes import MAX_SHOW_BYTES, YamlProblem, clip as _clip, compose_bounded, kind_of as _kind

from engine.defaults import DEFAULT_CHAIN, FIT_MODES
from engine.latent.spec import EASINGS, INTERPOLATIONS, SECONDS_PER_KEYFRAME, Keyframe
from engine.models.config import NOISE_MODES
from engine.params import ENGINE_PARAMS, PARAM_CURVES, ParamSpec
from engine.show import load_audio, load_camera, load_inputs
from engine.show.curves import CURVES
from engine.show.model import (CONTINUE_MODES, Action, Cue, DirectionDecl, FadeAction, GotoAction, OutputConfig, ParamDecl,
                               ShadersAction, Show, WalkAction, is_cue_id)

FORMAT_VERSION = 1
MAX_ERRORS = 500                 # errors listed for one file (a broken 10,000-cue file would list 10,000)
MAX_HINTS = 50                   # "did you mean" suggestions computed per file (each compares against all names)
MIN_TIME, MAX_TIME = 0.001, 1e6  # seconds: a time is 0 or in this range (a millisecond to 11.6 days)
MAX_VALUE = 1e9                  # bound on every number a show file gives a parameter (ranges, values)
MAX_OUTPUT_SIDE = 8192
MIN_REGION = 0.001
MAX_SEED = 2 ** 32 - 1
MAX_WALK_KEYFRAMES = 10_000
MAX_SHOW_KEYFRAMES = 100_000     # keyframes in all the walks of one file
MAX_OUTPUTS = 16
MAX_CHAIN = 16                   # effects in one chain (each is a full-screen pass per frame)
_TIME_OF_DAY = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?$")


@dataclasses.dataclass(frozen=True)
class ShowError:
    path: str
    line: int
    column: int
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}: {self.code} {self.message}"


class ShowLoadError(Exception):
    """A show file with errors; ``errors`` lists them all, ``str()`` gives one per line."""

    def __init__(self, errors: list[ShowError]) -> None:
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = errors


@dataclasses.dataclass(frozen=True)
class Vocabulary:
    """What a show may refer to besides its own declarations: engine parameters and shader effects."""

    params: dict[str, ParamSpec]
    shaders: tuple[str, ...]


def engine_vocabulary(shader_dir: str) -> Vocabulary:
    """Engine parameters plus the effects (and their parameters) found in ``shader_dir``."""
    from engine.gl.glsl import RESERVED_GROUPS, ShaderCompileError, parse_params
    params = {p.key: p for p in ENGINE_PARAMS}
    shaders = []
    for name in sorted(os.listdir(shader_dir)) if os.path.isdir(shader_dir) else []:
        stem, ext = os.path.splitext(name)
        if ext != ".glsl" or stem in ("blend", "hud") or stem in RESERVED_GROUPS:
            continue  # the compositor's own stages, and files that would redeclare engine parameters
        path = os.path.join(shader_dir, name)
        try:
            with open(path, encoding="utf-8") as f:
                specs = parse_params(stem, path, f.read())
        except (OSError, UnicodeDecodeError, ShaderCompileError):
            continue  # reported by the shader library when the effect is used
        shaders.append(stem)
        params.update({p.key: p for p in specs})
    return Vocabulary(params=params, shaders=tuple(shaders))


class _Reader:
    def __init__(self, path: str, vocabulary: Vocabulary) -> None:
        self.path = path
        self.vocab = vocabulary
        self.errors: list[ShowError] = []
        self.dropped = 0                          # errors beyond MAX_ERRORS, counted
        self.declared: dict[str, ParamDecl] = {}
        self._hints = MAX_HINTS
        self._keyframes_left = MAX_SHOW_KEYFRAMES
        self.pending_cues: list[tuple[str, Node, str]] = []   # cue ids named before the cues were read

    # ------------------------------------------------------------------------------------------ primitives
    def error(self, node: Node | None, code: str, message: str) -> None:
        if len(self.errors) >= MAX_ERRORS:
            self.dropped += 1
            return
        mark = node.start_mark if node is not None else None
        self.errors.append(ShowError(self.path, (mark.line + 1) if mark else 1, (mark.column + 1) if mark else 1,
                                     code, message))

    def where(self, node: Node) -> str:
        """``file:line:column`` of a node, for messages that are reported later (with the model loaded)."""
        mark = node.start_mark
        return f"{self.path}:{mark.line + 1}:{mark.column + 1}"

    def hint(self, word: str, candidates: Iterable[str] | Callable[[], Iterable[str]], fallback: str = "") -> str:
        """"; did you mean 'x'?" for the closest candidate. Each hint compares with every candidate, so a
        file gets at most MAX_HINTS of them: validation time stays linear however many mistakes it holds.
        ``candidates`` may be a function, so that the list is only built for a hint that is given."""
        if self._hints <= 0:
            return fallback
        self._hints -= 1
        pool = candidates() if callable(candidates) else candidates
        match = difflib.get_close_matches(word, list(pool), n=1)
        return f"; did you mean '{match[0]}'?" if match else fallback

    def mapping(self, node: Node, where: str, keys: Iterable[str], required: Iterable[str] = ()
                ) -> dict[str, tuple[Node, Node]]:
        if not isinstance(node, yaml.MappingNode):
            self.error(node, "E011", f"{where}: expected a mapping (key: value lines), found {_kind(node)}")
            return {}
        allowed = list(keys)
        found: dict[str, tuple[Node, Node]] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if key is None:
                self.error(key_node, "E011", f"{where}: keys must be plain names")
            elif key not in allowed:
                suggestion = self.hint(key, allowed, fallback=f"; expected one of: {', '.join(allowed)}"
                                       if allowed else "")
                self.error(key_node, "E001", f"{where}: unknown key '{_clip(key)}'{suggestion}")
            elif key in found:
                self.error(key_node, "E001", f"{where}: key '{key}' appears twice")
            else:
                found[key] = (key_node, value_node)
        for key in required:
            if key not in found:
                self.error(node, "E012", f"{where}: missing '{key}'")
        return found

    def sequence(self, node: Node, where: str) -> list[Node]:
        if isinstance(node, yaml.SequenceNode):
            return list(node.value)
        self.error(node, "E011", f"{where}: expected a list, found {_kind(node)}")
        return []

    def scalar(self, node: Node, where: str) -> str | None:
        if isinstance(node, yaml.ScalarNode):
            return str(node.value)
        self.error(node, "E011", f"{where}: expected a single value, found {_kind(node)}")
        return None

    def number(self, node: Node, where: str, minimum: float | None = None, maximum: float | None = None,
               time: bool = False) -> float | None:
        """A finite number within [minimum, maximum] (or ±MAX_VALUE). A time is 0 or between MIN_TIME and
        MAX_TIME seconds: 1e-300 would let two cues continue into each other forever, 1e308 overflows."""
        text = self.scalar(node, where)
        if text is None:
            return None
        try:
            value = float(text)
        except ValueError:
            self.error(node, "E011", f"{where}: expected a number, found '{_clip(text)}'")
            return None
        if not math.isfinite(value):
            self.error(node, "E016", f"{where}: expected a finite number, found '{_clip(text)}'")
            return None
        if time and value < 0:
            self.error(node, "E006", f"{where}: a time cannot be negative, found {_clip(text)}")
            return None
        if time and (0 < value < MIN_TIME or value > MAX_TIME):
            self.error(node, "E005", f"{where}: {_clip(text)} s is out of range; a time is 0 or between "
                                     f"{MIN_TIME:g} and {MAX_TIME:g} seconds")
            return None
        low = -MAX_VALUE if minimum is None else minimum
        high = MAX_VALUE if maximum is None else maximum
        if not low <= value <= high:
            self.error(node, "E005", f"{where}: {_clip(text)} is out of range; expected {low:g} .. {high:g}")
            return None
        return value

    def integer(self, node: Node, where: str, minimum: int | None = None, maximum: int | None = None) -> int | None:
        text = self.scalar(node, where)
        if text is None:
            return None
        try:
            value = int(text)
        except ValueError:
            self.error(node, "E011", f"{where}: expected a whole number, found '{_clip(text)}'")
            return None
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            bounds = f"{minimum} .. {maximum}" if maximum is not None else f">= {minimum}"
            self.error(node, "E005", f"{where}: {_clip(text)} is out of range; expected {bounds}")
            return None
        return value

    def boolean(self, node: Node, where: str) -> bool | None:
        text = self.scalar(node, where)
        if text is None:
            return None
        if text.lower() in ("true", "yes", "on"):
            return True
        if text.lower() in ("false", "no", "off"):
            return False
        self.error(node, "E011", f"{where}: expected true or false, found '{text}'")
        return None

    def choice(self, node: Node, where: str, choices: Iterable[str], code: str = "E016") -> str | None:
        text = self.scalar(node, where)
        options = list(choices)
        if text is not None and text not in options:
            self.error(node, code, f"{where}: '{_clip(text)}' is not one of {', '.join(options)}"
                                   f"{self.hint(text, options)}")
            return None
        return text

    def param_key(self, node: Node, where: str) -> str | None:
        key = self.scalar(node, where)
        if key is None:
            return None
        if key not in self.vocab.params and key not in self.declared:
            suggestion = self.hint(key, lambda: [*self.vocab.params, *self.declared])
            self.error(node, "E003", f"{where}: undefined parameter '{_clip(key)}'{suggestion}")
            return None
        return key

    def param_values(self, node: Node, where: str) -> dict[str, float]:
        """'parameter: value' lines, each parameter known and each value inside its range."""
        if not isinstance(node, yaml.MappingNode):
            self.error(node, "E011", f"{where}: expected 'parameter: value' lines, found {_kind(node)}")
            return {}
        values = {}
        for key_node, value_node in node.value:
            key = self.param_key(key_node, where)
            if key is not None:
                value = self.number(value_node, f"{where}.{key}", *self.param_range(key))
                if value is not None:
                    values[key] = value
        return values

    def param_range(self, key: str) -> tuple[float, float]:
        decl = self.declared.get(key)
        if decl is not None:
            return decl.minimum, decl.maximum
        spec = self.vocab.params[key]
        return spec.minimum, spec.maximum

    # ---------------------------------------------------------------------------------------------- parts
    def spend_keyframes(self, node: Node, where: str, count: int) -> bool:
        """Take ``count`` keyframes from the file's budget before they are made; False (reported) if over."""
        if count > self._keyframes_left:
            self.error(node, "E005", f"{where}: {count} more keyframes; a show holds at most {MAX_SHOW_KEYFRAMES} "
                                     "in all its walks")
            self._keyframes_left = 0
            return False
        self._keyframes_left -= count
        return True

    def seeds(self, node: Node, where: str) -> list[int]:
        """A list of seeds, one seed, or a range ``A-B``; at most MAX_WALK_KEYFRAMES, each in 0..2**32-1."""
        if isinstance(node, yaml.SequenceNode):
            if len(node.value) > MAX_WALK_KEYFRAMES:
                self.error(node, "E005", f"{where}: {len(node.value)} seeds; a walk holds at most "
                                         f"{MAX_WALK_KEYFRAMES} keyframes")
                return []
            if not self.spend_keyframes(node, where, len(node.value)):
                return []
            values = [self.integer(n, where, minimum=0, maximum=MAX_SEED) for n in node.value]
            return [v for v in values if v is not None]
        text = self.scalar(node, where)
        if text is None:
            return []
        match = re.fullmatch(r"\s*(\d{1,12})\s*-\s*(\d{1,12})\s*", text)
        if match:
            low, high = int(match[1]), int(match[2])
            if high < low or high > MAX_SEED:
                self.error(node, "E005", f"{where}: seed range '{text}' must go up, within 0 .. {MAX_SEED}")
                return []
            if high - low + 1 > MAX_WALK_KEYFRAMES:
                self.error(node, "E005", f"{where}: the range '{text}' holds {high - low + 1} seeds; a walk holds "
                                         f"at most {MAX_WALK_KEYFRAMES} keyframes")
                return []
            if not self.spend_keyframes(node, where, high - low + 1):
                return []
            return list(range(low, high + 1))
        if text.strip().isdigit():
            seed = self.integer(node, where, minimum=0, maximum=MAX_SEED)
            return [seed] if seed is not None else []
        self.error(node, "E016", f"{where}: expected seeds as a list, a number or a range like 0-7, "
                                 f"found '{_clip(text)}'")
        return []

    def latent(self, node: Node, where: str, class_index: int | None) -> list[Keyframe] | None:
        """The keyframes of one latent file (one per row), checked now: it exists, and its header and
        values are those of a latent file (the shape against the model is checked when the model is
        loaded, before the show goes live)."""
        path = self.scalar(node, where)
        if path is None:
            return None
        resolved = self.resolve(path)
        try:
            latents = read_latents(resolved)
        except LatentFileError as exc:
            self.error(node, "E016", f"{where}: {exc}")
            return None
        if not self.spend_keyframes(node, where, latents.rows):
            return None
        return [Keyframe(path=resolved, class_index=class_index, row=row, origin=self.where(node))
                for row in range(latents.rows)]

    def walk(self, node: Node, where: str, keyframe_only: bool = False) -> WalkAction | None:
        """A walk (or a keyframe action): every field is checked, so all its mistakes are reported at once."""
        if keyframe_only:
            fields = self.mapping(node, where, ("seed", "latent", "class", "time", "curve"))
        else:
            fields = self.mapping(node, where, ("seeds", "latents", "class", "seconds_per_keyframe",
                                                "interpolation", "loop", "transition", "curve", "easing", "noise"))
        ok = True
        reported = len(self.errors) + self.dropped
        class_index = None
        if "class" in fields:
            class_index = self.integer(fields["class"][1], f"{where}.class", minimum=0, maximum=2 ** 31 - 1)
            ok = class_index is not None
        origin = self.where(node) if isinstance(node, yaml.MappingNode) else None
        keyframes: list[Keyframe] = []
        if keyframe_only:
            if ("seed" in fields) == ("latent" in fields):
                self.error(node, "E012", f"{where}: give exactly one of 'seed' or 'latent'")
                ok = False
            elif "seed" in fields:
                seed = self.integer(fields["seed"][1], f"{where}.seed", minimum=0, maximum=MAX_SEED)
                if seed is not None:
                    keyframes.append(Keyframe(seed=seed, class_index=class_index, origin=origin))
                ok = ok and seed is not None
            else:
                rows = self.latent(fields["latent"][1], f"{where}.latent", class_index)
                keyframes += (rows or [])[:1]
                ok = ok and rows is not None
        else:
            if "latents" in fields:
                for path_node in self.sequence(fields["latents"][1], f"{where}.latents"):
                    rows = self.latent(path_node, f"{where}.latents", class_index)
                    keyframes += rows or []
                    ok = ok and rows is not None
            if "seeds" in fields:
                seeds = self.seeds(fields["seeds"][1], f"{where}.seeds")
                keyframes += [Keyframe(seed=s, class_index=class_index, origin=origin) for s in seeds]
            if "seeds" not in fields and "latents" not in fields:
                self.error(node, "E012", f"{where}: missing 'seeds' or 'latents'")
                ok = False
            elif not keyframes and len(self.errors) + self.dropped == reported:
                self.error(node, "E012", f"{where}: the walk has no keyframes (an empty list of seeds and latents)")
                ok = False
            elif len(keyframes) > MAX_WALK_KEYFRAMES:
                self.error(node, "E005", f"{where}: {len(keyframes)} keyframes; a walk holds at most "
                                         f"{MAX_WALK_KEYFRAMES}")
                ok = False
        values: dict[str, Any] = {"keyframes": tuple(keyframes)}
        time_key = "time" if keyframe_only else "transition"
        if time_key in fields:
            values["transition"] = self.number(fields[time_key][1], f"{where}.{time_key}", time=True)
        if keyframe_only:
            values["loop"] = False
        if "seconds_per_keyframe" in fields:
            spk = self.number(fields["seconds_per_keyframe"][1], f"{where}.seconds_per_keyframe", time=True)
            if spk is not None and spk < SECONDS_PER_KEYFRAME[0]:
                self.error(fields["seconds_per_keyframe"][1], "E005",
                           f"{where}.seconds_per_keyframe must be at least {SECONDS_PER_KEYFRAME[0]:g} s")
                spk = None
            values["seconds_per_keyframe"] = spk
        if "interpolation" in fields:
            values["interpolation"] = self.choice(fields["interpolation"][1], f"{where}.interpolation",
                                                  INTERPOLATIONS)
        if "loop" in fields:
            values["loop"] = self.boolean(fields["loop"][1], f"{where}.loop")
        if "curve" in fields:
            values["curve"] = self.choice(fields["curve"][1], f"{where}.curve", CURVES, code="E009")
        if "easing" in fields:
            values["easing"] = self.choice(fields["easing"][1], f"{where}.easing", EASINGS)
        if "noise" in fields:
            values["noise"] = self.choice(fields["noise"][1], f"{where}.noise", NOISE_MODES)
        if not ok or not keyframes or any(v is None for v in values.values()):
            return None
        return WalkAction(**values)

    def pair(self, node: Node, where: str, minimum: float | None = None,
             maximum: float | None = None) -> tuple[float, float] | None:
        """``[low, high]``: two different finite numbers (high may be below low: a reversed range)."""
        items = self.sequence(node, where)
        if len(items) != 2:
            if isinstance(node, yaml.SequenceNode):
                self.error(node, "E011", f"{where}: expected [low, high], found {len(items)} values")
            return None
        low, high = (self.number(item, where, minimum, maximum) for item in items)
        if low is None or high is None:
            return None
        if low == high:
            self.error(node, "E016", f"{where}: low and high are both {low:g}")
            return None
        return low, high

    def resolve(self, path: str) -> str:
        return path if os.path.isabs(path) else os.path.normpath(os.path.join(os.path.dirname(self.path), path))

    def fade(self, node: Node, where: str) -> FadeAction | None:
        """A fade: every field is checked (an unknown parameter and a bad curve are both reported)."""
        fields = self.mapping(node, where, ("param", "to", "time", "curve"), required=("param", "to"))
        key = self.param_key(fields["param"][1], f"{where}.param") if "param" in fields else None
        to = None
        if "to" in fields:
            low, high = self.param_range(key) if key is not None else (None, None)
            to = self.number(fields["to"][1], f"{where}.to" + (f" ({key})" if key else ""), low, high)
        time = self.number(fields["time"][1], f"{where}.time", time=True) if "time" in fields else 0.0
        curve = self.choice(fields["curve"][1], f"{where}.curve", CURVES, "E009") if "curve" in fields else "s"
        if key is None or to is None or time is None or curve is None:
            return None
        return FadeAction(param=key, to=to, time=time, curve=curve)

    def chain(self, node: Node, where: str) -> tuple[str, ...] | None:
        """Effects in order: known, at most MAX_CHAIN, each once (each is a full-screen pass every frame)."""
        items = self.sequence(node, where)
        if len(items) > MAX_CHAIN:
            self.error(node, "E005", f"{where}: {len(items)} effects; a chain holds at most {MAX_CHAIN}")
            return None
        names: list[str] = []
        ok = True
        for item in items:
            name = self.choice(item, where, self.vocab.shaders, code="E015")
            if name is not None and name in names:
                self.error(item, "E016", f"{where}: '{name}' appears twice; an effect runs once per chain")
                name = None
            if name is not None:
                names.append(name)
            ok = ok and name is not None
        return tuple(names) if ok else None

    def action(self, node: Node, where: str) -> list[Action] | None:
        """The action(s) one list item gives (``set`` gives several); None if it has mistakes."""
        kinds = ("walk", "keyframe", "fade", "set", "shaders", "goto")
        if not isinstance(node, yaml.MappingNode) or len(node.value) != 1:
            self.error(node, "E010", f"{where}: an action is one of {', '.join(kinds)} with its settings")
            return None
        key_node, value = node.value[0]
        kind = key_node.value
        if kind not in kinds:
            suggestion = self.hint(str(kind), kinds, fallback=f"; expected one of: {', '.join(kinds)}")
            self.error(key_node, "E010", f"{where}: unknown action '{_clip(str(kind))}'{suggestion}")
            return None
        if kind in ("walk", "keyframe"):
            walk = self.walk(value, f"{where}.{kind}", keyframe_only=kind == "keyframe")
            return [walk] if walk else None
        if kind == "fade":
            fade = self.fade(value, f"{where}.fade")
            return [fade] if fade else None
        if kind == "set":
            reported = len(self.errors) + self.dropped
            values = self.param_values(value, f"{where}.set")
            if len(self.errors) + self.dropped != reported:
                return None
            return [FadeAction(param=key, to=number, time=0.0, curve="linear") for key, number in values.items()]
        if kind == "shaders":
            chain = self.chain(value, f"{where}.shaders")
            return [ShadersAction(chain)] if chain is not None else None
        target = self.scalar(value, f"{where}.goto")
        return [GotoAction(cue=target)] if target is not None else None

    def cue(self, node: Node, index: int) -> Cue | None:
        """A cue; its fields and actions are checked even when its id is missing or bad."""
        where = f"cues[{index}]"
        fields = self.mapping(node, where, ("id", "name", "pre_wait", "actions", "continue", "post_wait", "at"),
                              required=("id",))
        cue_id = self.cue_id(fields["id"][1], f"{where}.id") if "id" in fields else None
        values: dict[str, Any] = {"id": cue_id, "line": node.start_mark.line + 1}
        where = f"cue {cue_id}" if cue_id is not None else where
        if "name" in fields:
            values["name"] = self.scalar(fields["name"][1], f"{where}.name")
        for key in ("pre_wait", "post_wait"):
            if key in fields:
                values[key] = self.number(fields[key][1], f"{where}.{key}", time=True)
        if "continue" in fields:
            values["continue_mode"] = self.choice(fields["continue"][1], f"{where}.continue", CONTINUE_MODES)
        if "at" in fields:
            at = self.scalar(fields["at"][1], f"{where}.at")
            if at is not None and not _TIME_OF_DAY.match(at):
                self.error(fields["at"][1], "E016", f"{where}.at: expected a time of day like 18:30 or 18:30:15, "
                                                    f"found '{_clip(at)}'")
                at = None
            values["at"] = at
        actions: list[Action] = []
        broken = False
        if "actions" in fields:
            for i, item in enumerate(self.sequence(fields["actions"][1], f"{where}.actions")):
                parsed = self.action(item, f"{where}.actions[{i}]")
                broken = broken or parsed is None
                actions += parsed or []
        values["actions"] = tuple(actions)
        gotos = [a for a in actions if isinstance(a, GotoAction)]
        if len(gotos) > 1:
            self.error(fields["actions"][1], "E016", f"{where}: {len(gotos)} goto actions; a cue moves the playhead "
                                                     "once (use one goto)")
            broken = True
        if broken or any(v is None for k, v in values.items() if k not in ("at",)):
            return None
        return Cue(**values)

    def cue_id(self, node: Node, where: str) -> str | None:
        """Cue ids are names an operator types and an OSC address carries (/show/cue/{id}/start)."""
        cue_id = self.scalar(node, where)
        if cue_id is None:
            return None
        if not is_cue_id(cue_id):
            self.error(node, "E016", f"{where}: '{_clip(cue_id)}' cannot be a cue id; expected 1-64 characters "
                                     "without spaces or any of # * , / ? [ ] { } (it is part of OSC addresses)")
            return None
        return cue_id

    def declarations(self, node: Node) -> None:
        if not isinstance(node, yaml.MappingNode):
            self.error(node, "E011", f"parameters.declare: expected a mapping, found {_kind(node)}")
            return
        for key_node, value in node.value:
            key = _clip(str(key_node.value)) if isinstance(key_node, yaml.ScalarNode) else "?"
            where = f"parameters.declare.{key}"
            valid = True
            try:
                ParamSpec(key, 0.0, 0.0, 0.0)
            except ValueError:
                self.error(key_node, "E016", f"{where}: parameter names look like 'group.name' (lower case)")
                valid = False
            if key in self.vocab.params:
                self.error(key_node, "E016", f"{where}: '{key}' is an engine parameter and cannot be redeclared")
                valid = False
            f = self.mapping(value, where, ("default", "min", "max", "smoothing", "curve"), required=("min", "max"))
            low = self.number(f["min"][1], f"{where}.min") if "min" in f else None
            high = self.number(f["max"][1], f"{where}.max") if "max" in f else None
            if low is not None and high is not None and low > high:
                self.error(f["max"][1], "E005", f"{where}: max {high:g} is below min {low:g}")
                low = high = None
            bounds = (low, high) if low is not None and high is not None else (None, None)
            default = self.number(f["default"][1], f"{where}.default", *bounds) if "default" in f else low
            smoothing = self.number(f["smoothing"][1], f"{where}.smoothing", time=True) if "smoothing" in f else 0.0
            curve = self.choice(f["curve"][1], f"{where}.curve", PARAM_CURVES, "E009") if "curve" in f else "linear"
            if valid and None not in (low, high, default, smoothing, curve):
                assert low is not None and high is not None and default is not None and smoothing is not None
                self.declared[key] = ParamDecl(key, default, low, high, smoothing, str(curve))

    def directions(self, node: Node) -> tuple[DirectionDecl, ...]:
        """``directions:``: ``{name: pose, from: sefa, index: 0, layers: all, range: 3}``, ``from: ganspace``, or
        ``{name: age, file: age.npy}``; each declares the parameter ``dir.{name}`` (±range, 0 at rest)."""
        from engine.latent.directions import LAYER_NAMES, MAX_DIRECTIONS
        found: list[DirectionDecl] = []
        items = self.sequence(node, "directions")
        if len(items) > MAX_DIRECTIONS:
            self.error(node, "E005", f"directions: {len(items)} directions; at most {MAX_DIRECTIONS}")
            return ()
        for i, item in enumerate(items):
            where = f"directions[{i}]"
            f = self.mapping(item, where, ("name", "from", "file", "index", "layers", "range"), required=("name",))
            name = self.scalar(f["name"][1], f"{where}.name") if "name" in f else None
            if name is not None and not re.fullmatch(r"[a-z][a-z0-9_]{0,39}", name):
                self.error(f["name"][1], "E016", f"{where}.name: '{_clip(name)}' is not a name (lower case, digits, _)")
                name = None
            if name is not None and (f"dir.{name}" in self.vocab.params or f"dir.{name}" in self.declared):
                self.error(f["name"][1], "E016", f"{where}.name: dir.{name} already exists")
                name = None
            if ("from" in f) == ("file" in f):
                self.error(item, "E012", f"{where}: give exactly one of 'from' (sefa, ganspace) or 'file'")
                continue
            origin = self.choice(f["from"][1], f"{where}.from", ("sefa", "ganspace")) if "from" in f else "file"
            path = None
            if "file" in f:
                text = self.scalar(f["file"][1], f"{where}.file")
                path = self.resolve(text) if text else None
                if path is not None and not os.path.isfile(path):
                    self.error(f["file"][1], "E016", f"{where}.file: no such file {path}")
                    path = None
            index = self.integer(f["index"][1], f"{where}.index", 0, MAX_DIRECTIONS - 1) if "index" in f else 0
            layers = self.scalar(f["layers"][1], f"{where}.layers") if "layers" in f else None
            if layers is not None and layers not in LAYER_NAMES and not re.fullmatch(r"\d{1,3}:\d{1,3}", layers):
                self.error(f["layers"][1], "E016", f"{where}.layers: expected one of {', '.join(LAYER_NAMES)} or a:b")
                layers = None
            reach = self.number(f["range"][1], f"{where}.range", 0.01, 100.0) if "range" in f else 3.0
            if None in (name, origin, index, reach) or (origin == "file" and path is None) or \
                    ("layers" in f and layers is None):
                continue
            assert name is not None and origin is not None and index is not None and reach is not None
            found.append(DirectionDecl(name, origin, index, path, layers, reach))
            self.declared[f"dir.{name}"] = ParamDecl(f"dir.{name}", 0.0, -reach, reach)
        return tuple(found)

    def show(self, root: Node) -> Show | None:
        fields = self.mapping(root, "show", ("format", "name", "model", "precision", "outputs", "parameters",
                                             "inputs", "chain", "walk", "cues", "panic", "go_lockout", "autostart",
                                             "directions"),
                              required=("format", "cues"))
        if "format" in fields:
            version = self.integer(fields["format"][1], "format")
            if version is not None and version != FORMAT_VERSION:
                self.error(fields["format"][1], "E013", f"format {version} is not supported; this engine reads "
                                                        f"format {FORMAT_VERSION}")
        get: Callable[[str], Node | None] = lambda k: fields[k][1] if k in fields else None  # noqa: E731
        name = self.scalar(get("name"), "name") if get("name") else os.path.basename(self.path)
        model = self.scalar(get("model"), "model") if get("model") else "default"
        if model is not None and model != "default":
            model = self.resolve(model)
        precision = self.choice(get("precision"), "precision", ("auto", "fp32", "fp16", "bf16")) \
            if get("precision") else "auto"
        initial: dict[str, float] = {}
        if get("parameters") is not None:
            p = self.mapping(get("parameters"), "parameters", ("declare", "initial"))
            if "declare" in p:
                self.declarations(p["declare"][1])
            if "initial" in p:
                initial = self.param_values(p["initial"][1], "parameters.initial")
        directions = self.directions(get("directions")) if get("directions") is not None else ()
        chain = self.chain(get("chain"), "chain") if get("chain") is not None else \
            tuple(s for s in DEFAULT_CHAIN if s in self.vocab.shaders)
        output_nodes = self.sequence(get("outputs"), "outputs") if get("outputs") is not None else []
        if len(output_nodes) > MAX_OUTPUTS:
            self.error(get("outputs"), "E005", f"outputs: {len(output_nodes)} outputs; a show drives at most "
                                               f"{MAX_OUTPUTS}")
            output_nodes = []
        outputs = tuple(o for o in (self.output(n, i) for i, n in enumerate(output_nodes)) if o is not None)
        walk = self.walk(get("walk"), "walk") if get("walk") is not None else \
            WalkAction(keyframes=tuple(Keyframe(seed=s) for s in range(8)), transition=0.0)
        inputs: dict[str, object] = {}
        if get("inputs") is not None:
            families = self.mapping(get("inputs"), "inputs", ("keyboard", "osc", "midi", "link", "quantize",
                                                              "modulate", "audio", "camera"))
            readers = {"midi": load_inputs.midi, "link": load_inputs.link, "quantize": load_inputs.quantize,
                       "modulate": load_inputs.modulations, "audio": load_audio.audio,
                       "camera": load_camera.camera}
            for family, read in readers.items():
                if family in families:
                    section = read(self, families[family][1], f"inputs.{family}")
                    if section is not None:
                        inputs[family] = section
            if "osc" in families:
                osc = load_inputs.osc(self, families["osc"][1], "inputs.osc")
                if osc is not None:
                    inputs["osc"] = osc
            if "keyboard" in families:
                keys = load_inputs.keyboard(self, families["keyboard"][1], "inputs.keyboard")
                if keys is not None:
                    inputs["keyboard"] = {"keys": keys}
        panic_time, panic_rest = 2.0, {}
        if get("panic") is not None:
            pf = self.mapping(get("panic"), "panic", ("time", "rest"))
            if "time" in pf:
                panic_time = self.number(pf["time"][1], "panic.time", time=True) or 0.0
            if "rest" in pf:
                panic_rest = self.param_values(pf["rest"][1], "panic.rest")
        autostart = self.boolean(get("autostart"), "autostart") if get("autostart") is not None else False
        go_lockout = self.number(get("go_lockout"), "go_lockout", time=True) if get("go_lockout") else 0.5
        cue_nodes = self.sequence(get("cues"), "cues") if get("cues") is not None else []
        parsed = [(self.cue(n, i), n) for i, n in enumerate(cue_nodes)]
        cues = [c for c, _ in parsed if c is not None]
        self.check_cues(parsed)
        ids = {c.id for c in cues}
        for cue_id, node, where in self.pending_cues:
            if cue_id not in ids:
                self.error(node, "E004", f"{where}: no cue '{_clip(cue_id)}'{self.hint(cue_id, ids)}")
        if self.errors or walk is None or name is None or model is None or precision is None or chain is None:
            return None
        return Show(path=self.path, format=FORMAT_VERSION, name=name, model=model, precision=precision,
                    outputs=outputs or (OutputConfig(),), declare=tuple(self.declared.values()), initial=initial,
                    chain=chain, walk=walk, cues=tuple(cues), panic_time=panic_time, go_lockout=go_lockout or 0.0,
                    inputs=inputs, panic_rest=panic_rest, autostart=bool(autostart), directions=directions)

    def output(self, node: Node, index: int) -> OutputConfig | None:
        where = f"outputs[{index}]"
        f = self.mapping(node, where, ("size", "screen", "fullscreen", "region", "fit", "chain"))
        values: dict[str, Any] = {}
        if "size" in f:
            items = self.sequence(f["size"][1], f"{where}.size")
            size = [self.integer(n, f"{where}.size", minimum=16, maximum=MAX_OUTPUT_SIDE) for n in items]
            if len(size) != 2:
                self.error(f["size"][1], "E016", f"{where}.size: expected [width, height]")
            values["size"] = tuple(size) if len(size) == 2 and None not in size else None
        if "screen" in f:
            values["screen"] = self.integer(f["screen"][1], f"{where}.screen", minimum=0, maximum=63)
        if "fullscreen" in f:
            values["fullscreen"] = self.boolean(f["fullscreen"][1], f"{where}.fullscreen")
        if "region" in f:
            items = self.sequence(f["region"][1], f"{where}.region")
            region = [self.number(n, f"{where}.region", 0.0, 1.0) for n in items]
            if len(region) != 4:
                self.error(f["region"][1], "E016", f"{where}.region: expected [x, y, width, height] in 0..1")
                values["region"] = None
            elif None not in region:
                x, y, w, h = (float(v or 0.0) for v in region)
                if w < MIN_REGION or h < MIN_REGION or x + w > 1 + 1e-9 or y + h > 1 + 1e-9 or x >= 1 or y >= 1:
                    self.error(f["region"][1], "E005", f"{where}.region: [{x:g}, {y:g}, {w:g}, {h:g}] must lie inside "
                                                       f"the canvas with width and height at least {MIN_REGION:g}")
                    values["region"] = None
                else:
                    values["region"] = tuple(region)
            else:
                values["region"] = None
        if "fit" in f:
            values["fit"] = self.choice(f["fit"][1], f"{where}.fit", FIT_MODES)
        if "chain" in f:
            values["chain"] = self.chain(f["chain"][1], f"{where}.chain")
        if any(v is None for v in values.values()):
            return None
        return OutputConfig(**values)

    def check_cues(self, parsed: list[tuple[Cue | None, Node]]) -> None:
        """Cross-cue checks: unique ids, goto targets, follows on open-ended cues, zero-time continue cycles.

        Ids are read from every cue node, also from cues with other errors, so duplicates are always found.
        Everything here is linear in the number of cues.
        """
        seen: dict[str, int] = {}
        for _, cue_node in parsed:
            cue_id = _id_of(cue_node)
            if cue_id is None:
                continue
            if cue_id in seen:
                self.error(cue_node, "E002", f"cue id '{_clip(cue_id)}' is used twice (first at line {seen[cue_id]})")
            else:
                seen[cue_id] = cue_node.start_mark.line + 1
        for cue, cue_node in parsed:
            if cue is None:
                continue
            for action in cue.actions:
                if isinstance(action, GotoAction) and action.cue not in seen:
                    suggestion = self.hint(action.cue, seen)
                    self.error(cue_node, "E004", f"{cue.label}: goto names an undefined cue "
                                                 f"'{_clip(action.cue)}'{suggestion}")
            if cue.continue_mode == "auto-follow" and math.isinf(cue.duration):
                self.error(cue_node, "E007", f"{cue.label}: auto-follow needs the cue to end, but it starts a looping "
                                             "walk (open-ended); use auto-continue with a post_wait")
        if self.errors:
            return
        cues = [c for c, _ in parsed if c is not None]
        nodes = [n for c, n in parsed if c is not None]
        index = {c.id: i for i, c in enumerate(cues)}
        # Zero-time continue edges: cue i starts its successor without any time passing. Each cue has at most
        # one successor, so the cycles are found by walking each chain once (colouring, linear time).
        successor: dict[int, int] = {}
        for i, cue in enumerate(cues):
            target = next((a.cue for a in cue.actions if isinstance(a, GotoAction)), None)
            nxt = index[target] if target is not None else i + 1
            zero = cue.pre_wait == 0 and ((cue.continue_mode == "auto-continue" and cue.post_wait == 0) or
                                         (cue.continue_mode == "auto-follow" and cue.duration == 0))
            if zero and nxt < len(cues):
                successor[i] = nxt
        state: dict[int, int] = {}          # 1 = on the chain being walked, 2 = finished
        for start in successor:
            path: list[int] = []
            at: int | None = start
            while at is not None and state.get(at) is None:
                state[at] = 1
                path.append(at)
                at = successor.get(at)
            if at is not None and state.get(at) == 1:   # the walk came back onto itself: a cycle
                loop = path[path.index(at):] + [at]
                shown = " → ".join(cues[j].id for j in loop[:10]) + (" → …" if len(loop) > 10 else "")
                self.error(nodes[at], "E008", f"{cues[at].label}: continue cycle that takes no time ({shown}); "
                                              "add a pre_wait or post_wait somewhere in it")
                return
            for j in path:
                state[j] = 2


def _id_of(node: Node) -> str | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == "id" and isinstance(value, yaml.ScalarNode):
                return str(value.value)
    return None


def load_show(path: str, shader_dir: str | None = None, vocabulary: Vocabulary | None = None) -> Show:
    """Read and validate a show file; raises :class:`ShowLoadError` listing every problem."""
    vocab = vocabulary or engine_vocabulary(shader_dir or os.path.join(os.path.dirname(os.path.dirname(
        os.path.dirname(os.path.abspath(__file__)))), "shaders"))
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):   # a FIFO or a device would block or never end
            raise ShowLoadError([ShowError(path, 1, 1, "E014", "not a regular file; a show is a YAML text file")])
        with open(path, "rb") as f:
            data = f.read(MAX_SHOW_BYTES + 1)
        text = data.decode("utf-8-sig")
    except OSError as exc:
        raise ShowLoadError([ShowError(path, 1, 1, "E014", f"cannot read the show file ({exc.strerror or exc})")]) from None
    except UnicodeDecodeError as exc:
        before = data[:exc.start]
        raise ShowLoadError([ShowError(path, before.count(b"\n") + 1, exc.start - (before.rfind(b"\n") + 1) + 1,
                                       "E014", "the show file is not UTF-8 text")]) from None
    return parse_show(text, path, vocab)


def parse_show(text: str, path: str, vocabulary: Vocabulary) -> Show:
    """Validate a show's text as if it were the file ``path`` (relative paths in it resolve against that
    file's folder): what a replay does with the show texts a recording holds."""
    vocab = vocabulary
    try:
        root = compose_bounded(text, path)
    except YamlProblem as problem:
        raise ShowLoadError([ShowError(path, problem.line, problem.column, "E014", problem.message)]) from None
    if root is None:
        raise ShowLoadError([ShowError(path, 1, 1, "E012", "the show file is empty; expected format: and cues:")])
    reader = _Reader(path, vocab)
    show = reader.show(root)
    if reader.errors or show is None:
        errors = sorted(reader.errors, key=lambda e: (e.line, e.column))
        if reader.dropped:
            last = errors[-1] if errors else ShowError(path, 1, 1, "E016", "")
            errors.append(ShowError(path, last.line, last.column, "E016",
                                    f"... and {reader.dropped} more errors (the first {MAX_ERRORS} are shown)"))
        if not errors:  # every path that returns None records why; this keeps a bug from becoming a traceback
            errors = [ShowError(path, 1, 1, "E016", "the show could not be read (no reason was recorded)")]
        raise ShowLoadError(errors)
    return show
