"""A real JACK server for the MIDI (and audio) tests: jackd's dummy driver, paced in real time, no hardware.

DESIGN.md §5: mido's default rtmidi/ALSA backend has no sequencer device here, but rtmidi's JACK backend gives
real virtual ports once a JACK server runs. Each test module gets its own server (no other run, and no
developer's own JACK, ever shares it), started by the module-scoped :func:`jack_server` fixture and stopped
after the module's last test. Use it from a test module by importing the fixtures:

    from tests.controllers.jack import jack_midi, jack_server      # noqa: F401 (pytest fixtures)

    def test_something(jack_midi):               # a mido backend on this module's server
        out = jack_midi.open_output("clock", virtual=True)
        ...

    def test_in_a_subprocess(jack_server):       # the server's name; jack_environ() for child processes
        subprocess.run([...], env=jack_environ(jack_server))

Three things learned the hard way (measured here, jackd2 1.9.21, python-rtmidi 1.5.8, mido 1.3.3):

- **Close an input port only while no MIDI is arriving at it.** mido always gives rtmidi a Python callback
  (its own queue's, when you give none). Closing the port makes libjack ``pthread_cancel`` the port's process
  thread; if that thread is waiting for the GIL inside the callback at that moment, CPython's GIL mutex stays
  locked and the whole process hangs for good (30 of 30 tries hung within 30 open/close cycles with a sender
  flooding the port). Stop the sender, or wait ~0.1 s after the last message, before closing. A controller
  that closes ports while a device still sends should first ``port._rt.cancel_callback()``, sleep a few JACK
  periods, then ``port._rt.close_port()`` (mido's own ``close()`` sets its callback again first), or read
  python-rtmidi's queue with ``get_message()`` and no callback at all: both survived the same flood.
- **The server runs synchronously** (``-S``). On a loaded machine a client's process callback is sometimes
  late, and an asynchronous server (jackd2's default) then drops that cycle's MIDI for it (two busy cores:
  5 and 34 of 144 clocks lost in 2 of 18 runs, with "client was not finished" xruns); a synchronous one waits
  for the client, so late MIDI arrives late but arrives (0 lost in 14 runs).
- **JACK has 8 server slots per machine**, in ``/dev/shm/jack-shm-registry``, and a server that dies
  uncleanly keeps its slot until a server *of the same name* starts again. Unique names per run would use up
  the slots for good after a few killed runs ("Too many servers already active"), so servers here take the
  first free name of a small pool, ``latentstage-test-0`` … ``-5``, which also reclaims a dead server's slot.

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
import time
from collections.abc import Iterator
from typing import IO, Any

import pytest

JACK_BACKEND = "mido.backends.rtmidi/UNIX_JACK"
SAMPLE_RATE, PERIOD = 48_000, 256          # 5.3 ms periods: the timing granularity of MIDI through the server
NAMES = tuple(f"latentstage-test-{k}" for k in range(6))   # leaves two of JACK's eight slots to anyone else
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


def is_running(server: str) -> bool:
    """Whether a JACK server of this name answers (``jack_wait -c``)."""
    checked = subprocess.run(["jack_wait", "-c"], env=jack_environ(server), capture_output=True, text=True,
                             timeout=30)
    return checked.stdout.strip() == "running"


def _log(output: IO[bytes]) -> str:
    output.seek(0)
    return output.read().decode(errors="replace")[-2000:]


@contextlib.contextmanager
def running_jack(name: str | None = None, timeout: float = 10.0) -> Iterator[str]:
    """Start ``jackd -n NAME -S --no-realtime -d dummy`` under ``name`` or the first free name of
    :data:`NAMES`, and wait until it answers (``jack_wait -w``); yields the server's name and stops the
    server afterwards. The test fails, with jackd's output, if no server will run."""
    for tool in ("jackd", "jack_wait"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} not found: the MIDI tests need a JACK server (Debian: apt-get install jackd2)")
    problems: list[str] = []
    for candidate in [name] if name else list(NAMES):
        if is_running(candidate):              # another run's (or an orphan's): never touch it
            problems.append(f"{candidate}: in use")
            continue
        with tempfile.TemporaryFile() as output:
            server = subprocess.Popen(["jackd", "-n", candidate, "-S", "--no-realtime", "-d", "dummy",
                                       "-r", str(SAMPLE_RATE), "-p", str(PERIOD)],
                                      env=jack_environ(candidate), stdin=subprocess.DEVNULL, stdout=output,
                                      stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
            try:
                try:
                    waited = subprocess.run(["jack_wait", "-w", "-t", str(int(timeout))],
                                            env=jack_environ(candidate), capture_output=True, text=True,
                                            timeout=timeout + 10)
                    time.sleep(0.05)           # a jackd that lost the name to a concurrent run exits at once
                    ready = waited.returncode == 0 and server.poll() is None
                except subprocess.TimeoutExpired:
                    ready = False
                if ready:
                    yield candidate
                    return
                problems.append(f"{candidate}: jackd exited {server.poll()}:\n{_log(output)}")
            finally:
                server.terminate()
                try:
                    server.wait(10)
                except subprocess.TimeoutExpired:
                    server.kill()
                    server.wait(10)
    pytest.fail(f"no JACK server would start within {timeout:g} s:\n" + "\n".join(problems))


@pytest.fixture(scope="module")
def jack_server() -> Iterator[str]:
    """A JACK server (dummy driver, real-time paced) for this test module; yields its name."""
    with running_jack() as name:
        yield name


@pytest.fixture
def jack_midi(jack_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A mido backend whose ports live on this module's JACK server (in this process, for this test: the
    environment is put back afterwards). Close the ports a test opens before it ends, inputs only once
    nothing more is arriving (see the module docstring)."""
    for key, value in jack_environ(jack_server, {}).items():
        monkeypatch.setenv(key, value)
    import mido
    yield mido.Backend(JACK_BACKEND, load=True)
