"""One entry point for every model source: ``load_generator(path_or_"default", device=..., precision=...)``.

Sources:

* ``"default"`` — the embedded default model: ``default.safetensors``, shipped inside the package and read
  like any converted model below (``default.py`` holds the recipe that made it).
* ``*.pkl`` — an official StyleGAN2-ADA / StyleGAN3-repo network pickle holding a StyleGAN2 generator, read
  by the restricted unpickler (``pickle_reader.py``): its ``G_ema`` is rebuilt from the stored kwargs and state.
* ``*.safetensors`` — a model converted once with :func:`save_generator` (weights + JSON config in the header),
  which loads without any pickle at all.

    G = load_generator("default", device="cpu")
    G = load_generator("ffhq.pkl", device="cuda")                # fp16 on CUDA by default
    save_generator(G, "ffhq.safetensors")
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Callable, Mapping
from typing import Any

import torch

from engine.models.config import ConfigError, GeneratorConfig
from engine.models.networks import PRECISIONS, Generator, Precision
from engine.models import ops
from engine.models.pickle_reader import ModelFileError, PersistentRecord, RecordError, read_network_pickle
from engine.models.tone import TONE_MAPS

log = logging.getLogger(__name__)

DEFAULT_MODEL = "default"
_SAFETENSORS_CONFIG_KEY = "latentstage.generator_config"
_SAFETENSORS_TONE_KEY = "latentstage.tone_map"          # how values outside [-1, 1] are shown (tone.py)
_STYLEGAN2_CLASSES = {"Generator", "MappingNetwork", "SynthesisNetwork", "SynthesisBlock", "SynthesisLayer",
                      "ToRGBLayer", "FullyConnectedLayer", "Conv2dLayer"}


DEVICE_TYPES = ("cpu", "cuda", "mps")


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` → CUDA when available, else the CPU; otherwise ``cpu``, ``cuda``, ``cuda:N`` or ``mps``
    (ValueError for anything else, such as ``meta``, or for a device this machine does not have)."""
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device must be auto, cpu, cuda, cuda:N or mps, got {str(device)[:40]!r}") from None
    if dev.type not in DEVICE_TYPES:
        raise ValueError(f"device must be auto, cpu, cuda, cuda:N or mps, got {str(device)[:40]!r}")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {str(device)!r} asked for, but CUDA is not available here")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ValueError(f"device {str(device)!r} asked for, but this machine has {torch.cuda.device_count()} GPU(s)")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError("device 'mps' asked for, but Apple's Metal backend is not available here")
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
    if name != DEFAULT_MODEL and os.path.isdir(name):
        raise ModelFileError(f"{name}: is a folder, expected a model file (.pkl or .safetensors)")
    if name == DEFAULT_MODEL:                  # a file like any other, shipped inside the package
        from engine.models.default import DEFAULT_FILE
        G = _load_safetensors(DEFAULT_FILE)
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
        found = {str(k)[:40]: type(v).__name__ for k, v in list(data.items())[:10]}
        raise ModelFileError(f"{path}: no generator network (G_ema or G) found; the file holds {found}")
    if key == "G":
        log.warning("%s: no G_ema in the file, using G (the non-averaged weights)", path)
    try:
        _check_supported(path, record)
        config = GeneratorConfig.from_official_kwargs(_bind_generator_args(record))
        tensors = dict(record.named_tensors())
    except (ConfigError, RecordError) as exc:
        raise ModelFileError(f"{path}: unsupported generator configuration: {exc}") from None
    return build_checked(path, config, {name: (tuple(t.shape), t.dtype) for name, t in tensors.items()},
                         lambda name: tensors[name], os.path.getsize(path))


def _check_supported(path: str, record: PersistentRecord) -> None:
    classes = {r.class_name for r, _ in record.walk()}
    synthesis = record.children.get("synthesis")
    if record.class_name != "Generator" or synthesis is None or "mapping" not in record.children:
        raise ModelFileError(f"{path}: expected a StyleGAN2 'Generator' with mapping and synthesis networks, "
                             f"found a {record.class_name!r} with parts {sorted(record.children)[:10]}")
    if "SynthesisInput" in classes or "input" in synthesis.children:
        raise ModelFileError(f"{path}: this is a StyleGAN3 (alias-free) generator ('SynthesisInput' layers); "
                             "only StyleGAN2 generators are supported yet")
    unknown = sorted(classes - _STYLEGAN2_CLASSES)
    if unknown:
        raise ModelFileError(f"{path}: unsupported network classes {unknown[:5]}; expected StyleGAN2 networks "
                             f"({', '.join(sorted(_STYLEGAN2_CLASSES))})")


def _bind_generator_args(record: PersistentRecord) -> dict[str, Any]:
    """The official Generator's constructor arguments as keywords (positional ones bound by position)."""
    names = ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels", "mapping_kwargs")
    args = record.init_args
    if len(args) > len(names):
        raise ConfigError(f"too many positional Generator arguments ({len(args)})")
    kwargs: dict[str, Any] = dict(zip(names, args))
    for name, value in record.init_kwargs.items():
        if not isinstance(name, str):
            raise ConfigError(f"Generator keyword names must be strings, found {type(name).__name__}")
        kwargs[name] = value
    return kwargs


TensorInfo = tuple[tuple[int, ...], torch.dtype]


def build_checked(path: str, config: GeneratorConfig, stored: Mapping[str, TensorInfo],
                  read: Callable[[str], torch.Tensor], file_bytes: int) -> Generator:
    """Build ``config`` with the stored weights, checking everything before memory is spent on it.

    The network is first built on PyTorch's ``meta`` device (shapes only, no memory), and its state-dict names
    and shapes are compared with ``stored`` (name -> shape, dtype, as the file declares them): the weights a
    file really holds bound everything, so kwargs that disagree with them never allocate anything. Then each
    tensor is read, checked to be finite, and assigned in float32. Their float32 copies may take at most
    four times the file's size (float16 weights double): views cannot make a small file materialise more.
    """
    with torch.device("meta"):
        G = Generator(config)
    expected = {name: tuple(t.shape) for name, t in G.state_dict().items()}
    missing = sorted(set(expected) - set(stored))
    unexpected = sorted(set(stored) - set(expected))
    if missing or unexpected:
        raise ModelFileError(f"{path}: the stored weights do not match the architecture in its kwargs; "
                             f"missing {missing[:5]}{'…' if len(missing) > 5 else ''}, "
                             f"unexpected {[u[:60] for u in unexpected[:5]]}{'…' if len(unexpected) > 5 else ''}")
    for name, shape in expected.items():
        got_shape, dtype = stored[name]
        if got_shape != shape:
            raise ModelFileError(f"{path}: '{name}' has shape {list(got_shape)}, expected {list(shape)}")
        if not dtype.is_floating_point:
            raise ModelFileError(f"{path}: '{name}' has dtype {dtype}, expected a floating-point tensor")
    needed = 4 * sum(math.prod(shape) for shape in expected.values())
    if needed > 4 * file_bytes + 2 ** 20:
        raise ModelFileError(f"{path}: the weights would take {needed / 2 ** 20:.0f} MiB in float32 from a file of "
                             f"{file_bytes / 2 ** 20:.1f} MiB; the file cannot hold them")
    state = {}
    for name in expected:
        tensor = read(name).to(torch.float32, copy=True).contiguous()  # our own memory, never a shared view
        if not bool(torch.isfinite(tensor).all()):
            raise ModelFileError(f"{path}: '{name}' contains NaN or infinite values; the file is damaged")
        state[name] = tensor
    for name, tensor in state.items():
        if name.endswith("resample_filter"):
            want = ops.fir_filter_2d(ops.make_fir_taps(config.resample_filter))
            if not torch.allclose(tensor, want, atol=1e-6):
                raise ModelFileError(f"{path}: '{name}' is not the separable filter its kwargs describe")
    G.load_state_dict(state, assign=True)
    return G.eval().requires_grad_(False)


# ---------------------------------------------------------------------------------- the safetensors format
def save_generator(G: Generator, path: str | os.PathLike[str], dtype: torch.dtype = torch.float32) -> None:
    """Write G as safetensors with its config and tone curve in the header: a model file that holds no code at
    all. ``dtype`` float16 halves the file (the loader computes in float32 either way)."""
    from safetensors.torch import save_file
    if dtype not in (torch.float32, torch.float16, torch.bfloat16):
        raise ValueError(f"dtype must be float32, float16 or bfloat16, got {dtype}")
    state = {k: v.detach().to("cpu", dtype).contiguous() for k, v in G.state_dict().items()}
    save_file(state, os.fspath(path), metadata={_SAFETENSORS_CONFIG_KEY: json.dumps(G.config.to_dict()),
                                                _SAFETENSORS_TONE_KEY: G.tone_map})


def _load_safetensors(path: str) -> Generator:
    from safetensors import SafetensorError, safe_open
    if os.path.exists(path) and not os.path.isfile(path):
        raise ModelFileError(f"{path}: not a regular file")
    try:
        with safe_open(path, framework="pt") as f:
            meta = f.metadata() or {}
            if _SAFETENSORS_CONFIG_KEY not in meta:
                raise ModelFileError(f"{path}: safetensors file without a '{_SAFETENSORS_CONFIG_KEY}' header; "
                                     "convert models with `python launch.py --model MODEL.pkl --convert "
                                     "OUT.safetensors`")
            try:
                config = GeneratorConfig.from_dict(json.loads(meta[_SAFETENSORS_CONFIG_KEY]))
            except (ConfigError, ValueError, TypeError, RecursionError) as exc:
                raise ModelFileError(f"{path}: bad generator config in the header: {str(exc)[:300]}") from None
            tone = meta.get(_SAFETENSORS_TONE_KEY, "clip")       # files written before it: the official way
            if tone not in TONE_MAPS:
                raise ModelFileError(f"{path}: tone curve {tone[:40]!r} in the header, expected one of "
                                     f"{', '.join(TONE_MAPS)}")
            stored = {}
            for name in f.keys():
                info = f.get_slice(name)
                dtype = _SAFETENSORS_DTYPES.get(info.get_dtype())
                if dtype is None:
                    raise ModelFileError(f"{path}: '{name[:60]}' has dtype {info.get_dtype()}, expected a float type")
                stored[name] = (tuple(info.get_shape()), dtype)
            G = build_checked(path, config, stored, f.get_tensor, os.path.getsize(path))
            G.tone_map = tone  # type: ignore[assignment]
            return G
    except FileNotFoundError:
        raise ModelFileError(f"{path}: no such file") from None
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelFileError(f"{path}: not a readable safetensors file ({str(exc).splitlines()[0][:200]})") from None


_SAFETENSORS_DTYPES = {"F16": torch.float16, "BF16": torch.bfloat16, "F32": torch.float32, "F64": torch.float64}
