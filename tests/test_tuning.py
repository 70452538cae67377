"""Threads and precision from measurement: the budget leaves busy and reserved cores alone, the fastest
measured count wins (bf16 only where native and faster), measurements are cached per machine and model but
not when taken under load, and a hostile cache file is ignored."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from engine import tuning
from engine.tuning import busy_cores, candidate_threads, plan_cpu, read_cache, thread_budget


class FakeRates:
    """A measurement with known rates per (threads, precision), counting its calls."""

    def __init__(self, rates: dict[tuple[int, str], float]) -> None:
        self.rates, self.calls = rates, []

    def __call__(self, threads: int, precision: str) -> float:
        self.calls.append((threads, precision))
        return self.rates[(threads, precision)]


@pytest.fixture
def cores(monkeypatch):
    def set_cores(n: int) -> None:
        monkeypatch.setattr(tuning, "usable_cores", lambda: n)
    return set_cores


def test_the_budget_leaves_busy_and_reserved_cores_and_never_drops_below_one(cores):
    cores(8)
    assert thread_budget(reserved=1, busy=0.1) == 7
    assert thread_budget(reserved=1, busy=2.6) == 4
    cores(2)
    assert thread_budget(reserved=1, busy=1.0) == 1 and thread_budget(reserved=3, busy=5) == 1
    assert candidate_threads(6) == [1, 2, 4, 6] and candidate_threads(1) == [1]


def test_the_fastest_measured_count_wins_and_is_cached(tmp_path, cores, default_generator):
    cores(4)
    cache = str(tmp_path / "tuning.json")
    fake = FakeRates({(1, "fp32"): 20.0, (2, "fp32"): 31.0, (4, "fp32"): 24.0})
    plan = plan_cpu(default_generator, "default", reserved=0, cache_path=cache, busy=0.0, measure=fake,
                    native_bf16=False)
    assert (plan.threads, plan.precision) == (2, "fp32") and "31.0" in plan.reason and "not native" in plan.reason
    assert sorted(fake.calls) == [(1, "fp32"), (2, "fp32"), (4, "fp32")]
    again = FakeRates({})
    plan = plan_cpu(default_generator, "default", reserved=0, cache_path=cache, busy=0.0, measure=again,
                    native_bf16=False)
    assert again.calls == [] and plan.threads == 2 and "as measured before" in plan.reason
    # A busy core today: the budget shrinks and the cached rates choose within it, measuring nothing.
    plan = plan_cpu(default_generator, "default", reserved=1, cache_path=cache, busy=2.0, measure=again,
                    native_bf16=False)
    assert plan.threads == 1 and again.calls == []


def test_bf16_only_where_native_and_faster(tmp_path, cores, default_generator):
    cores(1)
    slow_bf16 = FakeRates({(1, "fp32"): 30.0, (1, "bf16"): 2.5})
    assert plan_cpu(default_generator, "default", 0, cache_path=str(tmp_path / "a.json"), busy=0.0,
                    measure=slow_bf16, native_bf16=True).precision == "fp32"
    fast_bf16 = FakeRates({(1, "fp32"): 30.0, (1, "bf16"): 55.0})
    assert plan_cpu(default_generator, "default", 0, cache_path=str(tmp_path / "b.json"), busy=0.0,
                    measure=fast_bf16, native_bf16=True).precision == "bf16"
    not_native = FakeRates({(1, "fp32"): 30.0})
    plan_cpu(default_generator, "default", 0, cache_path=str(tmp_path / "c.json"), busy=0.0, measure=not_native,
             native_bf16=False)
    assert not_native.calls == [(1, "fp32")]                 # bf16 is not even tried without native support
    asked = FakeRates({(1, "bf16"): 3.0})
    assert plan_cpu(default_generator, "default", 0, cache_path=str(tmp_path / "d.json"), busy=0.0, measure=asked,
                    precision="bf16", native_bf16=False).precision == "bf16"     # asked for: kept


def test_a_measurement_under_load_is_not_cached(tmp_path, cores, default_generator):
    cores(2)
    cache = tmp_path / "tuning.json"
    plan_cpu(default_generator, "default", 0, cache_path=str(cache), busy=1.2,
             measure=FakeRates({(1, "fp32"): 9.0}), native_bf16=False)
    assert not cache.exists()


@pytest.mark.parametrize("content", [
    b"\x00\xff garbage", b"[1, 2, 3]", b'{"version": 1, "runs": {"k": {"fp32": {"1": "fast", "2": -5, "999999": 3}}}}',
    b'{"version": 99, "runs": {}}', b"[" * 100_000, b'{"version": 1, "runs": ' + b"0" * 300_000 + b"}",
])
def test_a_hostile_cache_file_is_ignored(tmp_path, content):
    path = tmp_path / "tuning.json"
    path.write_bytes(content)
    runs = read_cache(str(path))
    assert all(rates == {} for per in runs.values() for rates in per.values())


def test_a_busy_process_is_seen_by_the_load_sample():
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        busy_cores(0.3)                                       # let it get going
        assert busy_cores(0.5) >= 0.6
    finally:
        spinner.kill()
        spinner.wait()


def test_the_real_measurement_times_synthesis_and_puts_everything_back(default_generator):
    before = torch.get_num_threads(), default_generator.precision
    rate = tuning.measure_synthesis(default_generator)(1, "fp32")
    assert rate > 0 and (torch.get_num_threads(), default_generator.precision) == before
    key = tuning.machine_key("default")
    assert "torch" in key and "default" in key and json.dumps(key)
