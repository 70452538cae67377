"""StyleGAN2 generator networks and the loaders that build them from model files."""

from engine.models.config import ConfigError, GeneratorConfig
from engine.models.load import DEFAULT_MODEL, load_generator, save_generator
from engine.models.networks import Generator
from engine.models.pickle_reader import ModelFileError

__all__ = ["ConfigError", "DEFAULT_MODEL", "Generator", "GeneratorConfig", "ModelFileError", "load_generator",
           "save_generator"]
