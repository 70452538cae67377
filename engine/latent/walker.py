"""The latent walker: a pure function from time to the W that the generator draws next.

    walker = LatentWalker(G, WalkSettings(keyframes=(Keyframe(seed=1), Keyframe(seed=2))))
    walker.ws_at(1.5).shape   # torch.Size([1, 14, 512])

Keyframes are resolved once (seeds go through the mapping network a single time); after that ``ws_at(t)`` is
cheap and deterministic: the same settings and time always give the same W, which is what makes offline
renders repeatable and lets a live engine jump anywhere in a walk.

Paths between keyframes:

* ``linear`` — straight lines in W (eased per segment): StyleGAN's W is close to linear in what it shows.
* ``slerp`` — great circles in Z, mapped every frame: the classic "interpolate z" walk; needs keyframes
  that have a z (seeds, or latent files read as Z).
* ``cubic`` — a Catmull-Rom spline through the keyframes in W: no stop-and-turn at keyframes, and when the
  walk loops the seam from the last keyframe back to the first is as smooth as any other keyframe.

Truncation (ψ, cutoff) is applied last, per frame, so it can change live without re-resolving anything;
style mixing replaces a range of layers with another keyframe's (untruncated) ws before truncation.
"""

from __future__ import annotations

import dataclasses
import math

import torch

from engine.latent.interpolate import catmull_rom, ease, lerp, slerp
from engine.latent.keyframes import ResolvedKeyframe, resolve_keyframe, resolve_keyframes
from engine.latent.spec import (EASINGS, INTERPOLATIONS, MAX_KEYFRAMES, PSI_RANGE, SECONDS_PER_KEYFRAME, Easing,
                                Interpolation, Keyframe)
from engine.models.networks import NOISE_MODES, Generator, NoiseMode

__all__ = ["INTERPOLATIONS", "Interpolation", "LatentWalker", "PSI_RANGE", "SECONDS_PER_KEYFRAME", "StyleMix",
           "WalkFrame", "WalkSettings"]


@dataclasses.dataclass(frozen=True)
class StyleMix:
    """Take layers ``start``…``end - 1`` of the ws from another keyframe (coarse layers = pose/layout,
    fine layers = colour/texture)."""

    keyframe: Keyframe
    start: int                      # first layer taken from the mix keyframe
    end: int | None = None          # one past the last mixed layer; None = up to num_ws


@dataclasses.dataclass(frozen=True)
class WalkSettings:
    """Everything that defines a walk; a walk is a pure function of these and time."""

    keyframes: tuple[Keyframe, ...]             # the stops, in order
    seconds_per_keyframe: float = 4.0           # travel time from one keyframe to the next
    interpolation: Interpolation = "cubic"      # linear (W) / slerp (Z) / cubic (Catmull-Rom in W)
    easing: Easing = "linear"                   # speed profile within each segment
    loop: bool = True                           # return from the last keyframe to the first, forever
    truncation_psi: float = 0.7                 # 1 = untruncated, 0 = the average image
    truncation_cutoff: int | None = None        # truncate only the first `cutoff` layers; None = all
    style_mix: StyleMix | None = None           # optional layer range from another keyframe
    noise_mode: NoiseMode = "const"             # const / random (seeded per frame) / none
    noise_seed: int = 0                         # base seed of random noise

    def __post_init__(self) -> None:
        if not self.keyframes:
            raise ValueError("a walk needs at least one keyframe")
        if len(self.keyframes) > MAX_KEYFRAMES:
            raise ValueError(f"a walk holds at most {MAX_KEYFRAMES} keyframes, got {len(self.keyframes)}")
        low, high = SECONDS_PER_KEYFRAME
        if not (isinstance(self.seconds_per_keyframe, (int, float)) and low <= self.seconds_per_keyframe <= high):
            raise ValueError(f"seconds_per_keyframe must be between {low:g} and {high:g}, got {self.seconds_per_keyframe!r}")
        if self.interpolation not in INTERPOLATIONS:
            raise ValueError(f"interpolation must be one of {INTERPOLATIONS}, got {self.interpolation!r}")
        if self.easing not in EASINGS:
            raise ValueError(f"easing must be one of {EASINGS}, got {self.easing!r}")
        if self.noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {self.noise_mode!r}")
        if not (isinstance(self.truncation_psi, (int, float)) and PSI_RANGE[0] <= self.truncation_psi <= PSI_RANGE[1]):
            raise ValueError(f"truncation_psi must be between {PSI_RANGE[0]:g} and {PSI_RANGE[1]:g}, "
                             f"got {self.truncation_psi!r}")
        if self.truncation_cutoff is not None and self.truncation_cutoff < 0:
            raise ValueError(f"truncation_cutoff must be >= 0 or None, got {self.truncation_cutoff}")

    @property
    def num_segments(self) -> int:
        n = len(self.keyframes)
        return n if self.loop and n > 1 else max(n - 1, 0)

    @property
    def duration(self) -> float:
        """Seconds for one pass (a loop repeats it); 0 for a single keyframe."""
        return self.num_segments * self.seconds_per_keyframe


@dataclasses.dataclass(frozen=True)
class WalkFrame:
    """What the generator needs for one frame."""

    t: float                    # walk time in seconds
    ws: torch.Tensor            # [1, num_ws, w_dim], truncated and mixed
    noise_mode: NoiseMode
    noise_seed: int             # seed for noise_mode == "random" (a function of t)


class LatentWalker:
    """Resolves a walk's keyframes for one generator, then answers ``ws_at(t)``."""

    def __init__(self, G: Generator, settings: WalkSettings) -> None:
        self.G = G
        self.settings = settings
        self.points: list[ResolvedKeyframe] = resolve_keyframes(settings.keyframes, G)
        if settings.interpolation == "slerp":
            missing = [kf.describe() for kf, p in zip(settings.keyframes, self.points) if p.z is None]
            if missing:
                raise ValueError(f"slerp walks in Z, but these keyframes are W latents: {missing}; "
                                 "use 'linear' or 'cubic'")
        self._mix: tuple[torch.Tensor, int, int] | None = None
        if settings.style_mix is not None:
            mix = settings.style_mix
            end = G.num_ws if mix.end is None else mix.end
            if not 0 <= mix.start < end <= G.num_ws:
                raise ValueError(f"style mix layers must satisfy 0 <= start < end <= {G.num_ws}, "
                                 f"got start={mix.start}, end={mix.end}")
            self._mix = (resolve_keyframe(mix.keyframe, G).ws, mix.start, end)

    def locate(self, t: float) -> tuple[int, float]:
        """Which segment time ``t`` falls in, and the eased progress through it."""
        s = self.settings
        if s.num_segments == 0:
            return 0, 0.0
        pos = t / s.seconds_per_keyframe
        if s.loop:
            pos = pos % s.num_segments
        else:
            pos = min(max(pos, 0.0), float(s.num_segments))
        index = min(int(math.floor(pos)), s.num_segments - 1)
        return index, ease(pos - index, s.easing)

    def raw_ws_at(self, t: float) -> torch.Tensor:
        """Untruncated, unmixed ws [num_ws, w_dim] at time t."""
        s = self.settings
        k = len(self.points)
        if k == 1:
            return self.points[0].ws
        i, u = self.locate(t)
        j = (i + 1) % k
        if s.interpolation == "linear":
            return lerp(self.points[i].ws, self.points[j].ws, u)
        if s.interpolation == "slerp":
            a, b = self.points[i], self.points[j]
            assert a.z is not None and b.z is not None
            z = slerp(a.z, b.z, u)
            c = None if a.c is None or b.c is None else lerp(a.c, b.c, u)
            with torch.inference_mode():
                return self.G.mapping(z.unsqueeze(0), None if c is None else c.unsqueeze(0))[0]
        def at(n: int) -> torch.Tensor:
            return self.points[n % k if s.loop else min(max(n, 0), k - 1)].ws
        return catmull_rom(at(i - 1), at(i), at(i + 1), at(i + 2), u)

    def ws_at(self, t: float, truncation_psi: float | None = None,
              truncation_cutoff: int | None = None) -> torch.Tensor:
        """ws [1, num_ws, w_dim] at time t: interpolated, style-mixed, truncated (ψ overridable live)."""
        ws = self.raw_ws_at(t).unsqueeze(0)
        if self._mix is not None:
            mix_ws, start, end = self._mix
            ws = ws.clone()
            ws[:, start:end] = mix_ws[start:end]
        psi = self.settings.truncation_psi if truncation_psi is None else truncation_psi
        cutoff = self.settings.truncation_cutoff if truncation_cutoff is None else truncation_cutoff
        return self.G.mapping.truncate(ws, psi, cutoff)

    def frame_at(self, t: float, truncation_psi: float | None = None) -> WalkFrame:
        """Everything the generator needs for time t (ψ overridable, e.g. by a live parameter)."""
        return WalkFrame(t=t, ws=self.ws_at(t, truncation_psi), noise_mode=self.settings.noise_mode,
                         noise_seed=self.noise_seed_at(t))

    def noise_seed_at(self, t: float) -> int:
        """The seed of random noise at walk time t: a new one each microsecond of walk time, repeatable."""
        return (self.settings.noise_seed * 1_000_003 + int(round(t * 1_000_000))) % (2 ** 63)
