"""The checks of a show that need its model, run once the model is loaded and before anything goes live.

Loading a show validates everything that the file alone decides. Some mistakes only show against the model:
a class label on an unconditional model (or none on a conditional one), a latent file whose vectors have
another model's width, a slerp walk through W latents. They are reported the same way, every one at once,
as ``file:line:column: E017 ...`` at the walk that holds the keyframe:

    errors = check_show_against_model(show, G)
    print("\\n".join(map(str, errors)))
    # shows/x.yaml:14:15: E017 seed 3 class 2: this model is unconditional; a class label makes no sense
"""

from __future__ import annotations

from collections.abc import Iterator

from engine.latent.keyframes import Keyframe, check_keyframe
from engine.models.networks import Generator
from engine.show.load import ShowError, ShowLoadError, load_show
from engine.show.model import Show, WalkAction


def walk_actions(show: Show) -> Iterator[WalkAction]:
    """The opening walk and every walk or keyframe action of the cues."""
    yield show.walk
    for cue in show.cues:
        yield from (a for a in cue.actions if isinstance(a, WalkAction))


def check_show_against_model(show: Show, G: Generator) -> list[ShowError]:
    """Every problem a show has with ``G`` (an empty list when it fits)."""
    errors: list[ShowError] = []
    reported: set[tuple[str, str]] = set()
    for action in walk_actions(show):
        for keyframe in action.keyframes:
            try:
                check_keyframe(keyframe, G)
            except ValueError as exc:  # LatentFileError included
                _add(errors, reported, show, keyframe, str(exc))
        if action.interpolation == "slerp":
            w_latents = [k for k in action.keyframes if k.path is not None and k.space == "w"]
            if w_latents:
                _add(errors, reported, show, w_latents[0], "slerp walks in Z, but this keyframe is a W latent; "
                                                           "use interpolation: linear or cubic")
    return sorted(errors, key=lambda e: (e.line, e.column))


def _add(errors: list[ShowError], reported: set[tuple[str, str]], show: Show, keyframe: Keyframe,
         message: str) -> None:
    path, line, column = show.path, 1, 1
    if keyframe.origin:
        prefix = keyframe.origin + ": "
        message = message[len(prefix):] if message.startswith(prefix) else message
        parts = keyframe.origin.rsplit(":", 2)
        if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
            path, line, column = parts[0], int(parts[1]), int(parts[2])
    key = (keyframe.origin or "", message.split(": ", 1)[-1])   # the problem, whichever seed of a range has it
    if key not in reported:       # one line per walk and problem, not one per seed of a range
        reported.add(key)
        errors.append(ShowError(path, line, column, "E017", message))


def load_show_for_model(path: str, G: Generator, shader_dir: str | None = None) -> Show:
    """:func:`~engine.show.load.load_show` plus the checks against ``G``: what a reload of a running show
    must pass before it replaces the show (ShowLoadError with every problem)."""
    show = load_show(path, shader_dir=shader_dir)
    problems = check_show_against_model(show, G)
    if problems:
        raise ShowLoadError(problems)
    return show
