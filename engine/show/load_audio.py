"""The ``inputs: audio:`` section of a show: where the sound comes from, how it is analysed, and the gestures
that audio-reactive GAN work has made familiar, each compiled to the engine's own mechanisms (modulations,
pulse triggers, chroma keyframes). Every problem at its file:line:column.

    inputs:
      audio:
        device: "USB Audio"            # a live input by name part or index ... (or "default")
        file: music/track.flac         # ... or a file, played out loud and analysed (rehearsal)
        samplerate: 48000              # channels: 1, block: 1024, loop: false, play: true
        offset_ms: 0                   # --av-offset: the picture this much earlier (live input: <= 0)
        bands: {bass: [20, 250], mid: [250, 2000], high: [2000, 16000]}
        analysis: {adapt: 10, attack: 0.005, release: 0.12, gate_db: -60, onset_threshold: 0.08}
        react:
          pulse: {direction: sefa0, amount: 0.5, attack: 0.01, decay: 0.3}   # on: onset (or beat)
          motion: {amount: 0.4}                     # loudness -> walk speed
          bands: [{band: bass, param: gen.psi, amount: -0.15}]
          chroma: {seeds: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], amount: 0.6}
          beat: {every: 4, do: seed, seeds: [3, 7, 11], seconds: 1.0}    # or do: go

Any feature can also drive any parameter through ``inputs: modulate:`` (``source: audio.band.high``, with
range, curve, amount and ``smooth: [attack, release]``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import yaml
from yaml import Node

from engine.show.yaml_nodes import clip as _clip

if TYPE_CHECKING:
    from engine.show.load import _Reader

MAX_BAND_GESTURES = 16
MAX_PULSES = 16
MAX_SEEDS = 1024
ANALYSIS_KEYS = ("adapt", "attack", "release", "gate_db", "onset_threshold", "onset_wait")
ANALYSIS_LIMITS = {"adapt": (0.1, 3600.0), "attack": (0.0, 10.0), "release": (0.0, 10.0), "gate_db": (-100.0, 0.0),
                   "onset_threshold": (0.0, 1.0), "onset_wait": (0.0, 10.0)}


def audio(r: _Reader, node: Node, where: str) -> dict[str, object] | None:
    from controllers.audio.analysis import MAX_BANDS, MAX_SAMPLERATE, MIN_SAMPLERATE
    f = r.mapping(node, where, ("device", "file", "samplerate", "channels", "block", "play", "loop", "offset_ms",
                                "bands", "analysis", "react"))
    values: dict[str, Any] = {}
    ok = True
    if "device" in f and "file" in f:
        r.error(f["file"][0], "E012", f"{where}: give a device (live input) or a file (playback), not both")
        ok = False
    if "device" in f:
        device = r.scalar(f["device"][1], f"{where}.device")
        if device is None or not 0 < len(device) <= 100 or not device.isprintable():
            r.error(f["device"][1], "E016", f"{where}.device: expected a device name (part of it), an index or "
                                            "'default'")
            ok = False
        values["device"] = device
    if "file" in f:
        from controllers.audio.files import AUDIO_EXTENSIONS
        name = r.scalar(f["file"][1], f"{where}.file")
        if name is None or not name.lower().endswith(AUDIO_EXTENSIONS):
            r.error(f["file"][1], "E016", f"{where}.file: expected an audio file ({', '.join(AUDIO_EXTENSIONS)})")
            ok = False
        else:
            values["file"] = r.resolve(name)
    for key, low, high in (("samplerate", MIN_SAMPLERATE, MAX_SAMPLERATE), ("channels", 1, 32),
                           ("block", 64, 16384)):
        if key in f:
            values[key] = r.integer(f[key][1], f"{where}.{key}", low, high)
            ok = ok and values[key] is not None
    for key in ("play", "loop"):
        if key in f:
            values[key] = r.boolean(f[key][1], f"{where}.{key}")
            ok = ok and values[key] is not None
    if "offset_ms" in f:
        offset = r.number(f["offset_ms"][1], f"{where}.offset_ms", -2000.0, 2000.0)
        values["offset"] = None if offset is None else offset / 1000.0
        ok = ok and offset is not None
    analysis: dict[str, Any] = {}
    names = ["bass", "mid", "high"]
    if "bands" in f:
        bands_node = f["bands"][1]
        if not isinstance(bands_node, yaml.MappingNode) or not 0 < len(bands_node.value) <= MAX_BANDS:
            r.error(bands_node, "E011", f"{where}.bands: expected a mapping of 1..{MAX_BANDS} name: [low Hz, high Hz]")
            ok = False
        else:
            bands = []
            for key_node, value_node in bands_node.value:
                name = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else ""
                if not name.isidentifier() or not name.islower() or len(name) > 24:
                    r.error(key_node, "E016", f"{where}.bands: '{_clip(name)}' is not a band name (lower case, "
                                              "like bass)")
                    ok = False
                    continue
                pair = r.pair(value_node, f"{where}.bands.{name}", 0.0, MAX_SAMPLERATE / 2)
                if pair is not None and pair[0] > pair[1]:
                    r.error(value_node, "E016", f"{where}.bands.{name}: expected [low Hz, high Hz] with low < high")
                    pair = None
                if pair is None:
                    ok = False
                    continue
                bands.append((name, pair[0], pair[1]))
            analysis["bands"] = tuple(bands)
            names = [b[0] for b in bands]
    if "analysis" in f:
        a = r.mapping(f["analysis"][1], f"{where}.analysis", ANALYSIS_KEYS)
        for key in ANALYSIS_KEYS:
            if key in a:
                analysis[key] = r.number(a[key][1], f"{where}.analysis.{key}", *ANALYSIS_LIMITS[key])
                ok = ok and analysis[key] is not None
    values["analysis"] = analysis
    if "react" in f:
        gestures = react(r, f["react"][1], f"{where}.react", names)
        ok = ok and gestures is not None
        if gestures is not None:
            values.update(gestures)
    return values if ok else None


def react(r: _Reader, node: Node, where: str, bands: list[str]) -> dict[str, object] | None:
    """The gestures, as modulations, triggers and chroma keyframes."""
    from engine.sources import Modulation, PulseTrigger
    f = r.mapping(node, where, ("pulse", "motion", "bands", "chroma", "beat"))
    modulations: list[Any] = []
    triggers: list[Any] = []
    out: dict[str, object] = {}
    ok = True
    if "pulse" in f:
        items = r.sequence(f["pulse"][1], f"{where}.pulse") if isinstance(f["pulse"][1], yaml.SequenceNode) \
            else [f["pulse"][1]]
        if len(items) > MAX_PULSES:
            r.error(f["pulse"][1], "E005", f"{where}.pulse: at most {MAX_PULSES} pulse gestures, got {len(items)}")
            ok = False
        for i, item in enumerate(items[:MAX_PULSES]):
            at = f"{where}.pulse" + (f"[{i}]" if len(items) > 1 else "")
            p = r.mapping(item, at, ("direction", "param", "amount", "attack", "decay", "on"))
            if ("direction" in p) == ("param" in p):
                r.error(item, "E012", f"{at}: give a direction (one of the model's dir.* knobs) or a param")
                ok = False
                continue
            key_node = p["direction"][1] if "direction" in p else p["param"][1]
            if "direction" in p and isinstance(key_node, yaml.ScalarNode):
                key_node = yaml.ScalarNode("tag:yaml.org,2002:str", f"dir.{key_node.value}", key_node.start_mark,
                                           key_node.end_mark)
            param = r.param_key(key_node, f"{at}.{'direction' if 'direction' in p else 'param'}")
            on = r.choice(p["on"][1], f"{at}.on", ("onset", "beat")) if "on" in p else "onset"
            amount = r.number(p["amount"][1], f"{at}.amount", -16.0, 16.0) if "amount" in p else 0.25
            attack = r.number(p["attack"][1], f"{at}.attack", 0.0, 10.0) if "attack" in p else 0.01
            decay = r.number(p["decay"][1], f"{at}.decay", 0.0, 60.0) if "decay" in p else 0.3
            if None in (param, on, amount, attack, decay):
                ok = False
                continue
            modulations.append(Modulation(param=str(param), source=f"audio.{on}", amount=float(amount),  # type: ignore[arg-type]
                                          envelope=(float(attack), float(decay))))  # type: ignore[arg-type]
    if "motion" in f:
        m = r.mapping(f["motion"][1], f"{where}.motion", ("amount", "param", "curve", "source"))
        param = r.param_key(m["param"][1], f"{where}.motion.param") if "param" in m else "walk.speed"
        amount = r.number(m["amount"][1], f"{where}.motion.amount", -16.0, 16.0) if "amount" in m else 0.25
        curve = r.choice(m["curve"][1], f"{where}.motion.curve", ("linear", "square", "sqrt")) if "curve" in m \
            else "linear"
        source = r.choice(m["source"][1], f"{where}.motion.source", ("rms", "onset_strength", "flux")) \
            if "source" in m else "rms"
        if None in (param, amount, curve, source):
            ok = False
        else:
            modulations.append(Modulation(param=str(param), source=f"audio.{source}", amount=float(amount),  # type: ignore[arg-type]
                                          curve=str(curve), stale=1.0, fade=1.0))
    if "bands" in f:
        items = r.sequence(f["bands"][1], f"{where}.bands")
        for i, item in enumerate(items[:MAX_BAND_GESTURES]):
            at = f"{where}.bands[{i}]"
            b = r.mapping(item, at, ("band", "param", "amount", "curve", "invert", "smooth"),
                          required=("band", "param"))
            band = r.choice(b["band"][1], f"{at}.band", tuple(bands)) if "band" in b else None
            param = r.param_key(b["param"][1], f"{at}.param") if "param" in b else None
            amount = r.number(b["amount"][1], f"{at}.amount", -16.0, 16.0) if "amount" in b else 0.25
            curve = r.choice(b["curve"][1], f"{at}.curve", ("linear", "square", "sqrt")) if "curve" in b \
                else "linear"
            invert = r.boolean(b["invert"][1], f"{at}.invert") if "invert" in b else False
            smooth = r.pair(b["smooth"][1], f"{at}.smooth", 0.0, 60.0) if "smooth" in b else None
            if None in (band, param, amount, curve, invert) or ("smooth" in b and smooth is None):
                ok = False
                continue
            modulations.append(Modulation(param=str(param), source=f"audio.band.{band}", amount=float(amount),  # type: ignore[arg-type]
                                          curve=str(curve), invert=bool(invert), smooth=smooth, stale=1.0, fade=1.0))
        if len(items) > MAX_BAND_GESTURES:
            r.error(f["bands"][1], "E005", f"{where}.bands: at most {MAX_BAND_GESTURES} band gestures")
            ok = False
    if "chroma" in f:
        c = r.mapping(f["chroma"][1], f"{where}.chroma", ("seeds", "amount"), required=("seeds",))
        seeds = [r.integer(n, f"{where}.chroma.seeds", 0, 2 ** 32 - 1)
                 for n in r.sequence(c["seeds"][1], f"{where}.chroma.seeds")] if "seeds" in c else []
        if "seeds" in c and len(seeds) != 12:
            r.error(c["seeds"][1], "E016", f"{where}.chroma.seeds: expected 12 seeds, one per pitch class "
                                           f"(c, c#, d, … b), got {len(seeds)}")
            ok = False
        amount = r.number(c["amount"][1], f"{where}.chroma.amount", 0.0, 1.0) if "amount" in c else 0.5
        if None in seeds or amount is None or len(seeds) != 12:
            ok = False
        else:
            out["chroma"] = (tuple(int(s) for s in seeds if s is not None), float(amount))
    if "beat" in f:
        b = r.mapping(f["beat"][1], f"{where}.beat", ("every", "do", "seeds", "seconds", "on"))
        every = r.integer(b["every"][1], f"{where}.beat.every", 1, 1024) if "every" in b else 4
        action = r.choice(b["do"][1], f"{where}.beat.do", ("go", "seed")) if "do" in b else "go"
        seconds = r.number(b["seconds"][1], f"{where}.beat.seconds", 0.0, 3600.0) if "seconds" in b else 1.0
        on = r.choice(b["on"][1], f"{where}.beat.on", ("beat", "onset")) if "on" in b else "beat"
        seed_nodes = r.sequence(b["seeds"][1], f"{where}.beat.seeds") if "seeds" in b else []
        if len(seed_nodes) > MAX_SEEDS:
            r.error(b["seeds"][1], "E005", f"{where}.beat.seeds: at most {MAX_SEEDS} seeds, got {len(seed_nodes)}")
            ok = False
        seeds = [r.integer(n, f"{where}.beat.seeds", 0, 2 ** 32 - 1) for n in seed_nodes[:MAX_SEEDS]] \
            if "seeds" in b else list(range(8))
        if None in (every, action, seconds, on) or None in seeds or not seeds:
            ok = False
        else:
            triggers.append(PulseTrigger(source=f"audio.{on}", every=int(every), action=str(action),  # type: ignore[arg-type]
                                         seconds=float(seconds), seeds=tuple(int(s) for s in seeds if s is not None)))  # type: ignore[arg-type]
    out["modulate"] = tuple(modulations)
    out["triggers"] = tuple(triggers)
    return out if ok else None
