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
    lines.append("sources (read-only, from inputs): none yet; audio, camera, MIDI and sensor inputs add theirs")
    return lines
