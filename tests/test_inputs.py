"""Input events: one queue from any thread, in order, bounded; a router with map/unmap; soft takeover; a
performer's move during a cue fade takes the parameter over."""

from __future__ import annotations

import textwrap
import threading

import pytest

from controllers import Keyboard, create
from engine.clock import FrameClock
from engine.inputs import EventQueue, InputError, InputEvent, Router, SoftTakeover
from engine.live import engine_params
from engine.params import ParamSpec
from engine.show import ShowRunner, load_show


def test_events_from_several_threads_arrive_complete_and_in_each_threads_order():
    queue = EventQueue()
    def sender(name: str) -> None:
        for i in range(2000):
            queue.post(InputEvent(float(i), name, "set", "gen.psi", i / 2000))
    threads = [threading.Thread(target=sender, args=(f"s{n}",)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    events = []
    while len(queue):
        events += list(queue.drain())
    assert len(events) == 8000 and queue.dropped == 0
    for n in range(4):
        mine = [e.time for e in events if e.source == f"s{n}"]
        assert mine == sorted(mine) and len(mine) == 2000


def test_a_flood_loses_its_oldest_events_and_a_frame_takes_a_bounded_share():
    queue = EventQueue(limit=100)
    for i in range(250):
        queue.post(InputEvent(float(i), "osc", "set", "gen.psi", 0.5))
    assert queue.dropped == 150 and len(queue) == 100
    first = list(queue.drain(limit=30))
    assert [e.time for e in first] == [float(t) for t in range(150, 180)] and len(queue) == 70


@pytest.mark.parametrize("kind,key,value", [("set", "gen.psi", float("nan")), ("norm", "gen.psi", "x"),
                                            ("command", "format-disk", None), ("jump", "x", 1.0),
                                            ("set", "", 1.0), ("nudge", "gen.psi", True)])
def test_bad_events_are_refused_when_made(kind, key, value):
    with pytest.raises(InputError):
        InputEvent(0.0, "osc", kind, key, value)


def test_router_map_unmap_and_unrouted():
    router, seen = Router(), []
    router.map("command", seen.append)
    event = InputEvent(0.0, "keyboard", "command", "go")
    router.route(event)
    router.unmap("command")
    router.route(event)
    assert seen == [event] and router.unrouted == 1


def test_soft_takeover_waits_for_the_control_to_reach_the_value():
    soft = SoftTakeover()
    assert not soft.accept("midi", "x.y", 0.9, current=0.3)
    assert not soft.accept("midi", "x.y", 0.6, current=0.3)
    assert soft.accept("midi", "x.y", 0.2, current=0.3)            # moved through 0.3
    assert soft.accept("midi", "x.y", 0.8, current=0.2)            # picked up: follows directly
    soft.release("x.y", writer="osc")                               # someone else moved it
    assert not soft.accept("midi", "x.y", 0.7, current=0.1)


def test_keyboard_posts_commands_by_key_name():
    clock, posted = FrameClock(30), []
    keyboard = create("keyboard")
    assert isinstance(keyboard, Keyboard)
    keyboard.start(posted.append, clock)
    assert keyboard.press("space") and keyboard.press("escape") and not keyboard.press("z")
    assert [(e.kind, e.key, e.source) for e in posted] == [("command", "go", "keyboard"),
                                                          ("command", "quit", "keyboard")]
    assert "2 presses" in keyboard.status()
    with pytest.raises(ValueError, match="unknown commands"):
        Keyboard({"x": "self-destruct"})
    with pytest.raises(ValueError, match="unknown controller"):
        create("telepathy")


def test_a_performer_moving_a_parameter_during_a_fade_takes_it_over(tmp_path, default_generator):
    path = tmp_path / "show.yaml"
    path.write_text(textwrap.dedent("""
        format: 1
        walk: {seeds: [1]}
        cues:
          - id: a
            actions: [{fade: {param: vignette.amount, to: 1.0, time: 10}}]
        """))
    params = engine_params()
    params.declare(ParamSpec("vignette.amount", 0.0, 0.0, 1.0))
    runner = ShowRunner(load_show(str(path)), default_generator, params)
    runner.go(0.0)
    runner.update(2.0)
    fading = params.get("vignette.amount")
    assert 0.0 < fading < 1.0
    params.set("vignette.amount", 0.05, source="midi")     # the fader moves mid-fade
    for t in (3.0, 6.0, 12.0):
        runner.update(t)
        assert params.get("vignette.amount") == 0.05       # the fade let go; the performer's value stays
    assert "vignette.amount" not in runner.fades
    assert any("taken over by midi" in m for m in runner.messages)


def test_the_engines_own_writes_do_not_take_a_fade_over(tmp_path, default_generator):
    path = tmp_path / "show.yaml"
    path.write_text("format: 1\nwalk: {seeds: [1]}\ncues:\n  - id: a\n"
                    "    actions: [{fade: {param: vignette.amount, to: 1.0, time: 10}}]\n")
    params = engine_params()
    params.declare(ParamSpec("vignette.amount", 0.0, 0.0, 1.0))
    runner = ShowRunner(load_show(str(path)), default_generator, params)
    runner.go(0.0)
    runner.update(2.0)
    params.set("vignette.amount", 0.3, source="resume")
    runner.update(5.0)
    assert "vignette.amount" in runner.fades and params.get("vignette.amount") > 0.3
