"""One frame from one walk frame: synthesis, tone mapping and the single copy to the host.

:class:`FrameSynthesizer` is the piece of the generator path that both the offline renderer and the live
generator worker call. It owns the per-frame details that are easy to get wrong:

* ``torch.inference_mode`` (no autograd bookkeeping);
* seeded noise for ``noise_mode="random"`` (a ``torch.Generator`` reseeded from the walk frame, so random
  noise is repeatable too);
* conversion to uint8 RGB on the device, then one copy into a reusable host buffer (pinned on CUDA, so the
  copy is a DMA that does not stall the next frame's kernels).

    synth = FrameSynthesizer(G)
    rgb = synth.render(walker.frame_at(0.0))
    rgb.shape, rgb.dtype   # ((256, 256, 3), dtype('uint8'))
"""

from __future__ import annotations

import numpy as np
import torch

from engine.latent.walker import WalkFrame
from engine.models.networks import Generator
from engine.models.tone import to_uint8_hwc


class NonFiniteFrame(RuntimeError):
    """The generator produced NaN or infinite values for a frame: it must not reach a screen or a video."""


class FrameSynthesizer:
    """Turns :class:`WalkFrame` s into [H, W, 3] uint8 arrays for one generator.

    **Frame guard**: every frame is checked for NaN and infinity (its W and its image, on the device, in the
    same copy as the pixels, so the check costs no extra synchronisation). A bad frame raises
    :class:`NonFiniteFrame` instead of becoming black or garbage pixels: live, the worker keeps the last
    good frame on screen and reports why; offline, the render stops with the frame number.
    """

    def __init__(self, G: Generator) -> None:
        self.G = G
        self.device = G.device
        self._noise = torch.Generator(device=self.device)
        self._host: torch.Tensor | None = None
        self._host_flags: torch.Tensor | None = None
        self._copy_done: torch.cuda.Event | None = None

    def synthesize(self, frame: WalkFrame) -> tuple[torch.Tensor, torch.Tensor]:
        """The tone-mapped uint8 image [H, W, 3] on the generator's device, and two flags on the device:
        whether the W and whether the image were all finite."""
        with torch.inference_mode():
            ws = frame.ws.to(self.device, torch.float32, non_blocking=True)
            generator = None
            if frame.noise_mode == "random":
                generator = self._noise.manual_seed(frame.noise_seed)
            img = self.G.synthesis(ws, noise_mode=frame.noise_mode, noise_generator=generator)
            flags = torch.stack([torch.isfinite(ws).all(), torch.isfinite(img).all()])
            return to_uint8_hwc(img, self.G.tone_map)[0], flags

    def render(self, frame: WalkFrame) -> np.ndarray:
        """The frame as a host array (a new copy: safe to hand to another thread); NonFiniteFrame if bad."""
        rgb, flags = self.synthesize(frame)
        if rgb.device.type == "cpu":
            self._check(flags, frame)
            return rgb.numpy()
        if self._host is None or self._host.shape != rgb.shape:
            self._host = torch.empty(rgb.shape, dtype=torch.uint8, pin_memory=True)
            self._host_flags = torch.empty(2, dtype=torch.bool, pin_memory=True)
            self._copy_done = torch.cuda.Event()
        assert self._copy_done is not None and self._host_flags is not None
        self._host.copy_(rgb, non_blocking=True)
        self._host_flags.copy_(flags, non_blocking=True)
        self._copy_done.record()
        self._copy_done.synchronize()  # wait for these copies only, not for the whole device
        self._check(self._host_flags, frame)
        return self._host.numpy().copy()

    @staticmethod
    def _check(flags: torch.Tensor, frame: WalkFrame) -> None:
        w_ok, image_ok = bool(flags[0]), bool(flags[1])
        if not w_ok:
            raise NonFiniteFrame(f"the latent W for walk time {frame.t:.3f} s holds NaN or infinite values")
        if not image_ok:
            raise NonFiniteFrame(f"the generator produced NaN or infinite values at walk time {frame.t:.3f} s "
                                 "(the model's weights or the truncation overflow)")
