"""One entry point for every model source: ``load_generator(path_or_"default", device=..., precision=...)``.

Sources:

* ``"default"`` — the embedded default model (``default.py``), no file needed.
* ``*.pkl`` — an official StyleGAN2-ADA / StyleGAN3-repo network pickle holding a StyleGAN2 generator, read
  by the restricted unpickler (``pickle_reader.py``): its ``G_ema`` is rebuilt from the stored kwargs and state.
* ``*.safetensors`` — a model converted once with :func:`save_generator` (weights + JSON config in the header),
  which loads without any pickle at all.

    >>> G = load_generator("default", device="cpu")                  # doctest: +SKIP
    >>> G = load_generator("ffhq.pkl", device="cuda")                # fp16 on CUDA by default  # doctest: +SKIP
    >>> save_generator(G, "ffhq.safetensors")                        # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from typing import Any

import torch

from engine.models.config import ConfigError, GeneratorConfig
from engine.models.networks import PRECISIONS, Generator, Precision
from engine.models.pickle_reader import ModelFileError, PersistentRecord, read_network_pickle

log = logging.getLogger(__name__)

DEFAULT_MODEL = "default"
_SAFETENSORS_CONFIG_KEY = "latentstage.generator_config"
_STYLEGAN2_CLASSES = {"Generator", "MappingNetwork", "SynthesisNetwork", "SynthesisBlock", "SynthesisLayer",
                      "ToRGBLayer", "FullyConnectedLayer", "Conv2dLayer"}


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` → CUDA when available, else the CPU; anything else is passed to :class:`torch.device`."""
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but CUDA is not available here")
    return dev


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX), where bf16 convs beat fp32 by far."""
    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except AttributeError:  # older torch builds lack the probes
        return False


def resolve_precision(precision: str, device: torch.device) -> Precision:
    """``"auto"`` → fp16 on CUDA (as the official networks run), fp32 on the CPU; bf16 is an explicit opt-in."""
    if precision == "auto":
        return "fp16" if device.type == "cuda" else "fp32"
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be 'auto' or one of {PRECISIONS}, got {precision!r}")
    if precision == "bf16" and device.type == "cpu" and not cpu_has_native_bf16():
        log.warning("bf16 asked for, but this CPU has no native bf16: it will be slower than fp32")
    return precision  # type: ignore[return-value]


def load_generator(path: str | os.PathLike[str] = DEFAULT_MODEL, device: str | torch.device = "auto",
                   precision: str = "auto") -> Generator:
    """Load a generator from ``path`` (see the module docstring), move it to ``device``, set its precision.

    Raises :class:`ModelFileError` with the file name and the problem for anything that cannot be loaded.
    """
    dev = resolve_device(device)
    prec = resolve_precision(precision, dev)
    name = os.fspath(path)
    if name == DEFAULT_MODEL:
        from engine.models.default import build_default_generator
        G = build_default_generator()
    elif name.endswith(".safetensors"):
        G = _load_safetensors(name)
    else:
        G = generator_from_pickle(name)
    return G.to(dev).set_precision(prec)


def generator_from_pickle(path: str) -> Generator:
    """Rebuild the generator of a network pickle (its ``G_ema``; ``G`` if there is no ``G_ema``)."""
    data = read_network_pickle(path)
    key = "G_ema" if isinstance(data.get("G_ema"), PersistentRecord) else "G"
    record = data.get(key)
    if not isinstance(record, PersistentRecord):
        found = {k: type(v).__name__ for k, v in data.items()}
        raise ModelFileError(f"{path}: no generator network (G_ema or G) found; the file holds {found}")
    if key == "G":
        log.warning("%s: no G_ema in the file, using G (the non-averaged weights)", path)
    _check_supported(path, record)
    try:
        config = GeneratorConfig.from_official_kwargs(_bind_generator_args(record))
    except ConfigError as exc:
        raise ModelFileError(f"{path}: unsupported generator configuration: {exc}") from None
    G = Generator(config)
    _load_state(path, G, dict(record.named_tensors()))
    return G


def _check_supported(path: str, record: PersistentRecord) -> None:
    classes = {r.class_name for r in record.walk()}
    synthesis = record.children.get("synthesis")
    if record.class_name != "Generator" or synthesis is None or "mapping" not in record.children:
        raise ModelFileError(f"{path}: expected a StyleGAN2 'Generator' with mapping and synthesis networks, "
                             f"found a {record.class_name!r} with parts {sorted(record.children)}")
    if "SynthesisInput" in classes or "input" in synthesis.children:
        raise ModelFileError(f"{path}: this is a StyleGAN3 (alias-free) generator ('SynthesisInput' layers); "
                             "only StyleGAN2 generators are supported yet")
    unknown = sorted(classes - _STYLEGAN2_CLASSES)
    if unknown:
        raise ModelFileError(f"{path}: unsupported network classes {unknown}; expected StyleGAN2 networks "
                             f"({', '.join(sorted(_STYLEGAN2_CLASSES))})")


def _bind_generator_args(record: PersistentRecord) -> dict[str, Any]:
    """The official Generator's constructor arguments as keywords (positional ones bound by position)."""
    names = ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels", "mapping_kwargs")
    args = record.init_args
    if len(args) > len(names):
        raise ConfigError(f"too many positional Generator arguments: {args!r}")
    kwargs = dict(zip(names, args))
    kwargs.update(record.init_kwargs)
    return kwargs


def _load_state(path: str, G: Generator, tensors: Mapping[str, torch.Tensor]) -> None:
    """Copy tensors into G, insisting on exactly the expected names and shapes."""
    expected = G.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise ModelFileError(f"{path}: the stored weights do not match the architecture in its kwargs; "
                             f"missing {missing[:5]}{'…' if len(missing) > 5 else ''}, "
                             f"unexpected {unexpected[:5]}{'…' if len(unexpected) > 5 else ''}")
    for name, want in expected.items():
        got = tensors[name]
        if not isinstance(got, torch.Tensor) or tuple(got.shape) != tuple(want.shape):
            shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
            raise ModelFileError(f"{path}: '{name}' has shape {shape}, expected {tuple(want.shape)}")
        if not got.is_floating_point():
            raise ModelFileError(f"{path}: '{name}' has dtype {got.dtype}, expected a floating-point tensor")
        if name.endswith("resample_filter") and not torch.allclose(got.float(), want, atol=1e-6):
            raise ModelFileError(f"{path}: '{name}' is not the separable filter its kwargs describe")
    G.load_state_dict({k: v.to(torch.float32) for k, v in tensors.items()})


# ---------------------------------------------------------------------------------- the safetensors format
def save_generator(G: Generator, path: str | os.PathLike[str]) -> None:
    """Write G as safetensors with its config in the header: a model file that holds no code at all."""
    from safetensors.torch import save_file
    state = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in G.state_dict().items()}
    save_file(state, os.fspath(path), metadata={_SAFETENSORS_CONFIG_KEY: json.dumps(G.config.to_dict())})


def _load_safetensors(path: str) -> Generator:
    from safetensors import SafetensorError, safe_open
    try:
        with safe_open(path, framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except FileNotFoundError:
        raise ModelFileError(f"{path}: no such file") from None
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelFileError(f"{path}: not a readable safetensors file ({exc})") from None
    if _SAFETENSORS_CONFIG_KEY not in meta:
        raise ModelFileError(f"{path}: safetensors file without a '{_SAFETENSORS_CONFIG_KEY}' header; "
                             "convert models with `python launch.py --model MODEL.pkl --convert OUT.safetensors`")
    try:
        config = GeneratorConfig.from_dict(json.loads(meta[_SAFETENSORS_CONFIG_KEY]))
    except (ConfigError, json.JSONDecodeError, TypeError) as exc:
        raise ModelFileError(f"{path}: bad generator config in the header: {exc}") from None
    G = Generator(config)
    _load_state(path, G, tensors)
    return G
