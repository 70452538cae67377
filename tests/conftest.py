"""Shared fixtures. Tests run on the CPU with two threads, like CI."""

from __future__ import annotations

import os
import pathlib
import sys

import pytest
import torch

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
torch.set_num_threads(2)

FIXTURES = pathlib.Path(os.environ.get("LATENTSTAGE_FIXTURES", ROOT.parent / "shared" / "fixtures"))
TINY_PKL = FIXTURES / "stylegan2-ada" / "tiny.pkl"
TINY_REFERENCE = FIXTURES / "stylegan2-ada" / "tiny_reference.npz"


@pytest.fixture(scope="session")
def tiny_pkl() -> pathlib.Path:
    assert TINY_PKL.is_file(), f"missing fixture {TINY_PKL} (expected ../shared/fixtures beside the repo)"
    return TINY_PKL


@pytest.fixture(scope="session")
def tiny_reference() -> dict:
    import numpy as np
    assert TINY_REFERENCE.is_file(), f"missing fixture {TINY_REFERENCE}"
    with np.load(TINY_REFERENCE) as data:
        return {k: data[k] for k in data.files}


@pytest.fixture(scope="session")
def default_generator():
    from engine.models import load_generator
    return load_generator("default", device="cpu", precision="fp32")
