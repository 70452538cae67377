"""pix2pix / CycleGAN generators: the U-Net and ResNet image-to-image networks, built from their checkpoints.

The widely used PyTorch pix2pix/CycleGAN implementation saves its generators as plain state dicts
(``latest_net_G.pth``; CycleGAN: ``latest_net_G_A.pth`` / ``_B``). :func:`load_pix2pix` reads one with
``torch.load(weights_only=True)`` (tensors and containers only: nothing from the file is executed), works out
the architecture from the keys and shapes where it is not given, and builds our own modules with the same
parameter names, so the state dict loads strictly (every key used, none missing).

    G = load_pix2pix("edges2cats/latest_net_G.pth")                    # unet_256, batch norm: detected
    out = G(frame)                                                     # [N, 3, H, W] in [-1, 1] -> [-1, 1]
    G = load_pix2pix("latest_net_G.pth", batchnorm="frame")            # BatchNorm on each frame's statistics

The networks (the implementation's ``networks.py``, described here in our words):

- **U-Net** (``unet_128``: 7 downsamplings, ``unet_256``: 8): nested skip blocks. Each halves the image with a
  4×4 stride-2 convolution (LeakyReLU 0.2 before it, a norm after, except at the outside and the innermost),
  hands it to the block inside, doubles it back with a 4×4 stride-2 transposed convolution (ReLU before, a
  norm after; tanh at the outside) and concatenates its input with the result. Widths ngf, 2ngf, 4ngf, then
  8ngf for the rest. Dropout (p 0.5, after the three blocks next to the innermost) has no weights, so it does
  not show in a checkpoint; it is off here, as a live installation wants.
- **ResNet** (``resnet_6blocks``, ``resnet_9blocks``): reflection-padded 7×7 convolution to ngf, two 3×3 stride-2
  convolutions to 4ngf, n residual blocks (reflection pad, 3×3 conv, norm, ReLU, [dropout], pad, conv, norm,
  plus the input), two 3×3 transposed convolutions back, a reflection-padded 7×7 convolution and tanh.
- Norms: ``batch`` (BatchNorm with affine parameters and running statistics; convolutions before it have no
  bias) or ``instance`` (InstanceNorm without parameters or statistics; the convolutions have biases).

``batchnorm="running"`` is eval mode (running statistics). ``"frame"`` normalises with each frame's own
statistics (what the implementation's test script does without ``--eval``, minus its random dropout): how
pix2pix models are usually run, and what many need to look right.
"""

from __future__ import annotations

import dataclasses
import os
import re
import warnings
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

NETS = ("unet_128", "unet_256", "resnet_6blocks", "resnet_9blocks")
NORMS = ("batch", "instance")
BATCHNORM_MODES = ("running", "frame")
MAX_BYTES = 2 * 2 ** 30           # a real unet_256 at ngf 64 is 218 MB
MAX_NGF = 1024
MAX_CHANNELS = 64


class Pix2PixError(ValueError):
    """A checkpoint that cannot be used: one line naming the file, what was found and what to give."""


@dataclasses.dataclass(frozen=True)
class Pix2PixConfig:
    net: str                      # one of NETS
    ngf: int                      # width of the first layer
    norm: str                     # batch | instance
    dropout: bool                 # ResNet blocks with a dropout layer (shifts their keys); U-Net: no weights
    input_nc: int
    output_nc: int

    def __post_init__(self) -> None:
        if self.net not in NETS or self.norm not in NORMS:
            raise ValueError(f"net must be one of {NETS} and norm one of {NORMS}, got {self.net!r}, {self.norm!r}")
        for name, value, high in (("ngf", self.ngf, MAX_NGF), ("input_nc", self.input_nc, MAX_CHANNELS),
                                  ("output_nc", self.output_nc, MAX_CHANNELS)):
            if not (isinstance(value, int) and 1 <= value <= high):
                raise ValueError(f"{name} must be 1..{high}, got {value!r}")

    @property
    def downsamplings(self) -> int:
        return {"unet_128": 7, "unet_256": 8}.get(self.net, 2)

    @property
    def blocks(self) -> int:
        return {"resnet_6blocks": 6, "resnet_9blocks": 9}.get(self.net, 0)


class FrameBatchNorm(nn.BatchNorm2d):
    """BatchNorm2d that can normalise with the frame's own statistics (``use_frame``) and never updates its
    running statistics (so a live run cannot drift them)."""

    use_frame = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_frame:
            return F.batch_norm(x, None, None, self.weight, self.bias, True, 0.0, self.eps)
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps)


def _norm(kind: str, channels: int) -> nn.Module:
    return FrameBatchNorm(channels) if kind == "batch" else nn.InstanceNorm2d(channels, affine=False,
                                                                              track_running_stats=False)


class UnetBlock(nn.Module):
    """One level of the U-Net: down, the level inside, up, and (but at the outside) the skip concatenation."""

    def __init__(self,
                 outer: int,                      # channels this level gives back (and takes, inside)
                 inner: int,                      # channels of the level inside
                 inside: nn.Module | None,        # the level inside (None: this is the innermost)
                 norm: str,
                 input_nc: int | None = None,     # the outermost level takes the image's channels
                 outermost: bool = False,
                 ) -> None:
        super().__init__()
        self.outermost = outermost
        bias = norm == "instance"
        down = nn.Conv2d(input_nc if input_nc is not None else outer, inner, 4, 2, 1, bias=bias)
        layers: list[nn.Module]
        if outermost:
            assert inside is not None
            layers = [down, inside, nn.ReLU(True), nn.ConvTranspose2d(inner * 2, outer, 4, 2, 1), nn.Tanh()]
        elif inside is None:
            layers = [nn.LeakyReLU(0.2, True), down, nn.ReLU(True),
                      nn.ConvTranspose2d(inner, outer, 4, 2, 1, bias=bias), _norm(norm, outer)]
        else:
            layers = [nn.LeakyReLU(0.2, True), down, _norm(norm, inner), inside, nn.ReLU(True),
                      nn.ConvTranspose2d(inner * 2, outer, 4, 2, 1, bias=bias), _norm(norm, outer)]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)


class UnetGenerator(nn.Module):
    def __init__(self, config: Pix2PixConfig) -> None:
        super().__init__()
        c, ngf = config, config.ngf
        block = UnetBlock(ngf * 8, ngf * 8, None, c.norm)                        # innermost
        for _ in range(c.downsamplings - 5):
            block = UnetBlock(ngf * 8, ngf * 8, block, c.norm)
        for outer in (4, 2, 1):
            block = UnetBlock(ngf * outer, ngf * outer * 2, block, c.norm)
        self.model = UnetBlock(c.output_nc, ngf, block, c.norm, input_nc=c.input_nc, outermost=True)
        self.multiple = 2 ** c.downsamplings                                     # the sides must divide by it

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class ResnetBlock(nn.Module):
    def __init__(self, dim: int, norm: str, dropout: bool) -> None:
        super().__init__()
        bias = norm == "instance"
        layers: list[nn.Module] = [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=bias), _norm(norm, dim),
                                   nn.ReLU(True)]
        if dropout:
            layers.append(nn.Dropout(0.5))
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=bias), _norm(norm, dim)]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    def __init__(self, config: Pix2PixConfig) -> None:
        super().__init__()
        c, ngf = config, config.ngf
        bias = c.norm == "instance"
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(c.input_nc, ngf, 7, bias=bias),
                                   _norm(c.norm, ngf), nn.ReLU(True)]
        for mult in (1, 2):
            layers += [nn.Conv2d(ngf * mult, ngf * mult * 2, 3, 2, 1, bias=bias), _norm(c.norm, ngf * mult * 2),
                       nn.ReLU(True)]
        layers += [ResnetBlock(ngf * 4, c.norm, c.dropout) for _ in range(c.blocks)]
        for mult in (4, 2):
            layers += [nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 3, 2, 1, output_padding=1, bias=bias),
                       _norm(c.norm, ngf * mult // 2), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, c.output_nc, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)
        self.multiple = 4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def build(config: Pix2PixConfig) -> nn.Module:
    return UnetGenerator(config) if config.net.startswith("unet") else ResnetGenerator(config)


def set_batchnorm(G: nn.Module, mode: str) -> None:
    """``running`` (eval) or ``frame`` (each frame's own statistics) for every BatchNorm of ``G``."""
    if mode not in BATCHNORM_MODES:
        raise ValueError(f"batchnorm must be one of {BATCHNORM_MODES}, got {mode!r}")
    for module in G.modules():
        if isinstance(module, FrameBatchNorm):
            module.use_frame = mode == "frame"


# ------------------------------------------------------------------------------------------------ loading
def read_state_dict(path: str) -> dict[str, torch.Tensor]:
    """The checkpoint's tensors, through torch's weights-only unpickler (refuses anything but tensors and
    plain containers), with a DataParallel ``module.`` prefix taken off."""
    if not os.path.isfile(path):
        raise Pix2PixError(f"{path}: no such checkpoint")
    if os.path.getsize(path) > MAX_BYTES:
        raise Pix2PixError(f"{path}: larger than {MAX_BYTES // 2 ** 30} GiB; expected a pix2pix generator")
    try:
        with warnings.catch_warnings():       # torch warns about pickle protocols it then handles (or refuses)
            warnings.simplefilter("ignore", UserWarning)
            data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:      # UnpicklingError (code in the file), RuntimeError, EOFError, zip errors
        raise Pix2PixError(f"{path}: not a checkpoint of plain tensors ({_load_reason(exc)})") from None
    if isinstance(data, dict) and "state_dict" in data and isinstance(data["state_dict"], dict):
        data = data["state_dict"]
    if not isinstance(data, dict) or not data or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                                          for k, v in data.items()):
        raise Pix2PixError(f"{path}: expected a state dict (names to tensors), found {type(data).__name__}")
    if all(k.startswith("module.") for k in data):
        data = {k[len("module."):]: v for k, v in data.items()}
    return data


def _load_reason(exc: BaseException) -> str:
    """What torch.load's refusal says, in one short line (its weights-only message is a paragraph of advice
    around one line of reason: the global or the opcode it would not take)."""
    text = str(exc)
    if "WeightsUnpickler error:" in text:
        after = text.split("WeightsUnpickler error:", 1)[1].strip().splitlines()
        reason = next((line.strip() for line in after if line.strip()), "")
        return f"refused by the weights-only loader: {reason[:120]}" if reason else "refused by the weights-only loader"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return (lines[0] if lines else type(exc).__name__)[:160]


def detect(state: dict[str, torch.Tensor], path: str) -> dict[str, Any]:
    """What the keys and shapes say: net, ngf, norm, dropout, input_nc, output_nc (only what they show)."""
    found: dict[str, Any] = {}
    norm = "batch" if any(k.endswith("running_mean") for k in state) and not _conv_biases(state) else \
        "instance" if _conv_biases(state) else None
    if norm is not None:
        found["norm"] = norm
    if "model.model.0.weight" in state:                                    # U-Net
        depth = max(k.count("model.") for k in state) - 1
        if depth in (7, 8):
            found["net"] = f"unet_{2 ** depth}"
        first = state["model.model.0.weight"]
        found["ngf"], found["input_nc"] = int(first.shape[0]), int(first.shape[1])
        last = state.get("model.model.3.weight")
        if last is not None and last.ndim == 4:
            found["output_nc"] = int(last.shape[1])                        # ConvTranspose2d: [in, out, k, k]
        found["dropout"] = False                                           # weightless: off live either way
    elif "model.1.weight" in state:                                        # ResNet
        blocks = {int(m[1]) for k in state if (m := re.match(r"model\.(\d+)\.conv_block\.", k))}
        if len(blocks) in (6, 9):
            found["net"] = f"resnet_{len(blocks)}blocks"
        first = state["model.1.weight"]
        found["ngf"], found["input_nc"] = int(first.shape[0]), int(first.shape[1])
        finals = [k for k in state if re.fullmatch(r"model\.\d+\.weight", k)]
        last = state[max(finals, key=lambda k: int(k.split(".")[1]))]
        found["output_nc"] = int(last.shape[0])
        if blocks:
            block = min(blocks)
            second = state.get(f"model.{block}.conv_block.6.weight")       # dropout shifts the 2nd conv to 6
            found["dropout"] = second is not None and second.ndim == 4
    return found


def _conv_biases(state: dict[str, torch.Tensor]) -> bool:
    """Whether the first convolution has a bias: instance-norm models (batch-norm convs do not)."""
    return "model.model.0.bias" in state or "model.1.bias" in state


def load_pix2pix(path: str, netG: str | None = None, norm: str | None = None, dropout: bool | None = None,
                 input_nc: int | None = None, output_nc: int | None = None, batchnorm: str = "running",
                 device: str | torch.device = "cpu") -> nn.Module:
    """A pix2pix/CycleGAN generator from its checkpoint, in eval mode (dropout off), on ``device``; options left
    as None are detected from the checkpoint (Pix2PixError naming the option to give when they cannot be)."""
    state = read_state_dict(path)
    found = detect(state, path)
    given: dict[str, Any] = {"net": netG, "norm": norm, "dropout": dropout, "input_nc": input_nc, "output_nc": output_nc}
    values: dict[str, Any] = {key: value if value is not None else found.get(key) for key, value in given.items()}
    values["ngf"] = found.get("ngf")
    options = {"net": "netG", "norm": "norm", "dropout": "dropout", "input_nc": "input_nc",
               "output_nc": "output_nc", "ngf": "ngf"}
    missing = [options[k] for k, v in values.items() if v is None]
    if missing:
        raise Pix2PixError(f"{path}: cannot tell {', '.join(missing)} from the checkpoint's keys; give "
                           f"{' and '.join(missing)} (netG is one of {', '.join(NETS)}; norm batch or instance)")
    try:
        config = Pix2PixConfig(net=str(values["net"]), ngf=int(values["ngf"]), norm=str(values["norm"]),
                               dropout=bool(values["dropout"]), input_nc=int(values["input_nc"]),
                               output_nc=int(values["output_nc"]))
    except (TypeError, ValueError) as exc:
        raise Pix2PixError(f"{path}: {exc}") from None
    G = build(config)
    if config.norm == "instance":      # checkpoints from before torch 0.4 carry statistics InstanceNorm ignores
        state = {k: v for k, v in state.items() if not k.endswith(("running_mean", "running_var",
                                                                  "num_batches_tracked"))}
    try:
        G.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        detail = lines[1] if len(lines) > 1 else lines[0] if lines else ""
        raise Pix2PixError(f"{path}: the checkpoint does not fit {config.net} (ngf {config.ngf}, {config.norm} "
                           f"norm): {detail[:200]}") from None
    set_batchnorm(G, batchnorm)
    G.config = config                  # type: ignore[assignment]
    return G.eval().requires_grad_(False).to(device)


MIN_PSNR_DB = 40.0             # a faster path must stay this close to fp32 on a test frame (peak-to-peak 2)


class Pix2PixRunner:
    """A loaded generator on its fastest correct path, chosen by measuring at start: CUDA runs fp16; the CPU
    times fp32, fp32 channels_last and (where the processor has native bf16) bf16 channels_last on a test
    frame, and keeps the fastest whose output stays within :data:`MIN_PSNR_DB` of fp32's. (Measured at ngf 64
    on a 2-core Xeon: channels_last helps the U-Net and slows the ResNet; bf16 helps both, 1.5x and 2.9x.)
    ``run`` takes and gives float32 [N, C, H, W] in [-1, 1].

        runner = Pix2PixRunner(load_pix2pix("latest_net_G.pth"))
        runner.path                      # "cpu fp32", "cpu fp32 channels_last", "cpu bf16 channels_last", "cuda fp16"
    """

    def __init__(self, G: nn.Module, side: int = 256, repeats: int = 2) -> None:
        import time

        from engine.models.load import cpu_has_native_bf16
        self.G = G
        self.device = next(G.parameters()).device
        self.dtype, self.channels_last = torch.float32, False
        config: Pix2PixConfig = G.config          # type: ignore[assignment]
        if self.device.type == "cuda":
            self.G, self.dtype, self.channels_last = G.half(), torch.float16, True
        else:
            x = torch.rand(1, config.input_nc, side, side, device=self.device) * 2 - 1
            candidates = [(torch.float32, False), (torch.float32, True)]
            if cpu_has_native_bf16():
                candidates.append((torch.bfloat16, True))
            best: tuple[float, torch.dtype, bool] | None = None
            reference: torch.Tensor | None = None
            with torch.inference_mode():
                for dtype, channels_last in candidates:
                    self.dtype, self.channels_last = dtype, channels_last
                    out = self._forward(x)                           # warm-up (and the output to compare)
                    started = time.perf_counter()
                    for _ in range(repeats):
                        self._forward(x)
                    seconds = (time.perf_counter() - started) / repeats
                    if reference is None:
                        reference = out
                    elif _psnr(out, reference) < MIN_PSNR_DB:
                        continue
                    if best is None or seconds < best[0]:
                        best = (seconds, dtype, channels_last)
            assert best is not None
            _, self.dtype, self.channels_last = best
        kind = {torch.float16: "fp16", torch.bfloat16: "bf16"}.get(self.dtype, "fp32")
        self.path = f"{self.device.type} {kind}" + (" channels_last" if self.channels_last else "")

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device)
        if self.channels_last:
            x = x.to(memory_format=torch.channels_last)
            self.G.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        else:
            self.G.to(memory_format=torch.contiguous_format)  # type: ignore[call-overload]
        if self.dtype == torch.float16:
            return self.G(x.half()).float()
        if self.dtype == torch.bfloat16:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return self.G(x).float()
        return self.G(x)

    def run(self, x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return self._forward(x).contiguous()

    def image(self, rgb: Any) -> Any:
        """One RGB uint8 [H, W, 3] image through the model, as RGB uint8 [H, W, 3]: mapped to [-1, 1], its
        channels made what the model takes (averaged to one, or padded with zeros), one-channel output
        repeated to three."""
        import numpy as np
        x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float().div(127.5).sub(1.0)
        channels = int(getattr(self.G, "config").input_nc)
        x = x.mean(1, keepdim=True) if channels == 1 else x[:, :channels] if channels <= 3 else \
            torch.cat([x, x.new_zeros(1, channels - 3, *x.shape[2:])], 1)
        y = self.run(x)[0].cpu().clamp(-1, 1).add(1).mul(127.5).round().byte().permute(1, 2, 0).numpy()
        if y.shape[2] == 1:
            y = np.repeat(y, 3, axis=2)
        return np.ascontiguousarray(y[..., :3])


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB of ``a`` against ``b`` for images in [-1, 1] (peak-to-peak 2)."""
    import math
    mse = float((a.float() - b.float()).pow(2).mean())
    return math.inf if mse == 0 else 20 * math.log10(2.0 / math.sqrt(mse))
