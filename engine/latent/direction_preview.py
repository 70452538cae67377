"""A contact sheet of directions: one row per direction, −α … +α across, for a few seeds, so a performer can
see what each knob does and name it (``--preview-directions OUT.png``).

    sheet = preview_sheet(G, sefa(G, count=6), seeds=(0, 1), alphas=(-3, -1.5, 0, 1.5, 3), size=128)
    cv2.imwrite("directions.png", sheet[..., ::-1])
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import torch

from engine.latent.directions import DirectionSet
from engine.models.networks import Generator
from engine.models.tone import to_uint8_hwc

MAX_SHEET_CELLS = 2048          # thumbnails in one sheet (each is one synthesis)
LABEL_WIDTH = 120


def preview_sheet(G: Generator, directions: DirectionSet, seeds: Sequence[int] = (0, 1),
                  alphas: Sequence[float] = (-3.0, -1.5, 0.0, 1.5, 3.0), size: int = 128, psi: float = 0.7,
                  gap: int = 8) -> np.ndarray:
    """RGB uint8 [H, W, 3]: a row per direction (its name at the left); per seed, one thumbnail per α."""
    if len(directions) * len(seeds) * len(alphas) > MAX_SHEET_CELLS:
        raise ValueError(f"a preview of {len(directions)} directions × {len(seeds)} seeds × {len(alphas)} steps "
                         f"is more than {MAX_SHEET_CELLS} images")
    width = LABEL_WIDTH + len(seeds) * (len(alphas) * size + gap)
    sheet = np.full((len(directions) * (size + gap) + gap, width, 3), 24, np.uint8)
    with torch.no_grad():
        bases = [G.mapping(torch.from_numpy(np.random.RandomState(seed).randn(1, G.z_dim)).float().to(G.device),
                           None, truncation_psi=psi) for seed in seeds]
        for row, name in enumerate(directions.names):
            top = gap + row * (size + gap)
            cv2.putText(sheet, name[:14], (6, top + size // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (230, 230, 230), 1,
                        cv2.LINE_AA)
            for s, ws in enumerate(bases):
                batch = torch.cat([directions.apply(ws, {name: float(a)}) for a in alphas])
                images = to_uint8_hwc(G.synthesis(batch), G.tone_map).cpu().numpy()
                for col, image in enumerate(images):
                    left = LABEL_WIDTH + s * (len(alphas) * size + gap) + col * size
                    sheet[top:top + size, left:left + size] = cv2.resize(image, (size, size),
                                                                         interpolation=cv2.INTER_AREA)
    return sheet
