"""The generator in its own process: on a CPU-only machine, torch and software GL no longer share one GIL.

:class:`ProcessWorker` offers what :class:`~engine.worker.GeneratorWorker` offers (``request``, ``frames``,
``status``, ``start``, ``stop``), so the live loop cannot tell them apart. Behind it:

* a child process (``spawn``: nothing of the parent's state, GL or threads is inherited) loads the model
  itself and runs the generator with its own thread budget;
* nothing is shared that a killed child could leave locked: a request is plain numpy W written into a
  shared-memory slot under a sequence lock (the child retries a read that overlapped a write, the parent never
  waits), with one byte down a non-blocking pipe to wake the child; the newest request wins, and a request
  never waits for a frame;
* frames come back through three shared-memory slots: the child writes a slot the parent has finished with,
  then says so on a pipe; the parent's reader thread copies the pixels out and hands the slot back, so a frame
  is never read while it is being written;
* a child that dies (a crash, the out-of-memory killer, a kill) is reported in the status (the HUD shows it)
  and started again, with a growing pause while it keeps dying; the last good frame stays on screen.

    worker = ProcessWorker(G, model="ffhq.pkl", device="cpu", precision="fp32", threads=1).start()
    worker.request(walker.frame_at(t))          # every display frame, never blocks
    frame = worker.frames.latest()
    worker.stop()
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
from typing import Any

import numpy as np

from engine.latent.walker import WalkFrame
from engine.logs import Throttle
from engine.models.config import NOISE_MODES
from engine.worker import FrameQueue, GeneratedFrame, WorkerStatus

log = logging.getLogger(__name__)
_throttle = Throttle(log)

SLOTS = 3
# The request slot: a write counter (odd while the parent writes), then the request's sequence, walk time,
# noise mode and noise seed, then W as float32.
_HEADER = struct.Struct("<qqdiq")
RESTART_PAUSES = (0.5, 1.0, 2.0, 5.0, 10.0)  # seconds before each restart while the child keeps dying


class ProcessWorker:
    """The generator worker that runs the generator in a child process (see the module docstring)."""

    def __init__(self, G: Any, model: str, device: str = "cpu", precision: str = "fp32", threads: int = 1) -> None:
        self.model, self.device, self.precision, self.threads = model, device, precision, threads
        self.num_ws, self.w_dim, self.resolution = G.num_ws, G.w_dim, G.img_resolution
        self.frames = FrameQueue(2)
        self.status = WorkerStatus(resolution=G.img_resolution, device=device, precision=precision)
        self.restarts = 0
        self.ready = threading.Event()
        self._context = mp.get_context("spawn")
        w_bytes = self.num_ws * self.w_dim * 4
        self._request = mp.shared_memory.SharedMemory(create=True, size=_HEADER.size + w_bytes)
        frame_bytes = self.resolution * self.resolution * 3
        self._slots = mp.shared_memory.SharedMemory(create=True, size=SLOTS * frame_bytes)
        self._sequence = 0
        self._writes = 0
        self._request_lock = threading.Lock()     # this process's threads only; the child never takes it
        self._send_lock = threading.Lock()        # the reader thread and stop() both send on the control pipe
        self._posted: dict[int, float] = {}
        self._running = False
        self._process: Any = None
        self._conn: multiprocessing.connection.Connection | None = None
        self._wake: multiprocessing.connection.Connection | None = None
        self._reader: threading.Thread | None = None

    # ---------------------------------------------------------------------------------------- the parent
    def start(self) -> ProcessWorker:
        self._running = True
        self._spawn()
        self._reader = threading.Thread(target=self._read, name="generator-process-reader", daemon=True)
        self._reader.start()
        return self

    @property
    def alive(self) -> bool:
        return self._running

    @property
    def pid(self) -> int | None:
        """The generator process's id (None when none runs): for benchmarks that watch its memory."""
        process = self._process
        return process.pid if process is not None and process.is_alive() else None

    def request(self, frame: WalkFrame) -> int:
        """Ask for a frame: the W goes into the request slot (the newest wins). Never waits for the child,
        whatever state it is in (busy, hung, dead)."""
        ws = np.ascontiguousarray(frame.ws.detach().to("cpu").numpy().reshape(self.num_ws, self.w_dim),
                                  dtype=np.float32)
        buffer = _buf(self._request)
        with self._request_lock:
            self._sequence += 1
            if len(self._posted) > 64:
                self._posted.clear()
            self._posted[self._sequence] = time.perf_counter()
            self._writes += 1                                    # odd: a write is under way
            struct.pack_into("<q", buffer, 0, self._writes)
            _HEADER.pack_into(buffer, 0, self._writes, self._sequence, float(frame.t),
                              NOISE_MODES.index(frame.noise_mode), int(frame.noise_seed) % (2 ** 63))
            buffer[_HEADER.size:_HEADER.size + ws.nbytes] = ws.tobytes()
            self._writes += 1                                    # even: done
            struct.pack_into("<q", buffer, 0, self._writes)
            sequence = self._sequence
        wake = self._wake
        if wake is not None:
            try:
                wake.send_bytes(b"!")      # non-blocking: a full pipe means the child has wakes waiting already
            except OSError:                # BlockingIOError, or a child that is gone (the reader restarts it)
                pass
        return sequence

    def stop(self, timeout: float = 10.0) -> None:
        """End the child, the reader thread, and the shared memory."""
        if not self._running and self._process is None:
            return
        self._running = False
        self._send(("quit",))
        if self._process is not None:
            self._process.join(timeout)
            if self._process.is_alive():
                self._process.kill()
                self._process.join()
            self._process = None
        if self._reader is not None:
            self._reader.join(timeout)
            self._reader = None
        for connection in (self._conn, self._wake):
            if connection is not None:
                connection.close()
        self._conn = self._wake = None
        for memory in (self._request, self._slots):
            memory.close()
            try:
                memory.unlink()
            except FileNotFoundError:
                pass

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
        old = (self._conn, self._wake)
        self._process = self._context.Process(
            target=_child_main, name="latentstage-generator", daemon=True,
            args=(child, wake_reader, self.model, self.device, self.precision, self.threads, self._request.name,
                  self._slots.name, self.num_ws, self.w_dim, self.resolution))
        self._process.start()
        child.close()
        wake_reader.close()
        with self._send_lock:
            self._conn, self._wake = parent, wake_writer
        for connection in old:
            if connection is not None:
                connection.close()

    def _read(self) -> None:
        """The reader thread: frames in, slots back; a dead child is reported and restarted."""
        frame_bytes = self.resolution * self.resolution * 3
        pauses = iter(RESTART_PAUSES)
        while self._running:
            conn = self._conn
            assert conn is not None
            try:
                message = conn.recv()
            except (EOFError, OSError):
                message = None
            if message is None:
                if not self._running:
                    return
                process = self._process
                if process is not None:
                    process.join(1)
                code = process.exitcode if process is not None else None
                self._fail(f"the generator process stopped (exit {code}); restarting it", traceback=False)
                self.ready.clear()
                time.sleep(next(pauses, RESTART_PAUSES[-1]))
                if not self._running:
                    return
                self.restarts += 1
                self._spawn()
                continue
            kind = message[0]
            if kind == "ready":
                _, self.status.resolution, self.status.device, self.status.precision = message
                self.ready.set()
                pauses = iter(RESTART_PAUSES)
                self._send(("wake",))                             # a request may be waiting already
            elif kind == "frame":
                _, slot, sequence, stamp, seconds = message
                start = slot * frame_bytes
                rgb = np.frombuffer(_buf(self._slots)[start:start + frame_bytes], np.uint8).reshape(
                    self.resolution, self.resolution, 3).copy()
                self._send(("free", slot))
                posted = self._posted.get(sequence, time.perf_counter())
                self.status.frames += 1
                self.status.last_frame_seconds = seconds
                self.frames.put(GeneratedFrame(rgb=rgb, stamp=stamp, sequence=sequence,
                                               latency=time.perf_counter() - posted))
            elif kind == "error":
                self._fail(str(message[1]), traceback=False)

    def _fail(self, message: str, traceback: bool) -> None:
        self.status.errors += 1
        self.status.last_error = message.splitlines()[0] if message else "error"
        self.status.last_error_at = time.perf_counter()
        _throttle.error("generator process", "generator: %s", self.status.last_error, exc_info=traceback)


def _buf(memory: mp.shared_memory.SharedMemory) -> memoryview:
    buffer = memory.buf
    assert buffer is not None, "shared memory used after close"
    return buffer


# -------------------------------------------------------------------------------------------- the child
def _read_request(buffer: memoryview, w_bytes: int) -> tuple[int, float, int, int, np.ndarray]:
    """The newest request, read under the sequence lock: a read that overlapped a write is tried again."""
    while True:
        writes, sequence, t, noise, seed = _HEADER.unpack_from(buffer, 0)
        if writes % 2 == 0:
            ws = np.frombuffer(buffer[_HEADER.size:_HEADER.size + w_bytes], np.float32).copy()
            if struct.unpack_from("<q", buffer, 0)[0] == writes:
                return sequence, t, noise, seed, ws
        time.sleep(0.0001)


def _child_main(conn: Any, wake: Any, model: str, device: str, precision: str, threads: int,
                request_name: str, slots_name: str, num_ws: int, w_dim: int, resolution: int) -> None:
    """Runs in the generator process: load the model, then make the newest requested frame, again and again.
    Ends when the parent says quit or goes away (its end of the pipe closes)."""
    import torch

    from engine.generate import FrameSynthesizer, NonFiniteFrame
    from engine.models import load_generator
    torch.set_num_threads(max(1, threads))
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
        G = load_generator(model, device=device, precision=precision)
        synthesizer = FrameSynthesizer(G)
        conn.send(("ready", G.img_resolution, G.device.type, G.precision))
        frame_bytes = resolution * resolution * 3
        last = 0
        while True:
            ready = multiprocessing.connection.wait([conn, wake], timeout=0.5)
            if conn in ready and not handle(conn.recv()):
                return
            while wake.poll():
                wake.recv_bytes()
            sequence, t, noise, seed, ws = _read_request(_buf(request), num_ws * w_dim * 4)
            if sequence == last:
                continue
            last = sequence
            frame = WalkFrame(t=t, ws=torch.from_numpy(ws.reshape(1, num_ws, w_dim)),
                              noise_mode=NOISE_MODES[noise], noise_seed=seed)  # type: ignore[arg-type]
            started = time.perf_counter()
            try:
                rgb = synthesizer.render(frame)
            except NonFiniteFrame as exc:
                conn.send(("error", f"frame skipped: {exc}"))
                continue
            except Exception as exc:  # reported; the next request is tried (a dead process would cost more)
                conn.send(("error", f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"))
                continue
            seconds = time.perf_counter() - started
            while not free:                                    # the parent has all slots: wait for one back
                if not handle(conn.recv()):
                    return
            slot = free.pop(0)
            _buf(slots)[slot * frame_bytes:(slot + 1) * frame_bytes] = rgb.tobytes()
            conn.send(("frame", slot, sequence, t, seconds))
    except (EOFError, OSError, KeyboardInterrupt):
        pass
    finally:
        request.close()
        slots.close()
