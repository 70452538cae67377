"""Shows: YAML cue lists (model, outputs, parameters, shader chain, cues), loaded, validated and run."""

from engine.show.load import ShowError, ShowLoadError, load_show
from engine.show.model import Cue, Show
from engine.show.runner import ShowRunner

__all__ = ["Cue", "Show", "ShowError", "ShowLoadError", "ShowRunner", "load_show"]
