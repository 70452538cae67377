"""The architecture of a StyleGAN2 generator as one frozen, JSON-friendly record.

A network pickle stores the keyword arguments its Generator was built with (``_init_kwargs``). This module turns
them into a :class:`GeneratorConfig`, refusing anything it does not understand instead of guessing, so a model
either rebuilds exactly or fails with a message that names the offending argument.

    >>> cfg = GeneratorConfig(z_dim=512, c_dim=0, w_dim=512, img_resolution=256, img_channels=3)
    >>> cfg.num_ws, cfg.block_resolutions[-1], cfg.channels(256)
    (14, 256, 128)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any, Literal

Architecture = Literal["orig", "skip", "resnet"]
NoiseMode = Literal["const", "random", "none"]
NOISE_MODES: tuple[str, ...] = ("const", "random", "none")   # per-pixel noise: fixed, seeded per frame, off
ARCHITECTURES: tuple[str, ...] = ("orig", "skip", "resnet")


# Bounds on what a model file may ask for. They are far above every published StyleGAN2 configuration
# (1024², 512 channels, 8 mapping layers, w_dim 512, 4-tap filters) and far below what would exhaust memory.
MAX_RESOLUTION = 4096
MAX_FEATURES = 8192
MAX_FIR_TAPS = 16
LIMITS: dict[str, int] = {"z_dim": MAX_FEATURES, "c_dim": 100_000, "w_dim": MAX_FEATURES, "img_channels": 4,
                          "mapping_layers": 32, "channel_base": 2 ** 22, "channel_max": MAX_FEATURES,
                          "num_fp16_res": 16}


class ConfigError(ValueError):
    """A generator configuration that this engine cannot build; the message names the argument."""


def _finite(value: Any) -> bool:
    """A plain finite number (an int too large for a float is not: math.isfinite would raise on it)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return abs(value) < 1e300 if isinstance(value, int) else math.isfinite(value)


def _short(value: Any) -> str:
    """A bounded repr of an untrusted value, for messages."""
    text = repr(value) if isinstance(value, (int, float, str, bool, type(None))) else type(value).__name__
    return text if len(text) <= 60 else text[:57] + "..."


@dataclasses.dataclass(frozen=True)
class GeneratorConfig:
    """Everything needed to rebuild a StyleGAN2 generator (the official defaults where optional)."""

    z_dim: int                                  # input latent (Z) dimensionality
    c_dim: int                                  # conditioning label dimensionality, 0 = unconditional
    w_dim: int                                  # intermediate latent (W) dimensionality
    img_resolution: int                         # output resolution, a power of two >= 4
    img_channels: int                           # output channels (3 = RGB)
    mapping_layers: int = 8                     # fully connected layers in the mapping network
    mapping_lr_multiplier: float = 0.01         # learning-rate multiplier of the mapping layers (sets their gains)
    embed_features: int | None = None           # label embedding size, None = w_dim
    layer_features: int | None = None           # mapping hidden size, None = w_dim
    w_avg_beta: float | None = 0.995            # tracking decay of w_avg; None = no w_avg (no truncation)
    channel_base: int = 32768                   # channels at resolution r are min(channel_base // r, channel_max)
    channel_max: int = 512                      # upper bound on channels per layer
    num_fp16_res: int = 0                       # how many of the highest resolutions run in reduced precision
    conv_clamp: float | None = None             # clamp of convolution outputs (needed for fp16), None = off
    architecture: Architecture = "skip"         # 'orig' / 'skip' / 'resnet' synthesis blocks
    resample_filter: tuple[float, ...] = (1.0, 3.0, 3.0, 1.0)  # 1-D FIR taps of the up-sampling low-pass
    use_noise: bool = True                      # per-pixel noise inputs in the synthesis layers

    def __post_init__(self) -> None:
        """Every value is checked for type and against sane bounds here, before anything is built from it:
        a model file's kwargs are untrusted, and an absurd resolution or layer count would otherwise allocate
        gigabytes (the loader then also checks them against the stored weights' shapes)."""
        for name, limit in LIMITS.items():
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= limit:
                raise ConfigError(f"{name} must be an integer in 0..{limit}, got {_short(value)}")
        if self.z_dim == 0 or self.w_dim == 0 or self.img_channels == 0 or self.channel_max == 0:
            raise ConfigError("z_dim, w_dim, img_channels and channel_max must be positive")
        res = self.img_resolution
        if not isinstance(res, int) or isinstance(res, bool) or not 4 <= res <= MAX_RESOLUTION or res & (res - 1):
            raise ConfigError(f"img_resolution must be a power of two in 4..{MAX_RESOLUTION}, got {_short(res)}")
        if not isinstance(self.architecture, str) or self.architecture not in ARCHITECTURES:
            raise ConfigError(f"architecture must be one of {ARCHITECTURES}, got {_short(self.architecture)}")
        if self.mapping_layers < 1:
            raise ConfigError(f"mapping_layers must be >= 1, got {self.mapping_layers}")
        for name in ("embed_features", "layer_features"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                                      or not 1 <= value <= MAX_FEATURES):
                raise ConfigError(f"{name} must be None or an integer in 1..{MAX_FEATURES}, got {_short(value)}")
        if not _finite(self.mapping_lr_multiplier) or not 0 < self.mapping_lr_multiplier <= 1e3:
            raise ConfigError(f"mapping_lr_multiplier must be a number in (0, 1000], got "
                              f"{_short(self.mapping_lr_multiplier)}")
        if self.w_avg_beta is not None and not (_finite(self.w_avg_beta) and 0 <= self.w_avg_beta <= 1):
            raise ConfigError(f"w_avg_beta must be None or a number in 0..1, got {_short(self.w_avg_beta)}")
        if self.conv_clamp is not None and not (_finite(self.conv_clamp) and 0 < self.conv_clamp <= 1e6):
            raise ConfigError(f"conv_clamp must be None or a number in (0, 1e6], got {_short(self.conv_clamp)}")
        taps = self.resample_filter
        if not isinstance(taps, tuple) or not 2 <= len(taps) <= MAX_FIR_TAPS or len(taps) % 2 \
                or not all(_finite(t) for t in taps) or sum(taps) == 0:
            raise ConfigError(f"resample_filter must be 2..{MAX_FIR_TAPS} (an even number of) finite taps with a "
                              f"non-zero sum, got {_short(taps)}")
        if not isinstance(self.use_noise, bool):
            raise ConfigError(f"use_noise must be true or false, got {_short(self.use_noise)}")
        if any(self.channels(r) < 1 for r in self.block_resolutions):
            raise ConfigError("channel_base is too small: some resolution would get zero channels")

    # ----------------------------------------------------------------------------------------- derived layout
    @property
    def block_resolutions(self) -> tuple[int, ...]:
        """Resolutions of the synthesis blocks, 4 up to img_resolution."""
        return tuple(2 ** i for i in range(2, int(math.log2(self.img_resolution)) + 1))

    def channels(self, resolution: int) -> int:
        """Feature channels of the block at ``resolution``."""
        return min(self.channel_base // resolution, self.channel_max)

    @property
    def fp16_resolution(self) -> int:
        """Lowest resolution whose block runs in reduced precision (the official rule)."""
        return max(2 ** (int(math.log2(self.img_resolution)) + 1 - self.num_fp16_res), 8)

    @property
    def num_ws(self) -> int:
        """Number of W vectors the synthesis network consumes: one per conv, plus the last block's toRGB."""
        return 1 + 2 * (len(self.block_resolutions) - 1) + 1

    # ------------------------------------------------------------------------------------------ conversion
    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["resample_filter"] = list(self.resample_filter)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GeneratorConfig:
        """Rebuild from :meth:`to_dict` output (e.g. a converted model's JSON); unknown keys are an error."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"a generator config must be a mapping, got {_short(data)}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(str(k) for k in set(data) - known)
        if unknown:
            raise ConfigError(f"unknown generator config keys {unknown}; expected some of {sorted(known)}")
        values = dict(data)
        if "resample_filter" in values:
            values["resample_filter"] = _taps(values["resample_filter"])
        try:
            return cls(**values)
        except TypeError as exc:
            raise ConfigError(str(exc)) from None

    def to_official_kwargs(self) -> dict[str, Any]:
        """The StyleGAN2-ADA Generator keyword arguments that build this architecture."""
        mapping: dict[str, Any] = {"num_layers": self.mapping_layers}
        if self.mapping_lr_multiplier != 0.01:
            mapping["lr_multiplier"] = self.mapping_lr_multiplier
        for key in ("embed_features", "layer_features"):
            if getattr(self, key) is not None:
                mapping[key] = getattr(self, key)
        if self.w_avg_beta != 0.995:
            mapping["w_avg_beta"] = self.w_avg_beta
        synthesis: dict[str, Any] = {"channel_base": self.channel_base, "channel_max": self.channel_max,
                                     "num_fp16_res": self.num_fp16_res, "conv_clamp": self.conv_clamp,
                                     "architecture": self.architecture,
                                     "resample_filter": list(self.resample_filter), "use_noise": self.use_noise}
        return {"z_dim": self.z_dim, "c_dim": self.c_dim, "w_dim": self.w_dim, "img_resolution": self.img_resolution,
                "img_channels": self.img_channels, "mapping_kwargs": mapping, "synthesis_kwargs": synthesis}

    @classmethod
    def from_official_kwargs(cls, kwargs: Mapping[str, Any]) -> GeneratorConfig:
        """Translate the ``_init_kwargs`` of an official Generator.

        StyleGAN2-ADA nests ``mapping_kwargs`` and ``synthesis_kwargs``; the StyleGAN3 repository's StyleGAN2
        Generator nests ``mapping_kwargs`` and takes the synthesis arguments flat. Both are accepted.
        """
        kw = dict(kwargs)
        mapping, synthesis = kw.pop("mapping_kwargs", None) or {}, kw.pop("synthesis_kwargs", None) or {}
        for name, value in (("mapping_kwargs", mapping), ("synthesis_kwargs", synthesis)):
            if not isinstance(value, Mapping):
                raise ConfigError(f"{name} must be a mapping, got {_short(value)}")
        mapping, synthesis = dict(mapping), dict(synthesis)
        required = ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels")
        missing = [k for k in required if k not in kw]
        if missing:
            raise ConfigError(f"generator kwargs lack {missing}; found {sorted(str(k) for k in kw)[:20]}")
        values: dict[str, Any] = {k: kw.pop(k) for k in required}
        synthesis.update(kw)  # StyleGAN3-repo style: the rest are synthesis kwargs
        mapping_names = {"num_layers": "mapping_layers", "lr_multiplier": "mapping_lr_multiplier",
                         "embed_features": "embed_features", "layer_features": "layer_features",
                         "w_avg_beta": "w_avg_beta"}
        for key, value in mapping.items():
            if key == "activation":
                _require(isinstance(value, str), f"mapping activation must be a name, got {_short(value)}")
                _require(value == "lrelu", f"mapping activation {_short(value)} is not supported (only 'lrelu')")
            elif key in mapping_names:
                values[mapping_names[key]] = value
            elif key not in ("z_dim", "c_dim", "w_dim", "num_ws"):
                raise ConfigError(f"unknown mapping argument {_short(key)}={_short(value)}")
        for key, value in synthesis.items():
            if key in ("channel_base", "channel_max", "num_fp16_res", "conv_clamp", "architecture", "use_noise"):
                values[key] = value
            elif key == "resample_filter":
                values[key] = _taps(value)
            elif key == "activation":
                _require(isinstance(value, str), f"synthesis activation must be a name, got {_short(value)}")
                _require(value == "lrelu", f"synthesis activation {_short(value)} is not supported (only 'lrelu')")
            elif key in ("fp16_channels_last", "kernel_size"):
                _require(key != "kernel_size" or (type(value) is int and value == 3),
                         f"kernel_size {_short(value)} is not supported (only 3)")
            elif key not in ("w_dim", "img_resolution", "img_channels"):
                raise ConfigError(f"unknown synthesis argument {_short(key)}={_short(value)}")
        if _finite(values.get("conv_clamp")):
            values["conv_clamp"] = float(values["conv_clamp"])
        if _finite(values.get("mapping_lr_multiplier")):
            values["mapping_lr_multiplier"] = float(values["mapping_lr_multiplier"])
        return cls(**values)


def _taps(value: Any) -> tuple[float, ...]:
    """FIR taps from a stored list: a short sequence of plain numbers (checked further by the config)."""
    if not isinstance(value, (list, tuple)) or len(value) > MAX_FIR_TAPS or not all(_finite(t) for t in value):
        raise ConfigError(f"resample_filter must be a list of at most {MAX_FIR_TAPS} finite numbers, got "
                          f"{_short(value)}")
    return tuple(float(t) for t in value)


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)
