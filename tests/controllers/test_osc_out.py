"""OSC out over real UDP on 127.0.0.1: parameters as they change (a fader follows a cue fade), the standby
and running cues, fps, errors and a heartbeat; a target that is not listening never troubles the engine."""

from __future__ import annotations

import threading
import time

import pytest
from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_server import BlockingOSCUDPServer

from controllers.osc_out import OscFeedback, param_address
from engine.feedback import FeedbackState
from engine.inputs import InputEvent
from engine.session import Session, SessionConfig


class Receiver:
    """A real OSC server that keeps what it receives."""

    def __init__(self) -> None:
        self.received: list[tuple[str, tuple]] = []
        self.lock = threading.Lock()
        dispatcher = Dispatcher()
        dispatcher.set_default_handler(self._keep)
        self.server = BlockingOSCUDPServer(("127.0.0.1", 0), dispatcher)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def _keep(self, address: str, *args) -> None:
        with self.lock:
            self.received.append((address, args))

    def wait_for(self, predicate, timeout: float = 10.0) -> list:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self.lock:
                got = list(self.received)
            if predicate(got):
                return got
            time.sleep(0.01)
        raise AssertionError(f"not received; got {got[-10:]}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def addresses(got) -> list[str]:
    return [a for a, _ in got]


def test_changes_cues_and_status_are_sent_and_unchanged_values_are_not(receiver):
    out = OscFeedback([("127.0.0.1", receiver.port)], rate=100).start()
    try:
        out.offer(FeedbackState(now=1.0, values={"gen.psi": 0.7, "walk.speed": 1.0}, standby="1", running=(),
                                display_fps=30.0, generator_fps=12.5, errors=("output 0: GL said no",)))
        got = receiver.wait_for(lambda g: "/status/heartbeat" in addresses(g))
        assert ("/param/gen/psi", (pytest.approx(0.7),)) in got and ("/show/standby", ("1",)) in got
        assert ("/status/fps", (30.0, 12.5)) in got and ("/status/error", ("output 0: GL said no",)) in got
        out.offer(FeedbackState(now=1.1, values={"gen.psi": 0.7, "walk.speed": 0.5}, standby="2", running=("1",)))
        got = receiver.wait_for(lambda g: ("/show/running", ("1",)) in g)
        params = [(a, v) for a, v in got if a.startswith("/param/")]
        assert params.count(("/param/gen/psi", (pytest.approx(0.7),))) == 1      # unchanged: not sent again
        assert ("/param/walk/speed", (0.5,)) in params and ("/show/standby", ("2",)) in got
    finally:
        out.stop()
    assert not [t for t in threading.enumerate() if t.name == "osc-out"]


def test_a_target_that_is_not_listening_is_counted_not_raised():
    receiver = Receiver()
    port = receiver.port
    receiver.close()                                            # nobody there any more
    out = OscFeedback([("127.0.0.1", port)], rate=200).start()
    try:
        for i in range(20):
            out.offer(FeedbackState(now=float(i), values={"gen.psi": i / 20}))
            time.sleep(0.01)
        assert out.sent + out.failed > 0 and "osc out 127.0.0.1" in out.status()
    finally:
        out.stop()


def test_the_address_is_the_one_it_is_set_by():
    assert param_address("gen.psi") == "/param/gen/psi" and param_address("feedback.amount") == "/param/feedback/amount"


SHOW = """format: 1
walk: {seeds: [1, 2]}
cues:
  - id: dark
    actions: [{fade: {param: vignette.amount, to: 1.0, time: 0.5, curve: linear}}]
"""


def test_a_fader_follows_a_cue_fade(tmp_path, receiver):
    show = tmp_path / "show.yaml"
    show.write_text(SHOW)
    config = SessionConfig(show=str(show), headless=True, size=(64, 64), generator="thread",
                           osc_out=(("127.0.0.1", receiver.port),))
    engine = Session(config).load().open_live()
    try:
        engine.start_controllers()
        engine.frame()
        receiver.wait_for(lambda g: ("/show/standby", ("dark",)) in g)
        engine.post(InputEvent(engine.clock.now(), "keyboard", "command", "go"))
        end = time.monotonic() + 1.5
        while time.monotonic() < end:
            engine.frame()
            time.sleep(1 / 30)
        got = receiver.wait_for(lambda g: ("/param/vignette/amount", (1.0,)) in g)
        assert ("/show/running", ("dark",)) in got
        values = [v[0] for a, v in got if a == "/param/vignette/amount"]
        assert len(values) >= 5 and values == sorted(values)      # it followed the fade up, step by step
    finally:
        engine.stop_controllers()
        engine.close()


def test_sources_and_the_live_list_are_sent(receiver):
    out = OscFeedback([("127.0.0.1", receiver.port)], rate=100).start()
    try:
        out.offer(FeedbackState(now=1.0, values={}, sources={"bio.hr": 72.0, "midi.clock.bpm": 120.0},
                                live=("bio.hr",)))
        got = receiver.wait_for(lambda g: "/status/live" in addresses(g))
        assert ("/source/bio/hr", (72.0,)) in got and ("/source/midi/clock/bpm", (120.0,)) in got
        assert ("/status/live", ("bio.hr",)) in got
    finally:
        out.stop()
