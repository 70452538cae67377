"""A real JACK server for the MIDI (and audio) tests: jackd's dummy driver, paced in real time, no hardware.

DESIGN.md §5: mido's default rtmidi/ALSA backend has no sequencer device here, but rtmidi's JACK backend gives
real virtual ports once a JACK server runs. Each test module gets its own server under a unique name (so
parallel runs and a developer's own JACK never meet), started by the module-scoped :func:`jack_server`
fixture and killed after the module's last test. Use it from a test module by importing the fixtures:

    from tests.controllers.jack import jack_midi, jack_server      # noqa: F401 (pytest fixtures)

    def test_something(jack_midi):               # a mido backend on this module's server
        out = jack_midi.open_output("clock", virtual=True)
        ...

    def test_in_a_subprocess(jack_server):       # the server's name; jack_environ() for child processes
        subprocess.run([...], env=jack_environ(jack_server))

The server runs synchronously (``-S``): on a loaded machine a client's process callback is sometimes late,
and an asynchronous server (jackd2's default) then drops that cycle's MIDI for it (measured here with two busy
cores: 5 and 34 of 144 clocks lost in 2 of 18 runs, with "client was not finished" xruns); a synchronous one
waits for the client, so late MIDI arrives late but always arrives.

A missing ``jackd`` fails the test (CI installs the Debian package ``jackd2``): a real-component test that
cannot run must say so, never skip.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

JACK_BACKEND = "mido.backends.rtmidi/UNIX_JACK"
SAMPLE_RATE, PERIOD = 48_000, 256          # 5.3 ms periods: the timing granularity of MIDI through the server
PR_SET_PDEATHSIG = 1                       # linux/prctl.h
libc = ctypes.CDLL(None, use_errno=True)    # loaded before any fork: the child only calls into it


def jack_environ(server: str, base: dict[str, str] | None = None) -> dict[str, str]:
    """An environment in which JACK clients (and mido, through rtmidi) talk to ``server`` and only to it:
    ``JACK_NO_START_SERVER`` keeps a client from starting a default server of its own when that one is gone."""
    env = dict(os.environ if base is None else base)
    env.update(JACK_DEFAULT_SERVER=server, JACK_NO_START_SERVER="1", MIDO_BACKEND=JACK_BACKEND)
    return env


def _die_with_parent() -> None:
    """In the forked child, before exec: ask Linux to end jackd with SIGTERM when the test process dies, even by
    SIGKILL, so that a killed test run leaves no server behind (signals to the process group reach it too)."""
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@contextlib.contextmanager
def running_jack(name: str | None = None, timeout: float = 10.0) -> Iterator[str]:
    """Start ``jackd -n NAME -S --no-realtime -d dummy`` and wait until it answers (``jack_wait -w``); yields the
    server's name and stops the server afterwards. AssertionError, with jackd's output, if it will not run."""
    for tool in ("jackd", "jack_wait"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} not found: the MIDI tests need a JACK server (Debian: apt-get install jackd2)")
    name = name or f"latentstage-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    env = jack_environ(name)
    with tempfile.TemporaryFile() as output:
        server = subprocess.Popen(["jackd", "-n", name, "-S", "--no-realtime", "-d", "dummy", "-r", str(SAMPLE_RATE),
                                   "-p", str(PERIOD)], env=env, stdin=subprocess.DEVNULL, stdout=output,
                                  stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
        try:
            try:
                waited = subprocess.run(["jack_wait", "-w", "-t", str(int(timeout))], env=env, capture_output=True,
                                        text=True, timeout=timeout + 10)
                ready = waited.returncode == 0 and server.poll() is None
            except subprocess.TimeoutExpired:
                ready = False
            if not ready:
                output.seek(0)
                log = output.read().decode(errors="replace")[-2000:]
                pytest.fail(f"jackd -n {name} did not come up within {timeout:g} s (exit {server.poll()}):\n{log}")
            yield name
        finally:
            server.terminate()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(10)


@pytest.fixture(scope="module")
def jack_server() -> Iterator[str]:
    """A JACK server (dummy driver, real-time paced) for this test module; yields its name."""
    with running_jack() as name:
        yield name


@pytest.fixture
def jack_midi(jack_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A mido backend whose ports live on this module's JACK server (in this process, for this test: the
    environment is put back afterwards). Close the ports a test opens before it ends."""
    for key, value in jack_environ(jack_server, {}).items():
        monkeypatch.setenv(key, value)
    import mido
    yield mido.Backend(JACK_BACKEND, load=True)
