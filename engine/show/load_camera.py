"""The ``inputs: camera:`` section of a show: where the camera comes from, how its frames are prepared, and the
pix2pix model that reinterprets them. Every problem at its file:line:column.

    inputs:
      camera:
        source: 0                        # a camera index, a video file (relative to the show) or a stream URL
        size: [1280, 720]                # asked of the camera; fps: 30
        preprocess: {size: 256, fit: crop, mirror: true, edges: [60, 160]}   # grayscale, blur, levels, pixelate
        model: models/edges2cats_net_G.pth   # a pix2pix/CycleGAN generator (optional)
        model_options: {netG: unet_256, norm: batch, batchnorm: frame}
        model_fps: 10                    # the model's rate at most (the features follow every camera frame)
        smoothing: 0.5                   # share of the previous layer kept, against flicker

The layer is drawn by the ``camera_layer`` effect (put it in the chain; ``camera_layer.amount`` is its
opacity, ``.mode`` its blend, ``.fill`` its placement), and the features are ``camera.*`` sources for
``inputs: modulate:``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import yaml
from yaml import Node

from engine.show.yaml_nodes import clip as _clip

if TYPE_CHECKING:
    from engine.show.load import _Reader

PREPROCESS_KEYS = ("size", "fit", "mirror", "grayscale", "blur", "levels", "pixelate", "edges")


def camera(r: _Reader, node: Node, where: str) -> dict[str, object] | None:
    from controllers.camera.capture import parse_source
    from controllers.camera.preprocess import Preprocess
    f = r.mapping(node, where, ("source", "size", "fps", "preprocess", "model", "model_options", "model_fps",
                                "smoothing"), required=("source",))
    values: dict[str, Any] = {}
    ok = True
    if "source" in f:
        text = r.scalar(f["source"][1], f"{where}.source")
        try:
            source = parse_source(text or "")
            if isinstance(source, str) and "://" not in source:
                source = r.resolve(source)
            values["source"] = source
        except ValueError as exc:
            r.error(f["source"][1], "E016", f"{where}.source: {exc}")
            ok = False
    else:
        ok = False
    if "size" in f:
        pair = r.pair(f["size"][1], f"{where}.size", 16, 8192)
        values["size"] = None if pair is None else (int(pair[0]), int(pair[1]))
        ok = ok and pair is not None
    for key, low, high in (("fps", 1.0, 240.0), ("model_fps", 0.1, 240.0), ("smoothing", 0.0, 0.95)):
        if key in f:
            values[key] = r.number(f[key][1], f"{where}.{key}", low, high)
            ok = ok and values[key] is not None
    if "preprocess" in f:
        p = r.mapping(f["preprocess"][1], f"{where}.preprocess", PREPROCESS_KEYS)
        options: dict[str, Any] = {}
        for key in ("size", "levels", "pixelate"):
            if key in p:
                options[key] = r.integer(p[key][1], f"{where}.preprocess.{key}", 0, 2048)
        for key in ("mirror", "grayscale"):
            if key in p:
                options[key] = r.boolean(p[key][1], f"{where}.preprocess.{key}")
        if "blur" in p:
            options["blur"] = r.number(p["blur"][1], f"{where}.preprocess.blur", 0.0, 50.0)
        if "fit" in p:
            options["fit"] = r.choice(p["fit"][1], f"{where}.preprocess.fit", ("crop", "fit", "stretch"))
        if "edges" in p:
            options["edges"] = r.pair(p["edges"][1], f"{where}.preprocess.edges", 0.0, 2000.0)
        if any(v is None for v in options.values()):
            ok = False
        else:
            try:
                values["preprocess"] = Preprocess(**options)
            except ValueError as exc:
                r.error(f["preprocess"][1], "E016", f"{where}.preprocess: {exc}")
                ok = False
    if "model" in f:
        name = r.scalar(f["model"][1], f"{where}.model")
        if name is None or not name.endswith((".pth", ".pt")):
            r.error(f["model"][1], "E016", f"{where}.model: expected a pix2pix/CycleGAN generator checkpoint "
                                           f"(.pth), got '{_clip(str(name))}'")
            ok = False
        else:
            values["model"] = r.resolve(name)
    if "model_options" in f:
        options_node = f["model_options"][1]
        m = r.mapping(options_node, f"{where}.model_options", ("netG", "norm", "dropout", "input_nc", "output_nc",
                                                                "batchnorm"))
        from engine.models.pix2pix import BATCHNORM_MODES, NETS, NORMS
        model_options: dict[str, Any] = {}
        for key, choices in (("netG", NETS), ("norm", NORMS), ("batchnorm", BATCHNORM_MODES)):
            if key in m:
                model_options[key] = r.choice(m[key][1], f"{where}.model_options.{key}", choices)
        for key in ("input_nc", "output_nc"):
            if key in m:
                model_options[key] = r.integer(m[key][1], f"{where}.model_options.{key}", 1, 64)
        if "dropout" in m:
            model_options["dropout"] = r.boolean(m["dropout"][1], f"{where}.model_options.dropout")
        ok = ok and all(v is not None for v in model_options.values())
        values["model_options"] = model_options
        if "model" not in f and isinstance(options_node, yaml.MappingNode):
            r.error(options_node, "E012", f"{where}.model_options: there is no model to give them to")
            ok = False
    return values if ok else None
