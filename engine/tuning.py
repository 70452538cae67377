"""How many torch threads, and which CPU precision, the generator runs fastest with here: measured, not assumed.

Machines differ, and the assumptions break: on one 2-core machine bf16 was 12x *slower* than fp32 (no native
bf16), and torch's default of one thread per core collapsed to a tenth of its speed as soon as one other
program kept a core busy (OpenMP threads wait for the one that is not running). So at start, on the CPU:

1. **The budget.** The cores this process may use (its affinity mask), less the cores busy right now (sampled
   from ``/proc/stat`` for a fifth of a second), less the cores kept for what runs beside the generator:
   software GL draws on the CPU, and an offline render's video encoder. Never fewer than one thread.
2. **The measurement.** A few frames at each candidate thread count up to the budget, in fp32 and, only where
   the processor computes bf16 natively, in bf16; the fastest wins. Measured once per machine, torch version
   and model, and cached in ``~/.cache/latentstage/tuning.json`` (``$XDG_CACHE_HOME``), so later starts cost
   only the 0.2 s load sample. A measurement taken while other programs kept cores busy is used but not
   cached (it would be wrong on a calm day).
3. **The plan.** The fastest measured count within today's budget, so a busy core found at start lowers the
   thread count instead of collapsing the frame rate.

    plan = plan_cpu(G, model="ffhq.pkl", reserved=1)        # 1: software GL keeps a core
    torch.set_num_threads(plan.threads)
    G.set_precision(plan.precision)
    print(plan.reason)      # "1 torch thread, fp32: 31.0 frames/s measured (2 threads: 24.4; bf16: not native)"

The cache is untrusted input like any file: bounded in size and entries, and a file that is not what this
module writes is ignored (and replaced at the next measurement).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

CACHE_VERSION = 1
MAX_CACHE_BYTES = 256 * 1024
MAX_CACHE_ENTRIES = 64
BUSY_SAMPLE_SECONDS = 0.2
CALM_BUSY_CORES = 0.5            # measurements taken with more than this busy elsewhere are not cached
MEASURE_FRAMES = 3               # timed frames per candidate (the median counts), after one warm-up
MEASURE_SECONDS = 2.0            # ... or fewer where a frame is slow (a 1024² model on a small CPU)

Measure = Callable[[int, str], float]     # (threads, precision) -> frames per second


@dataclasses.dataclass(frozen=True)
class CpuPlan:
    """What the generator runs with on the CPU, and why (one line for the log)."""

    threads: int
    precision: str
    reason: str


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask: a container or ``taskset`` may allow fewer)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _cpu_times() -> tuple[float, float] | None:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat; None where there is no such file."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = f.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    try:
        values = [float(v) for v in fields[1:9]]
    except ValueError:
        return None
    idle = values[3] + (values[4] if len(values) > 4 else 0.0)    # idle + iowait
    total = sum(values)
    return total - idle, total


def busy_cores(seconds: float = BUSY_SAMPLE_SECONDS) -> float:
    """How many cores other programs keep busy right now (this process sleeps while it samples)."""
    first = _cpu_times()
    if first is None:
        return 0.0
    time.sleep(seconds)
    second = _cpu_times()
    if second is None or second[1] <= first[1]:
        return 0.0
    share = (second[0] - first[0]) / (second[1] - first[1])
    return max(0.0, share * (os.cpu_count() or 1))


def thread_budget(reserved: int, busy: float) -> int:
    """Threads the generator may have: the usable cores less the busy and the reserved ones, at least one."""
    return max(1, usable_cores() - int(round(busy)) - max(0, reserved))


def candidate_threads(budget: int) -> list[int]:
    """The thread counts worth measuring up to ``budget``: 1, 2, 4, … and the budget itself."""
    counts = {budget}
    n = 1
    while n < budget:
        counts.add(n)
        n *= 2
    return sorted(counts)


def machine_key(model: str) -> str:
    """What a measurement depends on: the processor, its core count, torch, and the model file."""
    import torch
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    identity = model
    if model != "default":
        try:
            st = os.stat(model)
            identity = f"{os.path.abspath(model)}:{st.st_size}:{int(st.st_mtime)}"
        except OSError:
            pass
    return f"{cpu[:80]}|{os.cpu_count()} cores|torch {torch.__version__}|{identity[:300]}"


def default_cache_path() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "latentstage", "tuning.json")


def read_cache(path: str) -> dict[str, dict[str, dict[str, float]]]:
    """The cached measurements: {machine key: {precision: {threads: frames/s}}}; {} for anything else."""
    try:
        if os.path.getsize(path) > MAX_CACHE_BYTES:
            return {}
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError, RecursionError):
        return {}
    if not isinstance(data, dict) or data.get("version") != CACHE_VERSION or not isinstance(data.get("runs"), dict):
        return {}
    runs: dict[str, dict[str, dict[str, float]]] = {}
    for key, per_precision in list(data["runs"].items())[:MAX_CACHE_ENTRIES]:
        if not isinstance(key, str) or not isinstance(per_precision, dict):
            continue
        clean: dict[str, dict[str, float]] = {}
        for precision, rates in per_precision.items():
            if precision in ("fp32", "bf16") and isinstance(rates, dict):
                clean[precision] = {t: float(r) for t, r in rates.items()
                                    if isinstance(t, str) and t.isdigit() and len(t) <= 3
                                    and isinstance(r, (int, float)) and not isinstance(r, bool)
                                    and math.isfinite(r) and r > 0}
        runs[key] = clean
    return runs


def write_cache(path: str, runs: dict[str, dict[str, dict[str, float]]]) -> None:
    """Write atomically (a crash leaves the old file); the newest entries are kept within the bound."""
    kept = dict(list(runs.items())[-MAX_CACHE_ENTRIES:])
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tuning-", dir=os.path.dirname(path))
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"version": CACHE_VERSION, "runs": kept}, f, indent=1)
        os.replace(tmp, path)
    except OSError as exc:
        log.info("cannot keep the CPU measurements in %s (%s); they are made again next time", path, exc)


def measure_synthesis(G: Any) -> Measure:
    """A :data:`Measure` that times ``G``'s synthesis at batch 1 (its precision is put back afterwards)."""
    import torch

    def measure(threads: int, precision: str) -> float:
        before_threads, before_precision = torch.get_num_threads(), G.precision
        torch.set_num_threads(threads)
        G.set_precision(precision)
        try:
            generator = torch.Generator(device=G.device).manual_seed(0)
            z = torch.randn(1, G.z_dim, generator=generator, device=G.device)
            c = torch.zeros(1, G.c_dim, device=G.device) if G.c_dim else None
            with torch.inference_mode():
                ws = G.mapping(z, c, truncation_psi=0.7)
                G.synthesis(ws)                                       # warm-up (allocations, kernels)
                times: list[float] = []
                deadline = time.perf_counter() + MEASURE_SECONDS
                while len(times) < MEASURE_FRAMES and (not times or time.perf_counter() < deadline):
                    start = time.perf_counter()
                    G.synthesis(ws)
                    times.append(time.perf_counter() - start)
            return 1.0 / max(statistics.median(times), 1e-9)
        finally:
            torch.set_num_threads(before_threads)
            G.set_precision(before_precision)

    return measure


def plan_cpu(G: Any, model: str, reserved: int, precision: str = "auto", cache_path: str | None = None,
             busy: float | None = None, measure: Measure | None = None, native_bf16: bool | None = None) -> CpuPlan:
    """The thread count and precision for ``G`` on this CPU (see the module docstring). ``precision`` other
    than "auto" is kept as asked; ``busy``, ``measure`` and ``native_bf16`` are for tests (measured here
    when None)."""
    from engine.models.load import cpu_has_native_bf16
    busy = busy_cores() if busy is None else busy
    budget = thread_budget(reserved, busy)
    if native_bf16 is None:
        native_bf16 = cpu_has_native_bf16()
    if precision == "auto":
        precisions = ["fp32", "bf16"] if native_bf16 else ["fp32"]
    else:
        precisions = [precision]
    counts = candidate_threads(budget)
    path = cache_path or default_cache_path()
    runs = read_cache(path)
    key = machine_key(model)
    known = runs.get(key, {})
    measure = measure or measure_synthesis(G)
    rates: dict[str, dict[str, float]] = {p: dict(known.get(p, {})) for p in precisions}
    measured = False
    for p in precisions:
        for n in counts:
            if str(n) not in rates[p]:
                rates[p][str(n)] = measure(n, p)
                measured = True
    if measured and busy <= CALM_BUSY_CORES:
        runs.pop(key, None)
        runs[key] = {**known, **rates}
        write_cache(path, runs)
    best_precision, best_threads, best_rate = "fp32", 1, -1.0
    for p in precisions:
        for n in counts:
            rate = rates[p][str(n)]
            if rate > best_rate * 1.03:          # a tie goes to fewer threads and to fp32 (listed first)
                best_precision, best_threads, best_rate = p, n, rate
    others = [f"{n} thread{'s' if n > 1 else ''}{'' if p == best_precision else ' ' + p}: {rates[p][str(n)]:.1f}"
              for p in precisions for n in counts if (p, n) != (best_precision, best_threads)]
    if precision == "auto" and not native_bf16:
        others.append("bf16: not native here")
    context = [f"{usable_cores()} cores"]
    if busy >= 0.5:
        context.append(f"{busy:.1f} busy elsewhere")
    if reserved:
        context.append(f"{reserved} kept for GL and the encoder")
    reason = (f"{best_threads} torch thread{'s' if best_threads > 1 else ''}, {best_precision}: {best_rate:.1f} "
              f"frames/s {'measured' if measured else 'as measured before'}"
              + (f" ({'; '.join(others)})" if others else "") + f" [{', '.join(context)}]")
    return CpuPlan(threads=best_threads, precision=best_precision, reason=reason)
