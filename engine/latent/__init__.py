"""Latent walks: keyframes (seeds, classes, saved latents), interpolation, and the walker."""

from engine.latent.interpolate import EASINGS, Easing, ease
from engine.latent.keyframes import Keyframe, LatentFileError, keyframes_from_file, seed_to_z
from engine.latent.walker import INTERPOLATIONS, Interpolation, LatentWalker, StyleMix, WalkFrame, WalkSettings

__all__ = ["EASINGS", "Easing", "INTERPOLATIONS", "Interpolation", "Keyframe", "LatentFileError", "LatentWalker",
           "StyleMix", "WalkFrame", "WalkSettings", "ease", "keyframes_from_file", "seed_to_z"]
