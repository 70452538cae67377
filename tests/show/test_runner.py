"""Cue semantics on an injected clock: GO, waits, continues, lockout, fades, panic, goto, stop, reset, triggers."""

from __future__ import annotations

import textwrap

import pytest
import torch

from engine.live import engine_params
from engine.params import ParamSpec, ParamStore
from engine.show import ShowRunner, load_show
from engine.show.load import ShowLoadError
from engine.show.curves import CURVES, apply_curve


def make(tmp_path, G, cues: str, extra: str = "", time_of_day=lambda: 0.0) -> ShowRunner:
    path = tmp_path / "show.yaml"
    path.write_text("format: 1\ngo_lockout: 0.5\nwalk: {seeds: [1, 2], seconds_per_keyframe: 2}\n" + extra
                    + "cues:\n" + textwrap.indent(textwrap.dedent(cues).strip("\n"), "  ") + "\n")
    params = engine_params()
    params.declare(ParamSpec("vignette.amount", 0.0, 0.0, 1.0))
    params.declare(ParamSpec("crossfade.amount", 0.0, 0.0, 1.0))
    return ShowRunner(load_show(str(path)), G, params, time_of_day=time_of_day)


def run(runner: ShowRunner, start: float, end: float, step: float = 0.05) -> None:
    t = start
    while t <= end + 1e-9:
        runner.update(t, t)
        t += step


def value(runner: ShowRunner, key: str = "vignette.amount") -> float:
    return runner.params.get(key)


def test_go_starts_the_standby_cue_and_moves_the_playhead(tmp_path, default_generator):
    r = make(tmp_path, default_generator, """
        - id: a
          actions: [{set: {vignette.amount: 0.5}}]
        - id: b
          actions: [{set: {vignette.amount: 0.9}}]
        """)
    assert r.standby.id == "a"
    assert r.go(0.0) == "GO cue a" and value(r) == 0.5 and r.standby.id == "b"
    assert "lockout" in r.go(0.2) and value(r) == 0.5        # a double press is ignored
    r.go(1.0)
    assert value(r) == 0.9 and r.standby is None
    assert "no cue on standby" in r.go(2.0)


def test_pre_wait_delays_the_actions(tmp_path, default_generator):
    r = make(tmp_path, default_generator, """
        - id: a
          pre_wait: 2
          actions: [{set: {vignette.amount: 0.7}}]
        """)
    r.go(0.0)
    run(r, 0.0, 1.95)
    assert value(r) == 0.0
    run(r, 2.0, 2.1)
    assert value(r) == 0.7


def test_auto_continue_after_post_wait_and_auto_follow_after_the_actions(tmp_path, default_generator):
    r = make(tmp_path, default_generator, """
        - id: a
          actions: [{fade: {param: vignette.amount, to: 1.0, time: 3}}]
          continue: auto-continue
          post_wait: 1
        - id: b
          actions: [{fade: {param: crossfade.amount, to: 1.0, time: 2}}]
          continue: auto-follow
        - id: c
          actions: [{set: {gen.psi: 0.2}}]
        """)
    r.go(0.0)
    run(r, 0.0, 0.95)
    assert value(r, "crossfade.amount") == 0.0
    run(r, 1.0, 1.05)                              # b started at 1 s, while a's fade still runs
    assert 0 < value(r, "crossfade.amount") < 0.1 and 0.2 < value(r) < 0.5
    run(r, 1.1, 2.95)
    assert r.params.get("gen.psi") == pytest.approx(0.7)   # c waits for b's 2 s fade to finish
    run(r, 3.0, 3.1)
    assert r.params.get("gen.psi") == pytest.approx(0.2) and value(r, "crossfade.amount") == 1.0


def test_fades_follow_their_curve(tmp_path, default_generator):
    r = make(tmp_path, default_generator, """
        - id: a
          actions: [{fade: {param: vignette.amount, to: 1.0, time: 4, curve: linear}}]
        - id: b
          actions: [{fade: {param: vignette.amount, to: 1.0, time: 4}}]
        """)
    r.go(0.0)
    r.update(1.0)
    assert value(r) == pytest.approx(0.25)
    r.reset(2.0)
    r.go(10.0)
    r.go(10.0 + 1.0)                                # lockout is over; b uses the default S-curve
    r.update(12.0)
    assert value(r) == pytest.approx(0.25 + 0.75 * apply_curve("s", 0.25), abs=1e-6)


def test_a_new_fade_takes_over_mid_fade_without_a_jump(tmp_path, default_generator):
    r = make(tmp_path, default_generator, """
        - id: up
          actions: [{fade: {param: vignette.amount, to: 1.0, time: 4, curve: linear}}]
        - id: down
          actions: [{fade: {param: vignette.amount, to: 0.0, time: 2, curve: linear}}]
        """)
    r.go(0.0)
    run(r, 0.0, 2.0)
    mid = value(r)
    assert mid == pytest.approx(0.5, abs=0.02)
    r.go(2.0)
    r.update(2.0)
    assert value(r) == pytest.approx(mid)           # starts where the first fade was
    r.update(3.0)
    assert value(r) == pytest.approx(mid / 2, abs=1e-6)
    r.update(4.0)
    assert value(r) == 0.0


def test_panic_fades_to_rest_and_a_second_panic_cuts(tmp_path, default_generator):
    r = make(tmp_path, default_generator, """
        - id: a
          actions: [{set: {vignette.amount: 0.8}}]
        """, extra="panic: {time: 2, rest: {crossfade.amount: 1.0}}\n")
    r.go(0.0)
    assert "fading" in r.panic(1.0)
    r.update(2.0)
    assert 0.0 < value(r) < 0.8 and 0 < value(r, "crossfade.amount") < 1.0
    assert "cut" in r.panic(2.1)
    assert value(r) == 0.0 and value(r, "crossfade.amount") == 1.0
    r.update(5.0)
    assert value(r) == 0.0 and not r.running and not r.fades


def test_goto_moves_the_playhead(tmp_path, default_generator):
    r = make(tmp_path, default_generator, """
        - id: a
        - id: b
          actions: [{goto: a}]
        """)
    r.go(0.0)
    r.go(1.0)
    assert r.standby.id == "a"


def test_stop_freezes_fades_and_reset_restores_the_opening(tmp_path, default_generator):
    r = make(tmp_path, default_generator, """
        - id: a
          actions: [{fade: {param: vignette.amount, to: 1.0, time: 4, curve: linear}}]
        """, extra="parameters: {initial: {vignette.amount: 0.2}}\n")
    assert value(r) == 0.2
    r.go(0.0)
    r.update(2.0)
    r.stop(2.0)
    r.update(3.0)
    assert value(r) == pytest.approx(0.6)
    r.reset(3.0)
    assert value(r) == 0.2 and r.standby.id == "a"


def test_playhead_moves_up_and_down(tmp_path, default_generator):
    r = make(tmp_path, default_generator, "- id: a\n- id: b\n- id: c\n")
    r.move_playhead(1)
    r.move_playhead(1)
    r.move_playhead(1)
    assert r.standby.id == "c"
    r.move_playhead(-1)
    assert r.standby.id == "b"


def test_wall_clock_trigger_fires_once_when_the_time_passes(tmp_path, default_generator):
    clock = {"t": 18 * 3600 + 29 * 60 + 58.0}
    r = make(tmp_path, default_generator, """
        - id: first
        - id: evening
          at: "18:30"
          actions: [{set: {vignette.amount: 0.4}}]
        """, time_of_day=lambda: clock["t"])
    for i in range(60):
        clock["t"] += 0.1
        r.update(i * 0.1)
    assert value(r) == 0.4 and r.standby is None
    r.params.set("vignette.amount", 0.0)
    for i in range(60, 120):
        clock["t"] += 0.1
        r.update(i * 0.1)
    assert value(r) == 0.0   # once a day, not every frame after


def test_walk_transition_starts_where_the_picture_is(tmp_path, default_generator):
    r = make(tmp_path, default_generator, """
        - id: a
          actions: [{walk: {seeds: [50, 51], transition: 2, curve: linear}}]
        """)
    r.update(3.0, 3.0)
    before = r.frame_at(3.0).ws
    r.go(3.0)
    r.update(3.0, 3.0)
    assert torch.allclose(r.frame_at(3.0).ws, before, atol=1e-6)   # no jump when the cue starts
    r.update(3.5, 3.5)
    mid = r.frame_at(3.5).ws
    r.update(5.5, 5.5)
    after = r.frame_at(5.5).ws
    target = r.G.mapping.truncate(r.latents._walkers[r.show.cues[0].actions[0]].raw_ws_at(2.5).unsqueeze(0), 0.7)
    assert torch.allclose(after, target, atol=1e-5) and not torch.allclose(mid, after)


def test_show_walks_honour_their_noise_mode_and_easing(tmp_path, default_generator):
    """The opening walk's noise is drawn afresh each frame (seeded, so repeatable); a cue's walk switches it
    off; and an eased walk is a different path in time through the same keyframes."""
    r = make(tmp_path, default_generator, """
        - id: calm
          actions: [{walk: {seeds: [1, 2], noise: none, easing: smoother, transition: 0}}]
        """)
    path = tmp_path / "show.yaml"
    path.write_text(path.read_text().replace("seconds_per_keyframe: 2}", "seconds_per_keyframe: 2, noise: random}"))
    r = ShowRunner(load_show(str(path)), default_generator, r.params)
    first, later = r.frame_at(0.5), r.frame_at(0.6)
    assert first.noise_mode == "random" and first.noise_seed != later.noise_seed
    assert r.frame_at(0.5).noise_seed == first.noise_seed
    r.go(1.0)
    r.update(1.0, 1.0)
    calm = r.frame_at(1.5)
    assert calm.noise_mode == "none"
    linear = r.G.mapping.truncate(r.latents._walkers[r.show.walk].raw_ws_at(0.5).unsqueeze(0), 0.7)
    assert not torch.allclose(calm.ws, linear, atol=1e-4)     # smoother easing: not where linear would be


def test_a_bad_noise_mode_is_refused_with_its_line(tmp_path):
    path = tmp_path / "show.yaml"
    path.write_text("format: 1\nwalk: {seeds: [1, 2], noise: loud}\ncues: [{id: a, actions: []}]\n")
    with pytest.raises(ShowLoadError) as info:
        load_show(str(path))
    (error,) = info.value.errors
    assert error.line == 2 and "walk.noise" in str(error) and "const, random, none" in str(error)


def test_smoothed_parameters_glide():
    params = ParamStore()
    params.declare(ParamSpec("mood.energy", 0.0, 0.0, 1.0, smoothing=0.5, curve="square"))
    params.advance(0.0)
    params.set_normalized("mood.energy", 1.0)
    assert params.get("mood.energy") == 0.0
    params.advance(0.5)
    assert params.get("mood.energy") == pytest.approx(1 - 2.718281828 ** -1, abs=1e-6)
    params.advance(10.0)
    assert params.get("mood.energy") == pytest.approx(1.0)
    params.set_normalized("mood.energy", 0.5, )
    params.advance(20.0)
    assert params.get("mood.energy") == pytest.approx(0.25)   # square curve


@pytest.mark.parametrize("curve", CURVES)
def test_curves_fix_the_ends(curve):
    assert apply_curve(curve, 0.0) == 0.0 and apply_curve(curve, 1.0) == pytest.approx(1.0)


def test_a_long_stall_catches_up_in_order_without_recursion(tmp_path, default_generator):
    """After a stall (a suspended machine), every continue that fell due is played, in time order."""
    r = make(tmp_path, default_generator, """
        - id: a
          actions: [{fade: {param: vignette.amount, to: 0.5, time: 0.5}}]
          continue: auto-continue
          post_wait: 1
        - id: b
          actions: [{fade: {param: vignette.amount, to: 1.0, time: 0.5}}, {goto: a}]
          continue: auto-continue
          post_wait: 1
        """)
    r.go(0.0)
    r.update(86400.25)                # a day of cues fell due (86 400 of them); a frame does a bounded share
    frames = 1
    while r.catching_up and frames < 100_000:
        r.update(86400.25)
        frames += 1
    assert r.standby.id == "b"        # a started at 86400.0
    assert 0.5 < value(r) < 1.0        # a's fade, started at 86400.0 from b's 1.0, a quarter second in


def test_one_frame_does_a_bounded_amount_of_catching_up(tmp_path, default_generator):
    """Millisecond continues after an hour's stall: 3.6 million starts are due; one update does 10 000 and
    returns (a frame is never stuck), saying that the list is catching up."""
    from engine.show.runner import MAX_EVENTS_PER_UPDATE
    r = make(tmp_path, default_generator, """
        - id: a
          continue: auto-continue
          post_wait: 0.001
        - id: b
          actions: [{goto: a}]
          continue: auto-continue
          post_wait: 0.001
        """)
    r.go(0.0)
    r.update(3600.0)
    assert r.catching_up and len(r.running) <= MAX_EVENTS_PER_UPDATE


def test_looping_walk_cues_leave_the_running_list_when_replaced(tmp_path, default_generator):
    r = make(tmp_path, default_generator, """
        - id: a
          actions: [{walk: {seeds: [3, 4], transition: 1}}]
        - id: b
          actions: [{walk: {seeds: [5, 6], transition: 1}}]
        """)
    r.go(0.0)
    r.update(2.0, 2.0)
    assert [c.cue.id for c in r.running] == ["a"]     # open-ended: still running
    r.go(3.0)
    r.update(5.0, 5.0)
    assert [c.cue.id for c in r.running] == ["b"]


def test_walk_cues_faster_than_their_crossfades_never_nest_deeper_than_a_few(tmp_path, default_generator):
    """Two cues that start walks every millisecond, each with a 2 s crossfade: the crossfades from
    crossfades are kept a few deep (older ones held still), so a frame never recurses thousands deep."""
    from engine.show.latents import MAX_CROSSFADE_DEPTH, _Transition
    r = make(tmp_path, default_generator, """
        - id: a
          actions: [{walk: {seeds: [3, 4], transition: 2}}]
          continue: auto-continue
          post_wait: 0.001
        - id: b
          actions: [{walk: {seeds: [5, 6], transition: 2}}, {goto: a}]
          continue: auto-continue
          post_wait: 0.001
        """)
    r.go(0.0)
    for i in range(1, 40):
        r.update(i * 0.05, i * 0.05)
        assert torch.isfinite(r.frame_at(i * 0.05).ws).all()
    depth, source = 0, r.latents._source
    while isinstance(source, _Transition):
        depth, source = depth + 1, source.old
    assert depth <= MAX_CROSSFADE_DEPTH + 1


def test_go_never_resolves_a_walk_on_the_display_thread(tmp_path, default_generator, monkeypatch):
    """Every walk of the show is resolved when the runner takes the show, not when its cue starts."""
    from engine.latent import walker as walker_module
    r = make(tmp_path, default_generator, """
        - id: a
          actions: [{walk: {seeds: 0-200, transition: 1}}]
        """)
    built = []
    original = walker_module.LatentWalker.__init__
    monkeypatch.setattr(walker_module.LatentWalker, "__init__",
                        lambda self, *a, **k: built.append(1) or original(self, *a, **k))
    r.go(0.0)
    r.update(0.5, 0.5)
    assert built == []
