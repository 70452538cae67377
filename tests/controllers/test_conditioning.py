"""Conditioning (controllers/conditioning.py) on synthetic streams: every stage computes on real samples."""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Sequence

import pytest

from controllers.conditioning import (MAX_SAMPLES, AttackRelease, Conditioner, Conditioning, OneEuroFilter,
                                      _Window, parse_conditioning)

WHERE = "inputs.osc.map[2].condition"


def conditioner(data: object) -> Conditioner:
    return Conditioner(parse_conditioning(data, WHERE))


def feed(c: Conditioner, samples: Sequence[tuple[float, float]]) -> list[float | None]:
    return [c.process(t, v) for t, v in samples]


def sine(t0: float, t1: float, rate: float, amplitude: float, centre: float = 10.0,
         period: float = 1.0) -> list[tuple[float, float]]:
    n = round((t1 - t0) * rate)
    return [(t0 + i / rate, centre + amplitude * math.sin(2 * math.pi * (t0 + i / rate) / period)) for i in range(n)]


def values(outputs: list[float | None]) -> list[float]:
    assert all(y is not None for y in outputs)
    return [y for y in outputs if y is not None]


# -- normalisation -----------------------------------------------------------------------------------------------

def test_adaptive_range_spans_0_1_and_relaxes_after_the_amplitude_drops() -> None:
    c = conditioner({"learn": {"adaptive": 5}})
    feed(c, sine(0, 5, 100, amplitude=3))
    last_cycle = values(feed(c, sine(5, 6, 100, amplitude=3)))
    assert min(last_cycle) < 0.03 and max(last_cycle) > 0.97
    assert c.low is not None and c.high is not None
    assert 7.0 <= c.low < 7.5 and 12.5 < c.high <= 13.0                        # sagging a little since the peaks
    # the amplitude drops to 1: at first the old extremes squeeze the output into the middle ...
    first = values(feed(c, sine(6, 7, 100, amplitude=1)))
    assert max(first) - min(first) < 0.6
    # ... and within four half-lives (20 s) the range has relaxed to the new signal
    feed(c, sine(7, 26, 100, amplitude=1))
    late = values(feed(c, sine(26, 27, 100, amplitude=1)))
    assert min(late) < 0.1 and max(late) > 0.9
    assert 8.8 < c.low < 9.5 and 10.5 < c.high < 11.2


def test_percentiles_over_a_window_ignore_outliers_and_forget_old_samples() -> None:
    rng = random.Random(3)
    c = conditioner({"learn": {"percentiles": [5, 95], "window": 10}})
    samples = [(i / 128, 1000.0 if i % 97 == 0 else -1000.0 if i % 89 == 0 else rng.random()) for i in range(2560)]
    outputs = values(feed(c, samples))
    assert c.low == pytest.approx(0.05, abs=0.03) and c.high == pytest.approx(0.95, abs=0.03)
    typical = [y for (_, v), y in zip(samples[1280:], outputs[1280:]) if 0 <= v <= 1]
    assert min(typical) == 0.0 and max(typical) == 1.0                         # the output clamp, default 0..1
    assert statistics.mean(typical) == pytest.approx(0.5, abs=0.05)
    assert 0.3 < statistics.pstdev(typical) < 0.35                             # uniform 0..1 over 0.05..0.95
    assert c.stored == 1280                                                    # 10 s at 128 Hz
    # the signal moves up to 5..6: after one window the old samples are gone
    feed(c, [(20 + i / 128, 5 + rng.random()) for i in range(1280)])
    assert c.low is not None and c.high is not None and 5.0 < c.low < 5.1 and 5.9 < c.high < 6.0


def test_window_percentiles_match_a_sorted_copy() -> None:
    """The bucketed window against the obvious computation: rising, falling and random values with
    duplicates, so buckets split, empty and merge."""
    rng = random.Random(7)
    streams = [[float(i) for i in range(6000)], [float(-i) for i in range(6000)],
               [float(rng.randrange(50)) for _ in range(6000)], [rng.gauss(0, 1) for _ in range(6000)]]
    for stream in streams:
        window = _Window(2.0, (5.0, 95.0))
        for i, v in enumerate(stream):
            window.add(i / 1024, v)
            if i % 250 == 0 or i == len(stream) - 1:
                kept = sorted(stream[max(0, i - 2047):i + 1])              # (t - 2 s, t] at 1024 Hz
                assert len(window) == len(kept)
                for p in (0.0, 5.0, 37.5, 50.0, 95.0, 100.0):
                    position = p / 100 * (len(kept) - 1)
                    k = int(position)
                    expected = kept[k] + ((kept[k + 1] - kept[k]) * (position - k) if k + 1 < len(kept) else 0)
                    assert window._percentile(p) == pytest.approx(expected, abs=1e-12), (p, i)


def test_fixed_range_maps_to_0_1_and_clamps_by_default() -> None:
    c = conditioner({"range": [40, 160]})
    assert feed(c, [(0, 40), (1, 100), (2, 160), (3, 200), (4, 0)]) == [0.0, 0.5, 1.0, 1.0, 0.0]
    assert (c.low, c.high) == (40.0, 160.0)
    wide = conditioner({"range": [40, 160], "output": [-1, 2]})
    assert feed(wide, [(0, 200), (1, 0)]) == pytest.approx([4 / 3, -1 / 3])


def test_degenerate_learned_range_gives_one_half() -> None:
    for data, spike in (({"learn": {"adaptive": 10}}, 1.0), ({"learn": {"percentiles": [10, 90]}}, 0.5)):
        c = conditioner(data)
        assert c.low is None and c.high is None
        assert feed(c, [(t / 10, 7.0) for t in range(50)]) == [0.5] * 50
        assert feed(c, [(5.0, 8.0)]) == [spike]         # min/max take the spike in; the percentiles ignore it


# -- smoothing ---------------------------------------------------------------------------------------------------

def test_one_euro_reduces_jitter_of_a_noisy_constant() -> None:
    rng = random.Random(1)
    noisy = [(i / 100, 0.5 + rng.gauss(0, 0.05)) for i in range(3000)]
    c = conditioner({"range": [0, 1], "smoothing": {"one_euro": {"min_cutoff": 1.0, "beta": 0.0}}})
    out = values(feed(c, noisy))[500:]
    raw = [v for _, v in noisy[500:]]
    assert statistics.pstdev(out) < 0.25 * statistics.pstdev(raw)
    assert statistics.mean(out) == pytest.approx(0.5, abs=0.01)


def test_one_euro_lag_on_a_ramp_is_tau_and_shrinks_with_beta() -> None:
    def lag(beta: float) -> float:
        f = OneEuroFilter(min_cutoff=1.0, beta=beta, d_cutoff=1.0)
        y = 0.0
        for i in range(1001):                   # a ramp of 1 unit/s for 10 s at 100 Hz
            y = f(i / 100, i / 100)
        return 10.0 - y
    # a one-pole low-pass with alpha = 1/(1 + tau/Te) lags a ramp by exactly tau = 1/(2 pi fc)
    assert lag(0.0) == pytest.approx(1 / (2 * math.pi), rel=1e-3)
    assert lag(0.1) < 0.6 * lag(0.0)
    assert lag(1.0) < 0.25 * lag(0.0) and lag(10.0) < 0.3 * lag(1.0)


def test_one_euro_follows_the_paper_step_by_step() -> None:
    f = OneEuroFilter(min_cutoff=2.0, beta=0.5, d_cutoff=3.0)
    assert f(1.0, 4.0) == 4.0
    te, x = 0.02, 5.0
    a_d = 1 / (1 + 1 / (2 * math.pi * 3.0) / te)
    dx = a_d * (x - 4.0) / te                   # the derivative from the previous filtered value, low-passed
    fc = 2.0 + 0.5 * abs(dx)
    alpha = 1 / (1 + 1 / (2 * math.pi * fc) / te)
    assert f(1.0 + te, x) == pytest.approx(4.0 + alpha * (x - 4.0), rel=1e-12)


def test_attack_release_rises_within_attack_and_falls_within_release() -> None:
    env = AttackRelease(attack=0.05, release=0.5)
    env(0.0, 0.0)
    rise = {round(i / 1000, 3): env(i / 1000, 1.0) for i in range(1, 1001)}
    assert rise[0.05] == pytest.approx(1 - math.exp(-1), abs=1e-9)            # one time constant
    assert rise[0.15] > 0.95 and rise[0.02] < 0.5
    fall = {round(1 + i / 1000, 3): env(1 + i / 1000, 0.0) for i in range(1, 2001)}
    assert fall[1.5] == pytest.approx(math.exp(-1) * rise[1.0], abs=1e-9)
    assert fall[1.05] > 0.9 and fall[2.5] < 0.05
    instant = AttackRelease(attack=0.0, release=0.0)
    assert [instant(0, 0), instant(0, 1), instant(0, -2)] == [0, 1, -2]


def test_attack_release_inside_a_conditioner_runs_on_the_normalised_value() -> None:
    c = conditioner({"range": [0, 10], "smoothing": {"attack_release": {"attack": 0.1}}})
    out = values(feed(c, [(0.0, 0.0), (0.1, 10.0), (0.2, 0.0)]))
    assert out == pytest.approx([0.0, 1 - math.exp(-1), 0.0])                  # release 0: falls at once


# -- clamps, baseline, gate, refusals ----------------------------------------------------------------------------

def test_input_clamp_clamps_raw_values_without_dropping_them() -> None:
    c = conditioner({"clamp": [30, 220]})
    assert feed(c, [(0, 10), (1, 250), (2, 100), (3, 30)]) == [30, 220, 100, 30]
    assert c.refused == 0
    assert feed(conditioner(None), [(0, -5.0), (1, 1e6)]) == [-5.0, 1e6]       # no stage: no clamp at all


def test_input_clamp_comes_before_normalisation() -> None:
    c = conditioner({"clamp": [0, 100], "learn": {"adaptive": 60}})
    feed(c, [(0, 0), (1, 100)])
    assert feed(c, [(2, 1e6)]) == [1.0] and c.high == 100.0                   # the spike never reaches the range


def test_output_clamp() -> None:
    c = conditioner({"range": [0, 1], "output": [0.2, 0.8]})
    assert feed(c, [(0, 0), (1, 0.5), (2, 1)]) == [0.2, 0.5, 0.8]
    raw = conditioner({"output": [0, 10]})
    assert feed(raw, [(0, 15), (1, -3), (2, 4)]) == [10, 0, 4]


def test_baseline_capture_subtracts_the_mean_of_its_window() -> None:
    c = conditioner({"baseline": 2})
    samples = [(i / 10, 70 + 3 * math.sin(i)) for i in range(100)]
    c.capture_baseline(1.0)
    assert c.capturing and c.baseline is None
    before = feed(c, samples[:30])                                            # t 0.0 .. 2.9: passes unchanged
    assert before == [v for _, v in samples[:30]] and c.capturing
    after = feed(c, samples[30:])
    expected = statistics.fmean(v for t, v in samples if 1.0 <= t < 3.0)
    assert not c.capturing and c.baseline == pytest.approx(expected, rel=1e-12)
    assert after == pytest.approx([v - expected for _, v in samples[30:]])
    assert abs(expected - 70) > 0.1                                           # the window's mean, not the whole run's


def test_baseline_with_a_fixed_range_and_reset() -> None:
    c = conditioner({"baseline": 1, "range": [-10, 10]})
    c.capture_baseline(0.0)
    feed(c, [(i / 10, 60.0) for i in range(10)])
    assert feed(c, [(1.0, 60.0), (1.1, 65.0)]) == [0.5, 0.75]
    c.reset()
    assert c.baseline is None and not c.capturing
    assert feed(c, [(2.0, 60.0)]) == [1.0]                                     # 60 against no baseline


def test_a_learned_range_moves_with_the_baseline_so_it_cancels_out() -> None:
    for learn in ({"adaptive": 30}, {"percentiles": [5, 95], "window": 30}):
        c, twin = conditioner({"baseline": 1, "learn": learn}), conditioner({"learn": learn})
        c.capture_baseline(0.0)
        samples = sine(0, 4, 50, amplitude=5, centre=70, period=1.3)
        assert feed(c, samples) == feed(twin, samples)
        assert c.baseline == pytest.approx(statistics.fmean(v for t, v in samples if t < 1))
        b = c.baseline
        assert b is not None and c.low is not None and twin.low is not None
        assert c.high is not None and twin.high is not None
        assert c.low == pytest.approx(twin.low - b) and c.high == pytest.approx(twin.high - b)


def test_capture_without_a_baseline_configured_is_ignored() -> None:
    c = conditioner({"range": [0, 1]})
    c.capture_baseline(0.0)
    assert not c.capturing and feed(c, [(0.5, 0.5), (2.0, 0.5)]) == [0.5, 0.5]


def test_gate_refuses_samples_while_contact_quality_is_low() -> None:
    c = conditioner({"range": [0, 10], "gate": 0.5})
    assert feed(c, [(0, 5)]) == [0.5]                                          # quality good until told otherwise
    c.quality(0.2)
    assert feed(c, [(1, 5), (2, 6), (3, 7)]) == [None, None, None] and c.refused == 3
    c.quality(0.9)
    assert feed(c, [(4, 8)]) == [0.8]
    c.quality(float("nan"))
    assert feed(c, [(5, 8)]) == [None] and c.refused == 4
    c.quality(0.5)                                                             # at the gate counts as good
    assert feed(c, [(6, 8)]) == [0.8]


def test_nan_and_inf_are_refused_counted_and_do_not_poison_the_state() -> None:
    data = {"learn": {"adaptive": 10}, "smoothing": {"one_euro": {}}}
    c, clean = conditioner(data), conditioner(data)
    good = [(0, 0.0), (1, 10.0)]
    feed(c, good), feed(clean, good)
    bad = [(2, float("nan")), (3, float("inf")), (4, float("-inf")), (float("nan"), 5.0), (float("inf"), 5.0)]
    assert feed(c, bad) == [None] * 5 and c.refused == 5 and clean.refused == 0
    more = [(5, 5.0), (6, 7.0)]
    assert feed(c, more) == feed(clean, more)                                 # as if the bad ones never came
    assert c.low == clean.low and c.high == clean.high
    assert feed(conditioner(None), [(0, 1e308), (1, -1e308)])[0] == 1e308


def test_overflowing_arithmetic_is_refused_and_the_filter_starts_again() -> None:
    c = conditioner({"smoothing": {"attack_release": {"attack": 1, "release": 1}}})
    assert feed(c, [(0, -1.7e308), (1, 1.7e308)]) == [-1.7e308, None] and c.refused == 1
    assert feed(c, [(2, 3.0), (3, 3.0)]) == [3.0, 3.0]


def test_time_going_backwards_counts_as_no_time_passing() -> None:
    for data in ({"learn": {"adaptive": 2}, "smoothing": {"one_euro": {"beta": 0.5}}},
                 {"learn": {"percentiles": [10, 90], "window": 3}, "smoothing": {"attack_release": {"attack": 0.3,
                                                                                                 "release": 1}}}):
        back, still = conditioner(data), conditioner(data)
        rng = random.Random(5)
        samples = [(i / 20, rng.gauss(0, 1)) for i in range(200)]
        assert feed(back, samples) == feed(still, samples)
        late = [(9.95, 3.0), (9.95, -2.0), (12.0, 1.0)]
        early = [(5.0, 3.0), (-100.0, -2.0), (12.0, 1.0)]                      # earlier than the latest sample
        assert feed(back, early) == feed(still, late)
        assert back.low == still.low and back.high == still.high
    f, g = OneEuroFilter(beta=0.1), AttackRelease(0.5, 0.5)
    assert [f(1.0, 0.0), f(2.0, 1.0)][-1] == f(1.5, 7.0) == f(2.0, 9.0)        # held while no time passes
    assert [g(1.0, 0.0), g(2.0, 1.0)][-1] == g(0.0, 7.0)


def test_memory_stays_bounded_whatever_the_rate() -> None:
    c = conditioner({"learn": {"percentiles": [5, 95], "window": 3600}})
    for i in range(1_000_000):                                                 # 10 kHz for 100 s
        c.process(i / 10_000, float(i % 1000))
        if i % 100_000 == 0:
            assert c.stored <= MAX_SAMPLES
    assert c.stored == MAX_SAMPLES


def test_reset_forgets_learned_range_and_filters() -> None:
    data = {"learn": {"percentiles": [0, 100]}, "smoothing": {"attack_release": {"attack": 10}}}
    c = conditioner(data)
    feed(c, [(0, 0.0), (1, 10.0), (2, 5.0)])
    c.reset()
    assert c.low is None and c.stored == 0
    later = [(3, 100.0), (4, 200.0), (5, 150.0)]
    assert feed(c, later) == feed(conditioner(data), later)                     # as good as new
    assert c.low == 100.0 and c.high == 200.0


# -- the vocabulary ----------------------------------------------------------------------------------------------

def test_empty_or_none_means_no_conditioning_and_passes_samples_through() -> None:
    assert parse_conditioning(None, WHERE) == parse_conditioning({}, WHERE) == Conditioning()
    c = conditioner({})
    assert feed(c, [(0, 3.25), (0, -7.0)]) == [3.25, -7.0]
    assert c.low is None and c.high is None and c.baseline is None and not c.capturing


def test_a_full_mapping_parses_to_its_fields() -> None:
    cond = parse_conditioning({"clamp": [30, 220], "baseline": 10, "learn": {"percentiles": [5, 95], "window": 120},
                               "smoothing": {"one_euro": {"min_cutoff": 1.0, "beta": 0.007}},
                               "output": [0, 1], "gate": 0.5}, WHERE)
    assert cond == Conditioning(clamp=(30.0, 220.0), baseline=10.0, percentiles=(5.0, 95.0), window=120.0,
                                one_euro=(1.0, 0.007, 1.0), output=(0.0, 1.0), gate=0.5)
    assert parse_conditioning({"learn": {"adaptive": 60}, "smoothing": {"attack_release": {"release": 0.5}}},
                              WHERE) == Conditioning(adaptive=60.0, attack_release=(0.0, 0.5))
    assert parse_conditioning({"smoothing": {"one_euro": None}}, WHERE).one_euro == (1.0, 0.0, 1.0)
    assert Conditioning().output_clamp is None and Conditioning(range=(0, 5)).output_clamp == (0.0, 1.0)


BAD = [
    ([1, 2], WHERE + ": expected a mapping"),
    ({"clam": [0, 1]}, WHERE + ": unknown key 'clam'; known: clamp, baseline"),
    ({"clamp": [1, 1]}, WHERE + ".clamp: expected [low, high] with low < high"),
    ({"clamp": [5, 1]}, WHERE + ".clamp: expected [low, high] with low < high"),
    ({"clamp": [1]}, WHERE + ".clamp: expected [low, high], got [1]"),
    ({"clamp": "0..1"}, WHERE + ".clamp: expected [low, high]"),
    ({"clamp": [0, "1"]}, WHERE + ".clamp[1]: expected a number, got '1'"),
    ({"clamp": [True, 2]}, WHERE + ".clamp[0]: expected a number, got True"),
    ({"clamp": [0, float("nan")]}, WHERE + ".clamp[1]: expected a number (finite), got nan"),
    ({"clamp": [float("-inf"), 0]}, WHERE + ".clamp[0]: expected a number (finite), got -inf"),
    ({"clamp": [0, 2e9]}, WHERE + ".clamp[1]: expected a number of magnitude at most 1e+09"),
    ({"clamp": [0, 10 ** 400]}, WHERE + ".clamp[1]: expected a number of magnitude at most"),
    ({"range": [2, 1]}, WHERE + ".range: expected [low, high] with low < high"),
    ({"output": [0, 0]}, WHERE + ".output: expected [low, high] with low < high"),
    ({"range": [0, 1], "learn": {"adaptive": 1}}, WHERE + ": expected one of range or learn, got both"),
    ({"baseline": -1}, WHERE + ".baseline: expected seconds > 0"),
    ({"baseline": 0}, WHERE + ".baseline: expected seconds > 0"),
    ({"baseline": None}, WHERE + ".baseline: expected seconds > 0"),
    ({"baseline": 2e9}, WHERE + ".baseline: expected seconds > 0"),
    ({"learn": {"x": 1}}, WHERE + ".learn: expected one of adaptive or percentiles, got ['x']"),
    ({"learn": {}}, WHERE + ".learn: expected one of adaptive or percentiles, got []"),
    ({"learn": 60}, WHERE + ".learn: expected a mapping"),
    ({"learn": {"adaptive": 1, "percentiles": [5, 95]}}, WHERE + ".learn: expected one of adaptive or percentiles"),
    ({"learn": {"adaptive": 1, "window": 5}}, WHERE + ".learn.window: expected no window with adaptive"),
    ({"learn": {"adaptive": 1, "speed": 5}}, WHERE + ".learn: unknown key 'speed'; known: adaptive, percentiles"),
    ({"learn": {"adaptive": -60}}, WHERE + ".learn.adaptive: expected seconds > 0"),
    ({"learn": {"adaptive": False}}, WHERE + ".learn.adaptive: expected seconds > 0"),
    ({"learn": {"percentiles": [5, 101]}}, WHERE + ".learn.percentiles[1]: expected a percentile 0..100, got 101"),
    ({"learn": {"percentiles": [-1, 95]}}, WHERE + ".learn.percentiles[0]: expected a percentile 0..100"),
    ({"learn": {"percentiles": [95, 5]}}, WHERE + ".learn.percentiles: expected [low, high] with low < high"),
    ({"learn": {"percentiles": [50, 50]}}, WHERE + ".learn.percentiles: expected [low, high] with low < high"),
    ({"learn": {"percentiles": [5, 95], "window": 3601}}, WHERE + ".learn.window: expected seconds > 0 and <= 3600"),
    ({"learn": {"percentiles": [5, 95], "window": -5}}, WHERE + ".learn.window: expected seconds > 0"),
    ({"smoothing": {}}, WHERE + ".smoothing: expected one of one_euro or attack_release, got []"),
    ({"smoothing": "one_euro"}, WHERE + ".smoothing: expected a mapping"),
    ({"smoothing": {"one_euro": {}, "attack_release": {}}}, WHERE + ".smoothing: expected one of one_euro or"),
    ({"smoothing": {"one_euro": {}, "kalman": {}}}, WHERE + ".smoothing: unknown key 'kalman'"),
    ({"smoothing": {"one_euro": {"mincutoff": 1}}}, WHERE + ".smoothing.one_euro: unknown key 'mincutoff'; known: "
                                                            "min_cutoff, beta, d_cutoff"),
    ({"smoothing": {"one_euro": {"min_cutoff": 0}}}, WHERE + ".smoothing.one_euro.min_cutoff: expected a frequency"),
    ({"smoothing": {"one_euro": {"beta": -0.1}}}, WHERE + ".smoothing.one_euro.beta: expected a number >= 0"),
    ({"smoothing": {"one_euro": {"d_cutoff": "fast"}}}, WHERE + ".smoothing.one_euro.d_cutoff: expected a frequency"),
    ({"smoothing": {"one_euro": {"beta": 1e10}}}, WHERE + ".smoothing.one_euro.beta: expected a number >= 0 of mag"),
    ({"smoothing": {"one_euro": [1, 0]}}, WHERE + ".smoothing.one_euro: expected a mapping"),
    ({"smoothing": {"attack_release": {"attack": -0.05}}}, WHERE + ".smoothing.attack_release.attack: expected "
                                                                   "seconds >= 0, got -0.05"),
    ({"smoothing": {"attack_release": {"release": float("inf")}}}, WHERE + ".smoothing.attack_release.release: "),
    ({"smoothing": {"attack_release": {"decay": 1}}}, WHERE + ".smoothing.attack_release: unknown key 'decay'"),
    ({"gate": 1.5}, WHERE + ".gate: expected a contact quality 0..1, got 1.5"),
    ({"gate": -0.1}, WHERE + ".gate: expected a contact quality 0..1"),
    ({"gate": True}, WHERE + ".gate: expected a contact quality 0..1, got True"),
    ({"gate": "high"}, WHERE + ".gate: expected a contact quality 0..1, got 'high'"),
]


@pytest.mark.parametrize(("data", "start"), BAD, ids=[repr(d)[:50] for d, _ in BAD])
def test_bad_vocabulary_is_refused_with_one_line_naming_the_place(data: object, start: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_conditioning(data, WHERE)
    message = str(caught.value)
    assert message.startswith(start), message
    assert "\n" not in message and len(message) < 200


def test_filters_refuse_bad_settings_directly() -> None:
    with pytest.raises(ValueError, match=r"^OneEuroFilter.min_cutoff: expected a frequency in Hz > 0, got 0$"):
        OneEuroFilter(min_cutoff=0)
    with pytest.raises(ValueError, match=r"^OneEuroFilter.beta: expected a number >= 0 \(finite\), got nan$"):
        OneEuroFilter(beta=float("nan"))
    with pytest.raises(ValueError, match=r"^AttackRelease.release: expected seconds >= 0, got -1$"):
        AttackRelease(release=-1)
    with pytest.raises(ValueError, match="at most one of range, adaptive, percentiles"):
        Conditioning(range=(0, 1), adaptive=5)
