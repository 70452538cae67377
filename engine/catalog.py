"""Every parameter a run has, with its range, default and OSC address: what ``--list-params`` prints.

Parameters come from three places (DESIGN.md §3): the engine (``walk.speed``, ``gen.psi``), the effect files in
the shader folder (``<file>.<uniform>``) and a show's own declarations. Each is also the OSC address
``/param/<group>/<name>``. Listing them needs neither torch nor GL.

    lines = parameter_lines(engine_vocabulary("shaders"))
    lines[1]   # 'gen.psi   -1 .. 2   default 0.7   /param/gen/psi   engine: truncation psi'
"""

from __future__ import annotations

from engine.params import ENGINE_PARAMS
from engine.show.load import Vocabulary
from engine.show.model import Show


def parameter_lines(vocabulary: Vocabulary, show: Show | None = None) -> list[str]:
    """One line per parameter: key, range, default, curve and smoothing where set, OSC address, origin."""
    rows: list[tuple[str, str, str, str, str, str]] = []
    engine = {p.key for p in ENGINE_PARAMS}
    for key, spec in sorted(vocabulary.params.items()):
        origin = "engine" if key in engine else f"shaders/{key.split('.', 1)[0]}.glsl"
        rows.append((key, f"{spec.minimum:g} .. {spec.maximum:g}", f"default {spec.default:g}", "",
                     f"/param/{key.replace('.', '/')}", f"{origin}{': ' + spec.doc if spec.doc else ''}"))
    for decl in show.declare if show is not None else ():
        extra = " ".join(part for part in (f"curve {decl.curve}" if decl.curve != "linear" else "",
                                           f"smoothing {decl.smoothing:g} s" if decl.smoothing else "") if part)
        rows.append((decl.key, f"{decl.minimum:g} .. {decl.maximum:g}", f"default {decl.default:g}", extra,
                     f"/param/{decl.key.replace('.', '/')}", f"show {show.name}" if show else "show"))
    widths = [max(len(row[i]) for row in rows) for i in range(6)] if rows else [0] * 6
    lines = ["   ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    sources = show_sources(show)
    if sources:
        lines.append("sources (read-only, measured by the show's inputs; OSC feedback on /source/...):")
        width = max(len(key) for key, _ in sources)
        lines.extend(f"  {key.ljust(width)}   {doc}" for key, doc in sources)
    else:
        lines.append("sources (read-only, from inputs): none in this show (sensors, MIDI clock, Link add theirs)")
    return lines


CLOCK_SOURCES = (("bpm", "tempo, beats per minute"), ("beat", "phase within the beat, 0..1"),
                 ("bar", "phase within the bar, 0..1"))


def show_sources(show: Show | None) -> list[tuple[str, str]]:
    """The sources a show's inputs will measure (key, what it is), sorted: sensors, MIDI clock, Link."""
    if show is None:
        return []
    found: dict[str, str] = {}
    osc = show.inputs.get("osc")
    for sensor in osc.get("sensors", ()) if isinstance(osc, dict) else ():
        for key, doc in ((sensor.source, "sensor reading from OSC"), (sensor.pulse, "a pulse for each OSC")):
            if key is not None:
                found[key] = f"{found[key]}, {sensor.address}" if key in found else f"{doc} {sensor.address}"
    midi = show.inputs.get("midi")
    if isinstance(midi, dict) and midi.get("clock"):
        found.update({f"midi.clock.{name}": f"MIDI clock: {doc}" for name, doc in CLOCK_SOURCES})
    if show.inputs.get("link") is not None:
        found.update({f"link.{name}": f"Ableton Link: {doc}" for name, doc in CLOCK_SOURCES})
        found["link.peers"] = "Ableton Link: peers in the session"
    audio = show.inputs.get("audio")
    if isinstance(audio, dict):
        found.update(audio_sources(audio.get("analysis", {}).get("bands")))
    return sorted(found.items())


AUDIO_SCALARS = (("rms", "loudness, adaptive range 0..1"), ("loudness_db", "loudness in dBFS"),
                 ("onset_strength", "onset envelope 0..1"), ("centroid", "spectral centroid 0..1"),
                 ("flux", "spectral flux 0..1"), ("tempo", "tempo in BPM"), ("beat_phase", "fraction of the beat"),
                 ("onset", "a pulse at each onset"), ("beat", "a pulse at each beat"))
PITCH_NAMES = ("c", "cs", "d", "ds", "e", "f", "fs", "g", "gs", "a", "as", "b")


def audio_sources(bands: object = None) -> dict[str, str]:
    """The audio analysis' sources (controllers.audio.analysis), for a show with ``inputs: audio:``."""
    names = [b[0] for b in bands] if isinstance(bands, tuple) else ["bass", "mid", "high"]
    found = {f"audio.{key}": f"audio: {doc}" for key, doc in AUDIO_SCALARS}
    found.update({f"audio.band.{name}": f"audio: energy in the {name} band 0..1" for name in names})
    found.update({f"audio.chroma.{pc}": f"audio: pitch class {pc.replace('s', '#').upper()} 0..1"
                  for pc in PITCH_NAMES})
    return found
