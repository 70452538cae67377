"""Shows: YAML cue lists (model, outputs, parameters, shader chain, cues), loaded, validated and run.

Loading and validating (:func:`load_show`) needs neither torch nor GL; the runner is loaded on first use.
"""

from __future__ import annotations

from typing import Any

from engine.show.load import ShowError, ShowLoadError, load_show
from engine.show.model import Cue, Show

__all__ = ["Cue", "Show", "ShowError", "ShowLoadError", "ShowRunner", "load_show"]


def __getattr__(name: str) -> Any:
    if name == "ShowRunner":
        from engine.show.runner import ShowRunner
        return ShowRunner
    raise AttributeError(f"module 'engine.show' has no attribute {name!r}")
