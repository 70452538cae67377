"""A frame-making job in a process of its own, fed through shared memory: the frame producers' transport.

Both heavy models of the engine run this way on CPU-only machines: the StyleGAN generator
(:mod:`engine.process_worker`: W in, a frame out) and the camera's pix2pix model
(:mod:`controllers.camera.model_process`: a camera image in, an image out). :class:`SharedProcess` is what
they share; what a job does is a plain function the child imports (``spawn``: nothing of the parent's state,
GL or threads is inherited):

* a *request* is bytes written into a shared-memory slot under a sequence lock (a write counter that is odd
  while the parent writes; the child retries a read that overlapped a write, the parent never waits), with one
  byte down a non-blocking pipe to wake the child. The newest request wins: one written while the child is
  busy replaces the one waiting, so the child always works on the latest and never builds a backlog;
* *results* come back through :data:`SLOTS` shared-memory slots: the child writes a slot the parent has
  finished with, then says so on a pipe; the parent's reader thread copies the pixels out and hands the slot
  back, so a result is never read while it is being written;
* nothing is shared that a killed child could leave locked. A child that dies (a crash, the out-of-memory
  killer, a kill) is reported and started again, with a growing pause while it keeps dying
  (:data:`RESTART_PAUSES`; the pause shrinks back only once a restarted child has delivered a result); a job
  that cannot even be made (a bad model file) is reported and tried again the same way, or, with
  ``retry_failed_start=False``, not at all.

    process = SharedProcess(make_job, (path,), request_bytes=..., result_bytes=..., name="camera-model",
                            on_ready=..., on_result=..., on_problem=...).start()
    process.submit(payload, tag=camera_sequence)     # any thread; never waits, whatever the child is doing
    process.stop()

``make_job(*args)`` runs in the child and returns a :class:`Job`: its ``info`` (sent to ``on_ready``) and a
call from one request's payload to a numeric array (at most ``result_bytes``) and a tuple of plain values
(both handed to ``on_result``). Problems reach ``on_problem`` as one line and a kind: ``"fatal"`` (the job
could not be made), ``"died"`` (the child stopped) or ``"error"`` (one request failed; the next is served).
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import multiprocessing.connection
import multiprocessing.shared_memory
import os
import struct
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any, Literal, Protocol

import numpy as np

log = logging.getLogger(__name__)

SLOTS = 3
RESTART_PAUSES = (0.5, 1.0, 2.0, 5.0, 10.0)  # seconds before each restart while the child keeps dying
# The request slot: the write counter (odd while the parent writes), the request's sequence, the owner's tag,
# the payload's length; then the payload.
_HEADER = struct.Struct("<qqqq")
_RESULT_KINDS = "biuf"            # numpy dtype kinds a result may have: bool, integers, floats


class Job(Protocol):
    """What the child runs: made once by the job's factory, then called for every request it takes."""

    info: tuple[Any, ...]

    def __call__(self, payload: bytes) -> tuple[np.ndarray, tuple[Any, ...]]: ...


class Skipped(Exception):
    """A job's way to say a request gave no result, in words the owner shows as they are."""


ProblemKind = Literal["fatal", "died", "error"]
ReadyHandler = Callable[[tuple[Any, ...]], None]
ResultHandler = Callable[[np.ndarray, int, int, tuple[Any, ...], float], None]  # array, sequence, tag, meta, s
ProblemHandler = Callable[[str, ProblemKind], None]                              # one line, its kind


class SharedProcess:
    """The parent's side (see the module docstring). ``submit`` may be called from any thread; the handlers
    run on the reader thread."""

    def __init__(self, factory: Callable[..., Job], args: tuple[Any, ...], request_bytes: int, result_bytes: int,
                 name: str, on_ready: ReadyHandler, on_result: ResultHandler, on_problem: ProblemHandler,
                 retry_failed_start: bool = True) -> None:
        if request_bytes < 1 or result_bytes < 1:
            raise ValueError(f"request and result sizes must be positive, got {request_bytes}, {result_bytes}")
        self.factory, self.args, self.name = factory, args, name
        self.request_bytes, self.result_bytes = request_bytes, result_bytes
        self.on_ready, self.on_result, self.on_problem = on_ready, on_result, on_problem
        self.retry_failed_start = retry_failed_start
        self.restarts = 0
        self.failed = False                       # the job could not be made and will not be tried again
        self.ready = threading.Event()
        self._context = mp.get_context("spawn")
        self._request = mp.shared_memory.SharedMemory(create=True, size=_HEADER.size + request_bytes)
        self._slots = mp.shared_memory.SharedMemory(create=True, size=SLOTS * result_bytes)
        self._sequence = 0
        self._writes = 0
        self._request_lock = threading.Lock()     # this process's threads only; the child never takes it
        self._send_lock = threading.Lock()        # the reader thread and stop() both send on the control pipe
        self._wake_lock = threading.Lock()        # submit() wakes through the pipe a restart replaces
        self._lifecycle = threading.Lock()        # a restart and stop() never interleave
        self._stopping = threading.Event()
        self._closed = False
        self._running = False
        self._process: Any = None
        self._conn: multiprocessing.connection.Connection | None = None
        self._wake: multiprocessing.connection.Connection | None = None
        self._reader: threading.Thread | None = None

    def start(self) -> SharedProcess:
        with self._lifecycle:
            if self._closed:
                raise RuntimeError(f"{self.name}: stopped; make a new one")
            self._running = True
            self._spawn()
        self._reader = threading.Thread(target=self._read, name=f"{self.name}-reader", daemon=True)
        self._reader.start()
        return self

    @property
    def pid(self) -> int | None:
        """The child's process id (None when none runs): for tests that kill it and benchmarks that watch it."""
        process = self._process
        return process.pid if process is not None and process.is_alive() else None

    @property
    def names(self) -> tuple[str, str]:
        """The shared-memory blocks' names (tests check that none is left behind)."""
        return self._request.name, self._slots.name

    def submit(self, payload: bytes | memoryview, tag: int = 0) -> int:
        """Write a request (the newest wins) and wake the child; its sequence number. Never waits for the
        child, whatever state it is in (busy, hung, dead)."""
        size = len(payload)
        if size > self.request_bytes:
            raise ValueError(f"{self.name}: a request of {size} bytes, the slot holds {self.request_bytes}")
        with self._request_lock:
            if self._closed:                                     # stopped: nobody will answer
                return self._sequence
            buffer = _buf(self._request)
            self._sequence += 1
            self._writes += 1                                    # odd: a write is under way
            struct.pack_into("<q", buffer, 0, self._writes)
            _HEADER.pack_into(buffer, 0, self._writes, self._sequence, int(tag), size)
            buffer[_HEADER.size:_HEADER.size + size] = payload
            self._writes += 1                                    # even: done
            struct.pack_into("<q", buffer, 0, self._writes)
            sequence = self._sequence
        with self._wake_lock:              # never a pipe that a restart is closing
            if self._wake is not None:
                try:
                    self._wake.send_bytes(b"!")   # non-blocking: a full pipe means wakes are waiting already
                except OSError:            # BlockingIOError, or a child that is gone (the reader restarts it)
                    pass
        return sequence

    def stop(self, timeout: float = 10.0) -> None:
        """End the child, the reader thread, and the shared memory (also if it never started)."""
        with self._lifecycle:                 # after this no restart can start another child
            if self._closed:
                return
            self._closed, self._running = True, False
            self._stopping.set()
        self._send(("quit",))
        if self._process is not None:
            self._process.join(timeout)
            if self._process.is_alive():
                self._process.kill()
                self._process.join()
            self._process = None
        if self._reader is not None and self._reader is not threading.current_thread():
            self._reader.join(timeout)
        self._reader = None
        with self._send_lock, self._wake_lock:
            for connection in (self._conn, self._wake):
                if connection is not None:
                    connection.close()
            self._conn = self._wake = None
        with self._request_lock:
            for memory in (self._request, self._slots):
                try:
                    memory.unlink()                   # first: the name never outlives us
                except FileNotFoundError:
                    pass
                try:
                    memory.close()
                except BufferError:                   # a reader that did not finish still holds a view
                    log.warning("%s: shared memory still in use at stop; released at exit", self.name)

    def _send(self, message: tuple[Any, ...]) -> None:
        with self._send_lock:
            if self._conn is not None:
                try:
                    self._conn.send(message)
                except OSError:            # the child is gone; the reader thread sees it and restarts it
                    pass

    def _spawn(self) -> None:
        parent, child = self._context.Pipe()
        wake_reader, wake_writer = self._context.Pipe(duplex=False)
        os.set_blocking(wake_writer.fileno(), False)
        self._process = self._context.Process(
            target=_child_main, name=f"latentstage-{self.name}", daemon=True,
            args=(child, wake_reader, self.factory, self.args, self._request.name, self._slots.name,
                  self.request_bytes, self.result_bytes))
        self._process.start()
        child.close()
        wake_reader.close()
        with self._send_lock, self._wake_lock:
            for connection in (self._conn, self._wake):
                if connection is not None:
                    connection.close()
            self._conn, self._wake = parent, wake_writer

    def _read(self) -> None:
        """The reader thread: results in, slots back; a dead child is reported and restarted."""
        pauses = iter(RESTART_PAUSES)
        while self._running:
            conn = self._conn
            if conn is None:
                return
            try:
                message = conn.recv()
            except (EOFError, OSError):
                message = None
            except Exception:                 # a message that does not even unpickle: the child is not ours
                message = None
            if message is None or message[0] == "fatal":
                if not self._running:
                    return
                process = self._process
                if process is not None:
                    process.join(1)
                self.ready.clear()
                if message is not None:
                    fatal = not self.retry_failed_start
                    self._report(str(message[1]), "fatal" if fatal else "died")
                    if fatal:
                        self.failed = True
                        return
                else:
                    code = process.exitcode if process is not None else None
                    self._report(f"the {self.name} process stopped (exit {code}); restarting it", "died")
                if self._stopping.wait(next(pauses, RESTART_PAUSES[-1])):
                    return
                with self._lifecycle:
                    if not self._running:
                        return
                    self.restarts += 1
                    self._spawn()
                continue
            try:
                if self._dispatch(message):
                    pauses = iter(RESTART_PAUSES)             # a restarted child that works: pauses shrink
            except Exception as exc:         # a handler that raised, or a malformed message: said, not fatal
                log.debug("%s: reader", self.name, exc_info=True)
                self._report(f"{type(exc).__name__}: {str(exc)[:200]}", "error")

    def _dispatch(self, message: Any) -> bool:
        """One message from the child (True for a result). Everything in it is checked: shape, dtype, slot."""
        kind = message[0]
        if kind == "ready":
            self.ready.set()
            self.on_ready(tuple(message[1]))
            self._send(("wake",))                             # a request may be waiting already
        elif kind == "result":
            _, slot, sequence, tag, shape, dtype, meta, seconds = message
            if not (isinstance(slot, int) and 0 <= slot < SLOTS):
                raise ValueError(f"a result in slot {slot!r}; there are {SLOTS}")
            try:
                dtype = np.dtype(dtype)
                count = int(np.prod(shape)) * dtype.itemsize
                if dtype.kind not in _RESULT_KINDS or not 0 < count <= self.result_bytes:
                    raise ValueError(f"a result of {dtype} {list(shape)}: not what the slots hold")
                start = slot * self.result_bytes
                array = np.frombuffer(_buf(self._slots)[start:start + count], dtype).reshape(shape).copy()
            finally:
                self._send(("free", slot))                    # always back, or the child runs out of slots
            self.on_result(array, int(sequence), int(tag), tuple(meta), float(seconds))
            return True
        elif kind == "error":
            self._report(str(message[1]), "error")
        return False

    def _report(self, text: str, kind: ProblemKind) -> None:
        try:
            self.on_problem(text, kind)
        except Exception:                    # the owner's handler must not end the reader
            log.exception("%s: the problem handler failed on %r", self.name, text[:200])


def _buf(memory: mp.shared_memory.SharedMemory) -> memoryview:
    buffer = memory.buf
    assert buffer is not None, "shared memory used after close"
    return buffer


def _one_line(exc: BaseException) -> str:
    """An exception as the parent shows it: our own errors (Skipped, ValueError and OSError kinds such as a bad
    model file) in their own words, anything else with its type, and its traceback on the child's stderr."""
    text = str(exc).strip().splitlines()
    if isinstance(exc, (Skipped, ValueError, OSError)) and text:
        return text[0]
    traceback.print_exc()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


# -------------------------------------------------------------------------------------------- the child
def _read_request(buffer: memoryview) -> tuple[int, int, bytes]:
    """The newest request (sequence, tag, payload), read under the sequence lock: a read that overlapped a
    write is tried again."""
    while True:
        writes, sequence, tag, size = _HEADER.unpack_from(buffer, 0)
        if writes % 2 == 0:
            payload = bytes(buffer[_HEADER.size:_HEADER.size + size])
            if struct.unpack_from("<q", buffer, 0)[0] == writes:
                return sequence, tag, payload
        time.sleep(0.0001)


def _child_main(conn: Any, wake: Any, factory: Callable[..., Job], args: tuple[Any, ...], request_name: str,
                slots_name: str, request_bytes: int, result_bytes: int) -> None:
    """Runs in the child: make the job, then answer the newest request, again and again. Ends when the parent
    says quit or goes away (its end of the pipe closes)."""
    # Attaching registers the names with the resource tracker the parent shares with us; that is the
    # parent's own entry (a set), which its unlink removes, so nothing is left over and nothing is freed twice.
    request = mp.shared_memory.SharedMemory(name=request_name)
    slots = mp.shared_memory.SharedMemory(name=slots_name)
    free = list(range(SLOTS))

    def handle(message: tuple[Any, ...]) -> bool:
        """One message from the parent; False when it says quit."""
        if message[0] == "free":
            free.append(message[1])
        return message[0] != "quit"

    try:
        try:
            job = factory(*args)
        except Exception as exc:                  # a model that cannot load: reported, then this child ends
            conn.send(("fatal", _one_line(exc)[:300]))
            return
        conn.send(("ready", tuple(job.info)))
        last = 0
        while True:
            ready = multiprocessing.connection.wait([conn, wake], timeout=0.5)
            if conn in ready and not handle(conn.recv()):
                return
            while wake.poll():
                wake.recv_bytes()
            sequence, tag, payload = _read_request(_buf(request))
            if sequence == last:
                continue
            last = sequence
            started = time.perf_counter()
            try:
                array, meta = job(payload)
                array = np.ascontiguousarray(array)
                if array.nbytes > result_bytes:
                    raise Skipped(f"a result of {array.nbytes} bytes, the slot holds {result_bytes}")
            except Exception as exc:   # reported; the next request is tried (a dead process would cost more)
                conn.send(("error", _one_line(exc)[:300]))
                continue
            seconds = time.perf_counter() - started
            while not free:                                    # the parent has all slots: wait for one back
                if not handle(conn.recv()):
                    return
            slot = free.pop(0)
            _buf(slots)[slot * result_bytes:slot * result_bytes + array.nbytes] = array.reshape(-1).view(np.uint8).data
            conn.send(("result", slot, sequence, tag, array.shape, array.dtype.str, tuple(meta), seconds))
    except (EOFError, OSError, KeyboardInterrupt):
        pass
    finally:
        request.close()
        slots.close()
