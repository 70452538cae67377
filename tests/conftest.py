"""Shared fixtures. Tests run on the CPU with two threads, like CI."""

from __future__ import annotations

import atexit
import os
import pathlib
import shutil
import sys
import tempfile
import time

import pytest
import torch

ROOT = pathlib.Path(__file__).resolve().parents[1]
# Doctests are collected from every module (pyproject.toml); this one is a script that opens a window under
# the Xvfb display its test starts, so it is run by that test, never imported here.
collect_ignore = ["gl/window_session.py"]
sys.path.insert(0, str(ROOT))
torch.set_num_threads(2)
# The engine caches its CPU measurements (engine/tuning.py) under $XDG_CACHE_HOME: the tests' own, throwaway
# cache (launch.py subprocesses inherit it), never the user's.
_CACHE = tempfile.mkdtemp(prefix="latentstage-test-cache-")
os.environ["XDG_CACHE_HOME"] = _CACHE
atexit.register(shutil.rmtree, _CACHE, True)

FIXTURES = pathlib.Path(os.environ.get("LATENTSTAGE_FIXTURES", ROOT.parent / "shared" / "fixtures"))
TINY_PKL = FIXTURES / "stylegan2-ada" / "tiny.pkl"
TINY_REFERENCE = FIXTURES / "stylegan2-ada" / "tiny_reference.npz"


def wait_for(predicate, timeout: float, what: str = "the condition", poll: float = 0.005):
    """Poll ``predicate`` until it returns something true, and return that; AssertionError after ``timeout``
    seconds (for the threads, processes and sockets the tests wait on)."""
    end = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(poll)


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


@pytest.fixture(scope="session")
def egl_ctx():
    """One offscreen EGL context for the session (Mesa llvmpipe in CI)."""
    import moderngl
    ctx = moderngl.create_standalone_context(require=330, backend="egl")
    yield ctx
    ctx.release()


@pytest.fixture()
def gl(egl_ctx):
    """The session context, checked for GL errors before and after each test."""
    assert egl_ctx.error == "GL_NO_ERROR"
    yield egl_ctx
    assert egl_ctx.error == "GL_NO_ERROR"


@pytest.fixture(scope="session")
def xvfb_display():
    """A real X display for window tests: an Xvfb server started here (DISPLAY set while it runs)."""
    import shutil
    import subprocess
    server = shutil.which("Xvfb")
    assert server, "Xvfb is not installed (apt-get install xvfb); window tests must run, not skip"
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen([server, "-displayfd", str(write_fd), "-screen", "0", "1920x1080x24", "-nolisten", "tcp"],
                            pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_fd)
    with os.fdopen(read_fd) as f:
        number = f.readline().strip()
    assert number, "Xvfb did not start"
    previous = os.environ.get("DISPLAY")
    os.environ["DISPLAY"] = f":{number}"
    yield os.environ["DISPLAY"]
    proc.terminate()
    proc.wait(10)
    if previous is None:
        os.environ.pop("DISPLAY", None)
    else:
        os.environ["DISPLAY"] = previous
