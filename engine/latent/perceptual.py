"""A perceptual distance for projection, from VGG16 weights the user gives as a plain state dict.

The official projector measures with a VGG16 that ships as TorchScript, which carries code: it is never
loaded here. Instead the user gives the ImageNet VGG16 weights as a plain tensor file — torchvision's
``vgg16(weights="IMAGENET1K_V1").state_dict()`` saved with ``torch.save`` (read with PyTorch's weights-only
loader, which builds tensors and nothing else) or as ``.safetensors`` — and this module builds the 13
convolutions itself. The distance is LPIPS without its learned per-channel weights: the five ReLU stages
(relu1_2 … relu5_3), each normalised to unit length across channels, compared by mean squared difference,
on images resized to 256² as the official projector does.

    vgg = load_vgg16("vgg16.safetensors")
    loss = vgg.distance(image, target)          # [N, 3, H, W] in [-1, 1]
"""

from __future__ import annotations

import os
import zipfile

import torch
import torch.nn.functional as F

# torchvision's VGG16 "features": conv indices, and where the five stages end (a ReLU before a max pool).
CONVS: tuple[tuple[int, int, int], ...] = (
    (0, 3, 64), (2, 64, 64), (5, 64, 128), (7, 128, 128), (10, 128, 256), (12, 256, 256), (14, 256, 256),
    (17, 256, 512), (19, 512, 512), (21, 512, 512), (24, 512, 512), (26, 512, 512), (28, 512, 512))
STAGE_ENDS = (2, 7, 14, 21, 28)          # relu1_2, relu2_2, relu3_3, relu4_3, relu5_3 (after these convs)
POOL_AFTER = (2, 7, 14, 21)
MAX_FILE_BYTES = 1 << 30
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class VggError(ValueError):
    """VGG16 weights that cannot be used; one line naming the file and what was expected."""


class Vgg16:
    """The convolutions of VGG16's feature extractor, frozen, and the distance built on them."""

    def __init__(self, weights: dict[int, tuple[torch.Tensor, torch.Tensor]], device: torch.device) -> None:
        self.weights = {i: (w.to(device), b.to(device)) for i, (w, b) in weights.items()}
        self.mean = torch.tensor(IMAGENET_MEAN, device=device).reshape(1, 3, 1, 1)
        self.std = torch.tensor(IMAGENET_STD, device=device).reshape(1, 3, 1, 1)

    def stages(self, image: torch.Tensor) -> list[torch.Tensor]:
        """The five stage activations of an image batch in [-1, 1]."""
        x = ((image + 1) / 2 - self.mean) / self.std
        if x.shape[-1] > 256:
            x = F.interpolate(x, size=(256, 256), mode="area")
        found = []
        for index, _, _ in CONVS:
            weight, bias = self.weights[index]
            x = F.relu(F.conv2d(x, weight, bias, padding=1))
            if index in STAGE_ENDS:
                found.append(x)
            if index in POOL_AFTER:
                x = F.max_pool2d(x, 2)
        return found

    def distance(self, image: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        total = image.new_zeros(())
        for a, b in zip(self.stages(image), self.stages(target)):
            a = a / (a.square().sum(dim=1, keepdim=True).sqrt() + 1e-10)
            b = b / (b.square().sum(dim=1, keepdim=True).sqrt() + 1e-10)
            total = total + (a - b).square().sum(dim=1).mean()
        return total


def load_vgg16(path: str, device: torch.device | str = "cpu") -> Vgg16:
    """VGG16 feature weights from a plain state dict (``.pth``/``.pt`` or ``.safetensors``), checked name by name
    and shape by shape; TorchScript and anything else that carries code is refused."""
    try:
        size = os.path.getsize(path)
    except OSError as exc:
        raise VggError(f"{path}: cannot read the VGG16 weights ({exc.strerror or exc})") from None
    if size > MAX_FILE_BYTES:
        raise VggError(f"{path}: {size // 2 ** 20} MiB; VGG16 weights are about 530 MiB")
    state: dict[str, torch.Tensor]
    if path.endswith(".safetensors"):
        from safetensors.torch import load_file
        try:
            state = load_file(path)
        except Exception as exc:  # safetensors raises its own types for malformed headers
            raise VggError(f"{path}: not a readable safetensors file ({str(exc)[:120]})") from None
    else:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
            if any("/code/" in n or n.endswith("constants.pkl") for n in names):
                raise VggError(f"{path}: a TorchScript file (it carries code, so it is never loaded); give the "
                               "plain state dict: torch.save(vgg16(weights=...).state_dict(), 'vgg16.pth')")
        try:
            loaded = torch.load(path, map_location="cpu", weights_only=True)   # tensors only, no code
        except Exception as exc:  # weights-only refusals and malformed files
            raise VggError(f"{path}: not a plain state dict of tensors ({str(exc).splitlines()[0][:160]})") from None
        if not isinstance(loaded, dict):
            raise VggError(f"{path}: expected a state dict (names to tensors), got {type(loaded).__name__}")
        state = loaded
    weights: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
    for index, cin, cout in CONVS:
        weight, bias = state.get(f"features.{index}.weight"), state.get(f"features.{index}.bias")
        if not isinstance(weight, torch.Tensor) or not isinstance(bias, torch.Tensor) \
                or tuple(weight.shape) != (cout, cin, 3, 3) or tuple(bias.shape) != (cout,):
            raise VggError(f"{path}: expected torchvision's VGG16 features.{index} ({cout}x{cin}x3x3 and a bias "
                           f"of {cout}); the file does not have it")
        weight, bias = weight.float(), bias.float()
        if not (torch.isfinite(weight).all() and torch.isfinite(bias).all()):
            raise VggError(f"{path}: features.{index} holds NaN or infinity")
        weights[index] = (weight, bias)
    return Vgg16(weights, torch.device(device))
