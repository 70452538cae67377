"""Directions learned live: the performer labels what is on screen, the engine learns the knob.

A key or an OSC message (``/direction/{name}/positive``, ``…/negative``) labels the frame on screen; once
both sides of a name have :data:`MIN_LABELS` frames, a linear SVM (:mod:`engine.latent.learn_direction`)
runs on a thread of its own and the direction ``dir.{name}`` appears, and is learned again as more labels
come. The frame loop only hands over a W and picks up finished directions; it never waits.

    learner = DirectionLearner(G)
    learner.label("stormy", True, ws)          # the frame loop, on a key press
    for name, directions, message in learner.finished(): ...
"""

from __future__ import annotations

import re
import threading

import numpy as np
import torch

from engine.latent.directions import DirectionSet, spread
from engine.latent.learn_direction import learn_direction
from engine.models.networks import Generator

MIN_LABELS = 5                  # frames per side before a direction is learned
MAX_LABELS = 2000               # frames kept per side and name (the oldest go first)
MAX_NAMES = 16
_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}\Z")


class DirectionLearner:
    def __init__(self, G: Generator) -> None:
        self.G = G
        self._labels: dict[str, tuple[list[np.ndarray], list[np.ndarray]]] = {}
        self._busy: threading.Thread | None = None
        self._pending: set[str] = set()
        self._done: list[tuple[str, DirectionSet, str]] = []
        self._lock = threading.Lock()

    def label(self, name: str, positive: bool, ws: torch.Tensor) -> str:
        """Label the frame whose W is ``ws`` [1, num_ws, w_dim]; a line for the HUD."""
        if not _NAME.match(name):
            raise ValueError(f"a direction's name is lower case letters, digits and _, got {name[:40]!r}")
        if name not in self._labels and len(self._labels) >= MAX_NAMES:
            raise ValueError(f"at most {MAX_NAMES} directions are learned live")
        sides = self._labels.setdefault(name, ([], []))
        side = sides[0 if positive else 1]
        side.append(ws.detach().float().mean(dim=1)[0].cpu().numpy())
        del side[:-MAX_LABELS]
        counts = f"{len(sides[0])}+ {len(sides[1])}-"
        if min(len(sides[0]), len(sides[1])) >= MIN_LABELS:
            self._pending.add(name)
            self._start()
            return f"direction {name}: {counts} frames, learning"
        return f"direction {name}: {counts} frames ({MIN_LABELS} of each are needed)"

    def finished(self) -> list[tuple[str, DirectionSet, str]]:
        """Directions learned since the last call: (name, a one-direction set, a line for the HUD)."""
        with self._lock:
            done, self._done = self._done, []
        if self._pending and (self._busy is None or not self._busy.is_alive()):
            self._start()
        return done

    def _start(self) -> None:
        if self._busy is not None and self._busy.is_alive() or not self._pending:
            return
        name = self._pending.pop()
        positive, negative = (np.stack(side) for side in self._labels[name])
        self._busy = threading.Thread(target=self._learn, args=(name, positive, negative), daemon=True,
                                      name=f"learn-{name}")
        self._busy.start()

    def _learn(self, name: str, positive: np.ndarray, negative: np.ndarray) -> None:
        try:
            learned = learn_direction(positive, negative)
            vectors = learned.normal[None]
            found = DirectionSet((name,), vectors, spread(self.G, vectors), ((0, self.G.num_ws),),
                                 source=f"learned live from {learned.examples[0]}+ {learned.examples[1]}- frames")
            message = (f"direction {name} learned from {learned.examples[0]}+ {learned.examples[1]}- frames "
                       f"({'held-out' if learned.held_out else 'training'} accuracy {learned.accuracy:.0%})")
        except Exception as exc:  # a failed fit is reported; the labels stay for the next try
            found, message = DirectionSet((), np.zeros((0, self.G.w_dim), np.float32), np.zeros(0, np.float32), ()), \
                f"! direction {name} not learned: {exc}"
        with self._lock:
            self._done.append((name, found, message))
