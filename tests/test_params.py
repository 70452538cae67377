"""The parameter store: declarations, clamping, clear errors, smoothing on the engine clock, curves."""

from __future__ import annotations

import math

import pytest

from engine.params import ParamSpec, ParamStore


def store() -> ParamStore:
    s = ParamStore()
    s.declare(ParamSpec("fx.gain", 1.0, 0.0, 2.0))
    return s


def test_values_are_clamped_to_the_range():
    s = store()
    assert s.set("fx.gain", 5) == 2.0 and s.set("fx.gain", -1) == 0.0


@pytest.mark.parametrize("value", [float("nan"), float("inf"), "1", None, True])
def test_non_numbers_are_refused_with_the_key(value):
    with pytest.raises(ValueError, match="fx.gain: expected a finite number"):
        store().set("fx.gain", value)  # type: ignore[arg-type]


def test_unknown_key_lists_the_known_ones():
    with pytest.raises(KeyError, match="unknown parameter 'fx.gian'; known: fx.gain"):
        store().get("fx.gian")


@pytest.mark.parametrize("kwargs,match", [
    (dict(key="Gain"), "group.name"),
    (dict(minimum=3.0), "range|default"),
    (dict(default=9.0), "outside"),
    (dict(smoothing=-1.0), "smoothing"),
    (dict(curve="cubic"), "curve"),
])
def test_bad_declarations(kwargs, match):
    spec = dict(key="fx.gain", default=1.0, minimum=0.0, maximum=2.0)
    spec.update(kwargs)
    with pytest.raises(ValueError, match=match):
        ParamSpec(**spec)


def test_redeclaring_keeps_the_value_inside_the_new_range():
    s = store()
    s.set("fx.gain", 1.8)
    s.declare(ParamSpec("fx.gain", 0.5, 0.0, 1.0))
    assert s.get("fx.gain") == 1.0


def test_smoothing_follows_the_time_constant_and_immediate_skips_it():
    s = ParamStore()
    s.declare(ParamSpec("in.level", 0.0, 0.0, 1.0, smoothing=1.0))
    s.advance(0.0)
    s.set("in.level", 1.0)
    s.advance(1.0)
    assert s.get("in.level") == pytest.approx(1 - math.exp(-1))
    s.set("in.level", 0.0, immediate=True)
    assert s.get("in.level") == 0.0


@pytest.mark.parametrize("curve,expected", [("linear", 1.0), ("square", 0.5), ("sqrt", 2 * math.sqrt(0.5))])
def test_normalized_controls_follow_the_curve(curve, expected):
    s = ParamStore()
    s.declare(ParamSpec("midi.fader", 0.0, 0.0, 2.0, curve=curve))
    assert s.set_normalized("midi.fader", 0.5) == pytest.approx(expected)  # half-way up the fader


def test_reset_by_group_and_snapshot():
    s = store()
    s.declare(ParamSpec("walk.speed", 1.0, 0.0, 8.0))
    s.set("fx.gain", 0.2)
    s.set("walk.speed", 3.0)
    s.reset("fx")
    assert s.snapshot() == {"fx.gain": 1.0, "walk.speed": 3.0}
