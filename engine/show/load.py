"""Show files: YAML in, a validated :class:`~engine.show.model.Show` out — or every error at once.

The YAML is composed into nodes (which remember their line and column) and walked with the show's schema, so
each problem is reported as ``file:line:column: CODE what was found, what was expected`` before anything goes
live. All errors of a file are collected, not just the first.

    >>> show = load_show("shows/demo.yaml")          # doctest: +SKIP
    >>> [cue.id for cue in show.cues]                 # doctest: +SKIP
    ['1', '2', '3']

Codes: E001 unknown key, E002 duplicate cue id, E003 undefined parameter, E004 undefined cue, E005 value out of
range, E006 negative time, E007 follow on an open-ended cue, E008 zero-time continue cycle, E009 unknown curve,
E010 unknown action, E011 wrong type, E012 missing key, E013 unsupported format, E014 YAML syntax, E015 unknown
shader, E016 bad value.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
from collections.abc import Callable, Iterable
from typing import Any

import yaml
from yaml import Node

from engine.latent.interpolate import EASINGS
from engine.latent.keyframes import Keyframe
from engine.latent.walker import INTERPOLATIONS
from engine.params import PARAM_CURVES, ParamSpec
from engine.show.curves import CURVES
from engine.show.model import (CONTINUE_MODES, Action, Cue, FadeAction, GotoAction, OutputConfig, ParamDecl,
                               ShadersAction, Show, WalkAction)

FORMAT_VERSION = 1
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
    from engine.live import ENGINE_PARAMS
    from engine.gl.shaders import ShaderCompileError, parse_params
    params = {p.key: p for p in ENGINE_PARAMS}
    shaders = []
    for name in sorted(os.listdir(shader_dir)) if os.path.isdir(shader_dir) else []:
        stem, ext = os.path.splitext(name)
        if ext != ".glsl" or stem in ("blend", "hud"):
            continue
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
        self.declared: dict[str, ParamDecl] = {}

    # ------------------------------------------------------------------------------------------ primitives
    def error(self, node: Node | None, code: str, message: str) -> None:
        mark = node.start_mark if node is not None else None
        self.errors.append(ShowError(self.path, (mark.line + 1) if mark else 1, (mark.column + 1) if mark else 1,
                                     code, message))

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
                hint = difflib.get_close_matches(key, allowed, n=1)
                suggestion = f"; did you mean '{hint[0]}'?" if hint else f"; expected one of: {', '.join(allowed)}"
                self.error(key_node, "E001", f"{where}: unknown key '{key}'{suggestion}")
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
        text = self.scalar(node, where)
        if text is None:
            return None
        try:
            value = float(text)
        except ValueError:
            self.error(node, "E011", f"{where}: expected a number, found '{text}'")
            return None
        if not math.isfinite(value):
            self.error(node, "E016", f"{where}: expected a finite number, found '{text}'")
            return None
        if time and value < 0:
            self.error(node, "E006", f"{where}: a time cannot be negative, found {text}")
            return None
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            self.error(node, "E005", f"{where}: {text} is out of range; expected {minimum} .. {maximum}")
            return None
        return value

    def integer(self, node: Node, where: str, minimum: int | None = None) -> int | None:
        text = self.scalar(node, where)
        if text is None:
            return None
        try:
            value = int(text)
        except ValueError:
            self.error(node, "E011", f"{where}: expected a whole number, found '{text}'")
            return None
        if minimum is not None and value < minimum:
            self.error(node, "E005", f"{where}: {value} is out of range; expected >= {minimum}")
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
            hint = difflib.get_close_matches(text, options, n=1)
            suggestion = f"; did you mean '{hint[0]}'?" if hint else ""
            self.error(node, code, f"{where}: '{text}' is not one of {', '.join(options)}{suggestion}")
            return None
        return text

    def param_key(self, node: Node, where: str) -> str | None:
        key = self.scalar(node, where)
        if key is None:
            return None
        if key not in self.vocab.params and key not in self.declared:
            known = list(self.vocab.params) + list(self.declared)
            hint = difflib.get_close_matches(key, known, n=1)
            suggestion = f"; did you mean '{hint[0]}'?" if hint else ""
            self.error(node, "E003", f"{where}: undefined parameter '{key}'{suggestion}")
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
    def seeds(self, node: Node, where: str) -> list[int]:
        if isinstance(node, yaml.SequenceNode):
            values = [self.integer(n, where, minimum=0) for n in node.value]
            return [v for v in values if v is not None]
        text = self.scalar(node, where)
        if text is None:
            return []
        match = re.fullmatch(r"\s*(\d+)\s*-\s*(\d+)\s*", text)
        if match and int(match[1]) <= int(match[2]):
            return list(range(int(match[1]), int(match[2]) + 1))
        if text.strip().isdigit():
            return [int(text)]
        self.error(node, "E016", f"{where}: expected seeds as a list, a number or a range like 0-7, found '{text}'")
        return []

    def walk(self, node: Node, where: str, keyframe_only: bool = False) -> WalkAction | None:
        if keyframe_only:
            fields = self.mapping(node, where, ("seed", "latent", "class", "time", "curve"))
        else:
            fields = self.mapping(node, where, ("seeds", "latents", "class", "seconds_per_keyframe",
                                                "interpolation", "loop", "transition", "curve", "easing"))
        class_index = None
        if "class" in fields:
            class_index = self.integer(fields["class"][1], f"{where}.class", minimum=0)
        keyframes: list[Keyframe] = []
        if keyframe_only:
            if ("seed" in fields) == ("latent" in fields):
                self.error(node, "E012", f"{where}: give exactly one of 'seed' or 'latent'")
                return None
            if "seed" in fields:
                seed = self.integer(fields["seed"][1], f"{where}.seed", minimum=0)
                if seed is not None:
                    keyframes.append(Keyframe(seed=seed, class_index=class_index))
            else:
                path = self.scalar(fields["latent"][1], f"{where}.latent")
                if path is not None:
                    keyframes.append(Keyframe(path=self.resolve(path), class_index=class_index))
        else:
            for path_node in self.sequence(fields["latents"][1], f"{where}.latents") if "latents" in fields else []:
                path = self.scalar(path_node, f"{where}.latents")
                if path is not None:
                    keyframes.append(Keyframe(path=self.resolve(path), class_index=class_index))
            if "seeds" in fields:
                keyframes += [Keyframe(seed=s, class_index=class_index)
                              for s in self.seeds(fields["seeds"][1], f"{where}.seeds")]
            if not keyframes and "seeds" not in fields and "latents" not in fields:
                self.error(node, "E012", f"{where}: missing 'seeds' or 'latents'")
                return None
        if not keyframes:
            return None
        values: dict[str, Any] = {"keyframes": tuple(keyframes)}
        time_key = "time" if keyframe_only else "transition"
        if time_key in fields:
            values["transition"] = self.number(fields[time_key][1], f"{where}.{time_key}", time=True)
        if keyframe_only:
            values["loop"] = False
        if "seconds_per_keyframe" in fields:
            spk = self.number(fields["seconds_per_keyframe"][1], f"{where}.seconds_per_keyframe", time=True)
            if spk == 0:
                self.error(fields["seconds_per_keyframe"][1], "E005", f"{where}.seconds_per_keyframe must be > 0")
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
            self.choice(fields["easing"][1], f"{where}.easing", EASINGS)
        if any(v is None for v in values.values()):
            return None
        return WalkAction(**values)

    def resolve(self, path: str) -> str:
        return path if os.path.isabs(path) else os.path.normpath(os.path.join(os.path.dirname(self.path), path))

    def fade(self, node: Node, where: str) -> FadeAction | None:
        fields = self.mapping(node, where, ("param", "to", "time", "curve"), required=("param", "to"))
        if "param" not in fields or "to" not in fields:
            return None
        key = self.param_key(fields["param"][1], f"{where}.param")
        if key is None:
            return None
        low, high = self.param_range(key)
        to = self.number(fields["to"][1], f"{where}.to ({key})", low, high)
        time = self.number(fields["time"][1], f"{where}.time", time=True) if "time" in fields else 0.0
        curve = self.choice(fields["curve"][1], f"{where}.curve", CURVES, "E009") if "curve" in fields else "s"
        if to is None or time is None or curve is None:
            return None
        return FadeAction(param=key, to=to, time=time, curve=curve)

    def chain(self, node: Node, where: str) -> tuple[str, ...] | None:
        names = []
        for item in self.sequence(node, where):
            name = self.choice(item, where, self.vocab.shaders, code="E015")
            if name is not None:
                names.append(name)
        return tuple(names)

    def action(self, node: Node, where: str) -> list[Action]:
        kinds = ("walk", "keyframe", "fade", "set", "shaders", "goto")
        if not isinstance(node, yaml.MappingNode) or len(node.value) != 1:
            self.error(node, "E010", f"{where}: an action is one of {', '.join(kinds)} with its settings")
            return []
        key_node, value = node.value[0]
        kind = key_node.value
        if kind not in kinds:
            hint = difflib.get_close_matches(str(kind), kinds, n=1)
            suggestion = f"; did you mean '{hint[0]}'?" if hint else f"; expected one of: {', '.join(kinds)}"
            self.error(key_node, "E010", f"{where}: unknown action '{kind}'{suggestion}")
            return []
        if kind in ("walk", "keyframe"):
            walk = self.walk(value, f"{where}.{kind}", keyframe_only=kind == "keyframe")
            return [walk] if walk else []
        if kind == "fade":
            fade = self.fade(value, f"{where}.fade")
            return [fade] if fade else []
        if kind == "set":
            return [FadeAction(param=key, to=number, time=0.0, curve="linear")
                    for key, number in self.param_values(value, f"{where}.set").items()]
        if kind == "shaders":
            chain = self.chain(value, f"{where}.shaders")
            return [ShadersAction(chain)] if chain is not None else []
        target = self.scalar(value, f"{where}.goto")
        return [GotoAction(cue=target)] if target is not None else []

    def cue(self, node: Node, index: int) -> Cue | None:
        where = f"cues[{index}]"
        fields = self.mapping(node, where, ("id", "name", "pre_wait", "actions", "continue", "post_wait", "at"),
                              required=("id",))
        if "id" not in fields:
            return None
        cue_id = self.scalar(fields["id"][1], f"{where}.id")
        values: dict[str, Any] = {"id": cue_id, "line": node.start_mark.line + 1}
        where = f"cue {cue_id}"
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
                                                    f"found '{at}'")
                at = None
            values["at"] = at
        actions: list[Action] = []
        if "actions" in fields:
            for i, item in enumerate(self.sequence(fields["actions"][1], f"{where}.actions")):
                actions += self.action(item, f"{where}.actions[{i}]")
        values["actions"] = tuple(actions)
        if any(v is None for k, v in values.items() if k not in ("at",)):
            return None
        return Cue(**values)

    def declarations(self, node: Node) -> None:
        if not isinstance(node, yaml.MappingNode):
            self.error(node, "E011", f"parameters.declare: expected a mapping, found {_kind(node)}")
            return
        for key_node, value in node.value:
            key = str(key_node.value)
            where = f"parameters.declare.{key}"
            try:
                ParamSpec(key, 0.0, 0.0, 0.0)
            except ValueError:
                self.error(key_node, "E016", f"{where}: parameter names look like 'group.name' (lower case)")
                continue
            if key in self.vocab.params:
                self.error(key_node, "E016", f"{where}: '{key}' is an engine parameter and cannot be redeclared")
                continue
            f = self.mapping(value, where, ("default", "min", "max", "smoothing", "curve"), required=("min", "max"))
            low = self.number(f["min"][1], f"{where}.min") if "min" in f else None
            high = self.number(f["max"][1], f"{where}.max") if "max" in f else None
            if low is None or high is None:
                continue
            if low > high:
                self.error(f["max"][1], "E005", f"{where}: max {high} is below min {low}")
                continue
            default = self.number(f["default"][1], f"{where}.default", low, high) if "default" in f else low
            smoothing = self.number(f["smoothing"][1], f"{where}.smoothing", time=True) if "smoothing" in f else 0.0
            curve = self.choice(f["curve"][1], f"{where}.curve", PARAM_CURVES, "E009") if "curve" in f else "linear"
            if default is not None and smoothing is not None and curve is not None:
                self.declared[key] = ParamDecl(key, default, low, high, smoothing, curve)

    def show(self, root: Node) -> Show | None:
        fields = self.mapping(root, "show", ("format", "name", "model", "precision", "outputs", "parameters",
                                             "inputs", "chain", "walk", "cues", "panic", "go_lockout", "autostart"),
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
        chain = self.chain(get("chain"), "chain") if get("chain") is not None else \
            tuple(s for s in ("feedback", "kaleidoscope", "colour_grade", "vignette", "crossfade")
                  if s in self.vocab.shaders)
        outputs = tuple(o for o in (self.output(n, i) for i, n in enumerate(
            self.sequence(get("outputs"), "outputs") if get("outputs") is not None else [])) if o is not None)
        walk = self.walk(get("walk"), "walk") if get("walk") is not None else \
            WalkAction(keyframes=tuple(Keyframe(seed=s) for s in range(8)), transition=0.0)
        inputs: dict[str, object] = {}
        if get("inputs") is not None:
            self.mapping(get("inputs"), "inputs", ())  # no input families are defined yet: any key is unknown
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
        if self.errors or walk is None or name is None or model is None or precision is None or chain is None:
            return None
        return Show(path=self.path, format=FORMAT_VERSION, name=name, model=model, precision=precision,
                    outputs=outputs or (OutputConfig(),), declare=tuple(self.declared.values()), initial=initial,
                    chain=chain, walk=walk, cues=tuple(cues), panic_time=panic_time, go_lockout=go_lockout or 0.0,
                    inputs=inputs, panic_rest=panic_rest, autostart=bool(autostart))

    def output(self, node: Node, index: int) -> OutputConfig | None:
        where = f"outputs[{index}]"
        f = self.mapping(node, where, ("size", "screen", "fullscreen", "region", "fit", "chain"))
        values: dict[str, Any] = {}
        if "size" in f:
            items = self.sequence(f["size"][1], f"{where}.size")
            size = [self.integer(n, f"{where}.size", minimum=16) for n in items]
            if len(size) != 2:
                self.error(f["size"][1], "E016", f"{where}.size: expected [width, height]")
            values["size"] = tuple(size) if len(size) == 2 and None not in size else None
        if "screen" in f:
            values["screen"] = self.integer(f["screen"][1], f"{where}.screen", minimum=0)
        if "fullscreen" in f:
            values["fullscreen"] = self.boolean(f["fullscreen"][1], f"{where}.fullscreen")
        if "region" in f:
            items = self.sequence(f["region"][1], f"{where}.region")
            region = [self.number(n, f"{where}.region", 0.0, 1.0) for n in items]
            if len(region) != 4:
                self.error(f["region"][1], "E016", f"{where}.region: expected [x, y, width, height] in 0..1")
            values["region"] = tuple(region) if len(region) == 4 and None not in region else None
        if "fit" in f:
            values["fit"] = self.choice(f["fit"][1], f"{where}.fit", ("fit", "fill", "stretch"))
        if "chain" in f:
            values["chain"] = self.chain(f["chain"][1], f"{where}.chain")
        if any(v is None for v in values.values()):
            return None
        return OutputConfig(**values)

    def check_cues(self, parsed: list[tuple[Cue | None, Node]]) -> None:
        """Cross-cue checks: unique ids, goto targets, follows on open-ended cues, zero-time continue cycles.

        Ids are read from every cue node, also from cues with other errors, so duplicates are always found.
        """
        seen: dict[str, int] = {}
        for _, cue_node in parsed:
            cue_id = _id_of(cue_node)
            if cue_id is None:
                continue
            if cue_id in seen:
                self.error(cue_node, "E002", f"cue id '{cue_id}' is used twice (first at line {seen[cue_id]})")
            else:
                seen[cue_id] = cue_node.start_mark.line + 1
        ids = list(seen)
        for cue, cue_node in parsed:
            if cue is None:
                continue
            for action in cue.actions:
                if isinstance(action, GotoAction) and action.cue not in seen:
                    hint = difflib.get_close_matches(action.cue, ids, n=1)
                    suggestion = f"; did you mean '{hint[0]}'?" if hint else ""
                    self.error(cue_node, "E004", f"{cue.label}: goto names an undefined cue '{action.cue}'{suggestion}")
            if cue.continue_mode == "auto-follow" and math.isinf(cue.duration):
                self.error(cue_node, "E007", f"{cue.label}: auto-follow needs the cue to end, but it starts a looping "
                                             "walk (open-ended); use auto-continue with a post_wait")
        cues = [c for c, _ in parsed if c is not None]
        nodes = [n for c, n in parsed if c is not None]
        ids = [c.id for c in cues]
        if self.errors:
            return
        # Zero-time continue edges: cue i starts its successor without any time passing.
        successor: dict[int, int] = {}
        for i, cue in enumerate(cues):
            target = next((a.cue for a in cue.actions if isinstance(a, GotoAction)), None)
            nxt = ids.index(target) if target is not None else i + 1
            zero = cue.pre_wait == 0 and ((cue.continue_mode == "auto-continue" and cue.post_wait == 0) or
                                         (cue.continue_mode == "auto-follow" and cue.duration == 0))
            if zero and nxt < len(cues):
                successor[i] = nxt
        for start in successor:
            path, i = [], start
            while i in successor and i not in path:
                path.append(i)
                i = successor[i]
            if i == start:
                loop = " → ".join(cues[j].id for j in path + [start])
                self.error(nodes[start], "E008", f"{cues[start].label}: continue cycle that takes no time ({loop}); "
                                                 "add a pre_wait or post_wait somewhere in it")
                break


def _id_of(node: Node) -> str | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == "id" and isinstance(value, yaml.ScalarNode):
                return str(value.value)
    return None


def _kind(node: Node | None) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if isinstance(node, yaml.ScalarNode):
        return f"'{node.value}'" if node.value != "" else "nothing"
    return "nothing"


def load_show(path: str, shader_dir: str | None = None, vocabulary: Vocabulary | None = None) -> Show:
    """Read and validate a show file; raises :class:`ShowLoadError` listing every problem."""
    vocab = vocabulary or engine_vocabulary(shader_dir or os.path.join(os.path.dirname(os.path.dirname(
        os.path.dirname(os.path.abspath(__file__)))), "shaders"))
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise ShowLoadError([ShowError(path, 1, 1, "E014", f"cannot read the show file ({exc})")]) from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ShowLoadError([ShowError(path, line, col, "E014", f"YAML syntax: {problem}")]) from None
    reader = _Reader(path, vocab)
    if root is None:
        raise ShowLoadError([ShowError(path, 1, 1, "E012", "the show file is empty; expected format: and cues:")])
    show = reader.show(root)
    if reader.errors or show is None:
        raise ShowLoadError(sorted(reader.errors, key=lambda e: (e.line, e.column)))
    return show
