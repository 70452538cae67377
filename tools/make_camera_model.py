"""Train the example camera model, pixels2ink: a pix2pix U-Net that sees a coarse, pixelated camera image and
paints it as the default model's fluid ink, keeping its colours and shapes ("Learning to See": a model
shows the world through what it knows). shows/camera.yaml uses it.

    python tools/make_camera_model.py                       # writes shows/models/pixels2ink_net_G.pth
    python tools/make_camera_model.py --steps 200 OUT.pth   # a quick one

* Data: made on the fly, never the same twice and never a file: frames of the embedded default model
  (``--seed`` picks the seeds, truncation 0.5–1, both mirror images), and as the input the same frames
  prepared exactly as the camera pipeline prepares a camera frame for it
  (``controllers.camera.preprocess.Preprocess(size=256, pixelate=8)``: shrunk eightfold, scaled back up).
  The colours are in the input, so the task is well posed; what the model adds is the ink's edges, speckle
  and marbling. Nothing from outside the repository, so anyone can make it again.
* Model: the reference implementation's ``unet_256`` at ngf 8 (``engine.models.pix2pix.build``: the same
  module names, so the file is an ordinary ``*_net_G.pth`` state dict that any pix2pix tool reads), BatchNorm,
  no dropout; run live with ``batchnorm: frame``.
* Objective: non-adversarial (a GAN would need a discriminator and far more steps than two CPU cores give):
  L1 on the pixels plus L1 on their Sobel gradients, which keeps the ink's edges from washing out; Adam at
  2e-4, betas (0.5, 0.999), as pix2pix trains.
* Run: ``--steps`` 3000 of batch 4 take about ten minutes on two CPU cores; the loss is printed as it goes.
  Deterministic for one machine and torch version.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from controllers.camera.preprocess import Preprocess  # noqa: E402
from engine.latent.keyframes import seed_to_z  # noqa: E402
from engine.models import load_generator  # noqa: E402
from engine.models.pix2pix import Pix2PixConfig, build  # noqa: E402
from engine.models.tone import to_uint8_hwc  # noqa: E402

OUT = os.path.join(ROOT, "shows", "models", "pixels2ink_net_G.pth")
PIXELATE = 8
SOBEL = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]) / 8


def pairs(G: torch.nn.Module, rng: np.random.Generator, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` (camera-like input, ink) pairs in [-1, 1], [N, 3, 256, 256]: default-model frames, prepared."""
    prepare = Preprocess(size=256, fit="crop", mirror=False, pixelate=PIXELATE)
    seeds = rng.integers(0, 2 ** 31, count)
    z = torch.from_numpy(np.stack([seed_to_z(int(s), G.z_dim) for s in seeds])).float()
    psi = float(rng.uniform(0.5, 1.0))
    with torch.inference_mode():
        ink = to_uint8_hwc(G.synthesis(G.mapping(z, None, truncation_psi=psi), noise_mode="const"), G.tone_map)
    ink_np = ink.numpy()
    if rng.random() < 0.5:
        ink_np = ink_np[:, :, ::-1]
    coarse = np.stack([prepare(np.ascontiguousarray(frame[..., ::-1])) for frame in ink_np])  # BGR in, as cv2
    def tensor(images: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div(127.5).sub(1)
    return tensor(coarse), tensor(ink_np)


def gradients(x: torch.Tensor) -> torch.Tensor:
    kernel = torch.stack([SOBEL, SOBEL.T])[:, None].repeat(x.shape[1], 1, 1, 1)
    return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), kernel, groups=x.shape[1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", nargs="?", default=OUT)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--ngf", type=int, default=8)
    parser.add_argument("--seed", type=int, default=20261201)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(max(1, args.threads))
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    G = load_generator("default", device="cpu", precision="fp32")
    net = build(Pix2PixConfig(net="unet_256", ngf=args.ngf, norm="batch", dropout=False, input_nc=3, output_nc=3))
    net.train()
    optimiser = torch.optim.Adam(net.parameters(), lr=2e-4, betas=(0.5, 0.999))
    started = time.perf_counter()
    running = 0.0
    for step in range(1, args.steps + 1):
        coarse, ink = pairs(G, rng, args.batch)
        out = net(coarse)
        loss = F.l1_loss(out, ink) + F.l1_loss(gradients(out), gradients(ink))
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        running = loss.item() if step == 1 else 0.95 * running + 0.05 * loss.item()
        if step % 50 == 0 or step == args.steps:
            print(f"step {step}/{args.steps}: loss {running:.4f} ({time.perf_counter() - started:.0f} s)", flush=True)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    torch.save({k: v.detach().clone() for k, v in net.state_dict().items()}, args.out)
    print(f"{args.out}: {os.path.getsize(args.out) / 2 ** 20:.1f} MiB after {time.perf_counter() - started:.0f} s "
          f"(torch {torch.__version__}, seed {args.seed}, {args.steps} steps of {args.batch})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
