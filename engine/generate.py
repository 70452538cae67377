"""One frame from one walk frame: synthesis, tone mapping and the single copy to the host.

:class:`FrameSynthesizer` is the piece of the generator path that both the offline renderer and the live
generator worker call. It owns the per-frame details that are easy to get wrong:

* ``torch.inference_mode`` (no autograd bookkeeping);
* seeded noise for ``noise_mode="random"`` (a ``torch.Generator`` reseeded from the walk frame, so random
  noise is repeatable too);
* conversion to uint8 RGB on the device, then one copy into a reusable host buffer (pinned on CUDA, so the
  copy is a DMA that does not stall the next frame's kernels).

    >>> synth = FrameSynthesizer(G)                          # doctest: +SKIP
    >>> rgb = synth.render(walker.frame_at(0.0))             # doctest: +SKIP
    >>> rgb.shape, rgb.dtype                                 # doctest: +SKIP
    ((256, 256, 3), dtype('uint8'))
"""

from __future__ import annotations

import numpy as np
import torch

from engine.latent.walker import WalkFrame
from engine.models.networks import Generator
from engine.models.tone import to_uint8_hwc


class FrameSynthesizer:
    """Turns :class:`WalkFrame` s into [H, W, 3] uint8 arrays for one generator."""

    def __init__(self, G: Generator) -> None:
        self.G = G
        self.device = G.device
        self._noise = torch.Generator(device=self.device)
        self._host: torch.Tensor | None = None
        self._copy_done: torch.cuda.Event | None = None

    def synthesize(self, frame: WalkFrame) -> torch.Tensor:
        """The tone-mapped uint8 image [H, W, 3] on the generator's device."""
        with torch.inference_mode():
            ws = frame.ws.to(self.device, torch.float32, non_blocking=True)
            generator = None
            if frame.noise_mode == "random":
                generator = self._noise.manual_seed(frame.noise_seed)
            img = self.G.synthesis(ws, noise_mode=frame.noise_mode, noise_generator=generator)
            return to_uint8_hwc(img, self.G.tone_map)[0]

    def render(self, frame: WalkFrame) -> np.ndarray:
        """The frame as a host array. The array is a new copy: safe to hand to another thread."""
        rgb = self.synthesize(frame)
        if rgb.device.type == "cpu":
            return rgb.numpy()
        if self._host is None or self._host.shape != rgb.shape:
            self._host = torch.empty(rgb.shape, dtype=torch.uint8, pin_memory=True)
            self._copy_done = torch.cuda.Event()
        assert self._copy_done is not None
        self._host.copy_(rgb, non_blocking=True)
        self._copy_done.record()
        self._copy_done.synchronize()  # wait for this copy only, not for the whole device
        return self._host.numpy().copy()
