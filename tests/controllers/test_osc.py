"""OSC in over real UDP sockets on 127.0.0.1: the namespace, bundles (never waited for), TouchDesigner's own
addresses ignored, hostile packets counted while the server goes on, the allow-list, and the whole path from a
packet to a parameter and a cue in a headless session."""

from __future__ import annotations

import os
import socket
import struct
import threading
import time

import pytest
from pythonosc.osc_bundle_builder import OscBundleBuilder
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.udp_client import SimpleUDPClient

from controllers.osc import BadMessage, OscInput, message_to_event, parse_endpoint
from engine.clock import WallClock
from tests.conftest import wait_for
from tests.controllers.sessions import osc_session


class Inbox:
    """Where the controller posts: a thread-safe list with a wait."""

    def __init__(self) -> None:
        self.events: list = []
        self.lock = threading.Lock()

    def post(self, event) -> None:
        with self.lock:
            self.events.append(event)

    def wait(self, count: int, timeout: float = 10.0) -> list:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self.lock:
                if len(self.events) >= count:
                    return list(self.events)
            time.sleep(0.005)
        raise AssertionError(f"expected {count} events, got {len(self.events)}")


@pytest.fixture
def osc():
    controller, inbox = OscInput(port=0), Inbox()
    controller.start(inbox.post, WallClock())
    client = SimpleUDPClient("127.0.0.1", controller.port)
    yield controller, inbox, client
    controller.stop()


def wait_until(predicate, timeout: float = 10.0) -> None:
    wait_for(predicate, timeout)


@pytest.mark.parametrize("address, args, expected", [
    ("/param/gen/psi", [0.5], ("set", "gen.psi", 0.5)),
    ("/param/vignette/amount", [1], ("set", "vignette.amount", 1.0)),            # ints and floats alike
    ("/param/gen/psi/norm", [0.25], ("norm", "gen.psi", 0.25)),
    ("/param/walk/speed/nudge", [-0.1], ("nudge", "walk.speed", -0.1)),
    ("/show/go", [], ("command", "go", None)),
    ("/show/go", [1], ("command", "go", None)),
    ("/show/panic", [1.0], ("command", "panic", None)),
    ("/show/cue/intro-2/start", [], ("command", "start", "intro-2")),
    ("/show/playhead/down", [], ("command", "down", None)),
    ("/param/gen/psi/learn", [], ("command", "learn", "gen.psi")),
    ("/param/gen/psi/learn", [0], ("command", "learn", None)),
    ("/sensors/baseline", [], ("command", "baseline", None)),
    ("/walk/latent", ["faces.npz", 2], ("walk", "latent", "faces.npz#2@2.0")),
])
def test_the_namespace(address, args, expected):
    event = message_to_event(address, args, 3.0)
    assert (event.kind, event.key, event.value) == expected and event.source == "osc" and event.time == 3.0


@pytest.mark.parametrize("address, args", [("/show/go", [0]), ("/show/stop", [0.0]), ("/_samplerate", [60.0]),
                                           ("/_anything/else", ["x"])])
def test_button_releases_and_touchdesigners_own_addresses_are_ignored(address, args):
    assert message_to_event(address, args, 0.0) is None


@pytest.mark.parametrize("address, args, words", [
    ("/param/gen/psi", [], "expected one number, got 0 values"),
    ("/param/gen/psi", [1.0, 2.0], "expected one number, got 2 values"),
    ("/param/gen/psi", ["high"], "expected a number, got str"),
    ("/param/gen/psi", [float("nan")], "expected a finite number"),
    ("/param/gen/psi", [float("inf")], "expected a finite number"),
    ("/param/gen/psi", [True], "expected a number, got bool"),
    ("/param/gen/psi/norm", [1.5], "expected a value in 0..1"),
    ("/param/Gen/psi", [1.0], "lower case"),
    ("/param/gen/psi/sideways", [1.0], "expected /norm, /nudge or /learn"),
    ("/walk/latent", [1.0], "expected a file name"),
    ("/walk/latent", ["../x.npy"], "no path"),
    ("/show/cue/a*b/start", [], "not a cue id"),
    ("/show/self-destruct", [], "unknown address"),
    ("/" + "x" * 5000, [], "unknown address"),
])
def test_bad_messages_say_what_was_expected(address, args, words):
    with pytest.raises(BadMessage, match=words) as info:
        message_to_event(address, args, 0.0)
    assert len(str(info.value)) < 300                       # one line, whatever came in


def test_endpoints():
    assert parse_endpoint("9000") == ("127.0.0.1", 9000) and parse_endpoint("0.0.0.0:7000") == ("0.0.0.0", 7000)
    for bad in ("", "nine", "host:99999", "a b:9000", ":"):
        with pytest.raises(ValueError):
            parse_endpoint(bad)


def test_messages_and_bundles_over_udp_in_order_with_time_tags_not_waited_for(osc):
    controller, inbox, client = osc
    client.send_message("/param/gen/psi", 0.3)
    client.send_message("/_samplerate", 60)
    bundle = OscBundleBuilder(time.time() + 3600)            # an hour ahead: must not be waited for
    for address, value in (("/param/vignette/amount", 0.8), ("/show/go", 1)):
        message = OscMessageBuilder(address)
        message.add_arg(value)
        bundle.add_content(message.build())
    client.send(bundle.build())
    events = inbox.wait(3, timeout=5)
    assert [(e.kind, e.key) for e in events] == [("set", "gen.psi"), ("set", "vignette.amount"), ("command", "go")]
    assert controller.messages == 4 and controller.ignored == 1 and controller.bad == 0


def test_hostile_packets_are_counted_and_the_server_goes_on(osc):
    controller, inbox, client = osc
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    hostile = [os.urandom(n) for n in (1, 7, 64, 1500)] + [
        b"", b"/param/gen/psi\x00\x00,q\x00\x00",                     # a type tag that does not exist
        b"#bundle\x00" + b"\xff" * 8 + struct.pack(">i", 2 ** 30) + b"abcd",   # an element longer than the packet
        b"/param\x00\x00,s\x00\x00" + b"A" * 1000,                          # an unterminated string
    ]
    for data in hostile:
        sock.sendto(data, ("127.0.0.1", controller.port))
    client.send_message("/param/gen/psi", float("nan"))
    client.send_message("/param/gen/psi", "loud")
    client.send_message("/no/such/thing", 1.0)
    client.send_message("/param/gen/psi", 0.4)                        # and a good one after all that
    (event,) = inbox.wait(1)
    assert event.key == "gen.psi" and event.value == pytest.approx(0.4)       # OSC floats are 32-bit
    wait_until(lambda: controller.bad + controller.messages >= len(hostile) + 4)
    assert controller.bad >= len(hostile) + 2, controller.status()   # everything but the good one, and the
    # datagram of nothing, which the kernel may not even deliver
    assert "bad" in controller.status() and controller.status().count("\n") == 0
    sock.close()


def test_a_burst_arrives_complete():
    controller, inbox = OscInput(port=0), Inbox()
    controller.start(inbox.post, WallClock())
    try:
        client = SimpleUDPClient("127.0.0.1", controller.port)
        for i in range(2000):
            client.send_message("/param/gen/psi", i / 2000)
        events = inbox.wait(2000, timeout=30)
        assert [e.value for e in events] == pytest.approx([i / 2000 for i in range(2000)])   # complete, in order
    finally:
        controller.stop()


def test_the_allow_list_keeps_other_senders_out():
    controller, inbox = OscInput(port=0, allow=["10.1.2.3"]), Inbox()
    controller.start(inbox.post, WallClock())
    try:
        SimpleUDPClient("127.0.0.1", controller.port).send_message("/show/go", 1)
        wait_until(lambda: controller.bad == 1)
        assert inbox.events == [] and "allow-list" in controller.last_problem
    finally:
        controller.stop()


def test_stopping_frees_the_port_and_a_busy_port_is_an_oserror():
    first = OscInput(port=0)
    first.start(Inbox().post, WallClock())
    port = first.port
    with pytest.raises(OSError):
        OscInput(port=port).start(Inbox().post, WallClock())
    first.stop()
    again = OscInput(port=port)
    again.start(Inbox().post, WallClock())
    again.stop()
    assert not [t for t in threading.enumerate() if t.name.startswith("osc-in")]


SHOW = """format: 1
walk: {seeds: [1, 2]}
inputs:
  osc: {port: 0}
cues:
  - id: dark
    actions: [{fade: {param: vignette.amount, to: 1.0, time: 0}}]
"""


def test_a_packet_reaches_the_parameter_and_the_cue_list(tmp_path):
    with osc_session(tmp_path, SHOW) as (engine, osc):
        client = SimpleUDPClient("127.0.0.1", osc.port)
        client.send_message("/param/gen/psi", 0.25)
        client.send_message("/param/walk/speed/norm", 0.0)
        wait_until(lambda: engine.events.posted >= 2)
        engine.frame()
        assert engine.params.get("gen.psi") == pytest.approx(0.25) and engine.params.get("walk.speed") == 0.0
        assert engine.params.last_write("gen.psi")[0] == "osc"
        client.send_message("/show/cue/dark/start", 1)
        wait_until(lambda: engine.events.posted >= 3)
        engine.frame()
        engine.frame()
        assert engine.params.get("vignette.amount") == pytest.approx(1.0)
        client.send_message("/param/no/such", 1.0)           # unknown to the engine: a fault, not a crash
        wait_until(lambda: engine.events.posted >= 4)
        engine.frame()
        assert "input osc" in engine.faults
        assert "osc 127.0.0.1" in osc.status()


MAPPED = """format: 1
walk: {seeds: [1, 2]}
inputs:
  osc:
    port: 0
    map:
      - {address: /heartrate, param: walk.speed, range: [40, 180], to: [0.2, 2.0]}
      - {address: /muse/elements/alpha_absolute, arg: 2, param: vignette.amount, range: [0, 1.5], invert: true}
      - {address: /td/go, command: go}
cues:
  - id: dark
    actions: [{set: {gen.psi: 0.1}}]
"""


def test_the_shows_own_addresses_drive_parameters_and_commands(tmp_path):
    with osc_session(tmp_path, MAPPED) as (engine, osc):
        client = SimpleUDPClient("127.0.0.1", osc.port)
        client.send_message("/heartrate", 110)                           # an int, halfway up 40..180
        client.send_message("/muse/elements/alpha_absolute", [0.1, 0.2, 0.3, 0.4])   # four channels; reads #2
        client.send_message("/td/go", 1)
        client.send_message("/td/go", 0)                                 # the button's release: nothing
        wait_until(lambda: engine.events.posted >= 3)
        engine.frame()
        engine.frame()
        assert engine.params.get("walk.speed") == pytest.approx(1.1)
        assert engine.params.get("vignette.amount") == pytest.approx(0.8)  # 0.3 of 1.5 is 0.2; inverted 0.8
        assert engine.params.get("gen.psi") == pytest.approx(0.1)           # the GO ran cue dark
        client.send_message("/muse/elements/alpha_absolute", [0.1])         # too few channels for arg 2
        wait_until(lambda: osc.bad >= 1)
        assert "argument 2" in osc.last_problem


def test_smoothing_follows_over_the_packets_arrival():
    from controllers.osc import OscMapping
    m = OscMapping("/eda", param="feedback.amount", range=(0, 10), to=(0, 1), smoothing=1.0)
    assert m.event([0.0], now=0.0).value == 0.0
    halfway = m.event([10.0], now=0.693).value                           # one half-life later: about half
    assert 0.45 < halfway < 0.55
    assert m.event([10.0], now=10.0).value > 0.99


@pytest.mark.parametrize("mapping, words", [
    ("{address: /x, param: no.such}", "undefined parameter 'no.such'"),
    ("{address: 'has space', param: gen.psi}", "is not an OSC address"),
    ("{address: /x, param: gen.psi, command: go}", "exactly one of 'param' or 'command'"),
    ("{address: /x, param: gen.psi, range: [1, 1]}", "low and high are both 1"),
    ("{address: /x, param: gen.psi, to: [0, 99]}", "inputs.osc.map[0].to"),
    ("{address: /x, command: go, invert: true}", "'invert' belongs to a parameter mapping"),
    ("{address: /x, param: gen.psi, arg: 99}", "inputs.osc.map[0].arg"),
    ("{address: /x, param: gen.psi, curve: wobbly}", "'wobbly' is not one of linear, square, sqrt"),
])
def test_bad_mappings_are_refused_at_load_with_their_line(tmp_path, mapping, words):
    from engine.show import ShowLoadError, load_show
    show = tmp_path / "show.yaml"
    show.write_text(f"format: 1\ninputs:\n  osc:\n    map:\n      - {mapping}\ncues: [{{id: a, actions: []}}]\n")
    with pytest.raises(ShowLoadError) as info:
        load_show(str(show))
    (error,) = info.value.errors
    assert error.line == 5 and words in str(error), error


def test_queries_are_answered_as_qlab_answers_them(tmp_path):
    """A query without a value gets /reply/{address} with a JSON string, back at the sender's own port."""
    import json as json_module

    from pythonosc.osc_message import OscMessage
    with osc_session(tmp_path, SHOW) as (engine, osc), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(5)
        engine.frame()                                          # the first state the replies tell

        def ask(address: str) -> tuple[str, dict]:
            sock.sendto(OscMessageBuilder(address).build().dgram, ("127.0.0.1", osc.port))
            reply = OscMessage(sock.recvfrom(65536)[0])
            return reply.address, json_module.loads(reply.params[0])

        address, answer = ask("/param/gen/psi")
        assert address == "/reply/param/gen/psi" and answer["status"] == "ok" \
            and answer["data"] == pytest.approx(engine.params.get("gen.psi"))
        assert ask("/show/standby")[1]["data"] == "dark"
        assert ask("/param/no/such")[1] == {"address": "/param/no/such", "status": "error", "data": "no parameter no.such"}
        assert set(ask("/status")[1]["data"]) == {"display_fps", "generator_fps", "errors"}


def test_walk_commands_glide_to_a_seed_from_wherever_the_picture_is(tmp_path):
    import torch
    with osc_session(tmp_path, MAPPED) as (engine, osc):
        engine.params.set("walk.speed", 0.0)
        engine.frame()
        before = engine.source.frame_at(engine.walk_time).ws
        client = SimpleUDPClient("127.0.0.1", osc.port)
        client.send_message("/walk/glide", [77, 30.0])                 # a long glide: it starts where we are
        wait_until(lambda: engine.events.posted >= 1)
        engine.frame()
        assert torch.allclose(engine.source.frame_at(engine.walk_time).ws, before, atol=1e-4)
        client.send_message("/walk/jump", 78)                          # a cut: the seed's own image at once
        wait_until(lambda: engine.events.posted >= 2)
        engine.frame()
        G = engine.source.G
        target = G.mapping(torch.from_numpy(__import__("numpy").random.RandomState(78).randn(1, G.z_dim)).float(),
                           None, truncation_psi=engine.params.get("gen.psi"))
        assert torch.allclose(engine.source.frame_at(engine.walk_time).ws, target, atol=1e-4)
        assert any("walk to seed 78" in m for m in engine.messages)
        for bad in ([-1], [1.5], [1, -2.0], []):
            client.send_message("/walk/glide", bad)
        wait_until(lambda: osc.bad >= 4)


def test_replies_are_rate_limited():
    """Replies go back to the sender's address, which UDP lets anyone forge: a flood of queries gets at most
    MAX_REPLIES_PER_SECOND answers (plus the bucket), never a flood in return."""
    from controllers.osc import MAX_REPLIES_PER_SECOND
    from engine.feedback import FeedbackState
    osc, inbox = OscInput(port=0), Inbox()
    osc.start(inbox.post, WallClock())
    osc.offer(FeedbackState(now=0.0, values={"gen.psi": 0.7}))
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    try:
        query = OscMessageBuilder("/param/gen/psi").build().dgram
        for _ in range(2000):
            sock.sendto(query, ("127.0.0.1", osc.port))
        wait_until(lambda: osc.replies + osc.bad >= 2000, timeout=20)
        assert MAX_REPLIES_PER_SECOND <= osc.replies < 2000 and "queries a second" in osc.last_problem
    finally:
        sock.close()
        osc.stop()


def test_walk_to_a_latent_file_from_the_shows_folder_only(tmp_path):
    import os

    import numpy as np
    import torch
    with osc_session(tmp_path, MAPPED) as (engine, osc):
        G = engine.source.G
        rows = np.random.RandomState(5).randn(3, G.num_ws, G.w_dim).astype(np.float32)
        np.save(tmp_path / "faces.npy", rows)
        outside = tmp_path / "elsewhere"
        outside.mkdir()
        np.save(outside / "secret.npy", rows)
        os.symlink(outside / "secret.npy", tmp_path / "link.npy")
        (tmp_path / "huge.npy").write_bytes(b"\0" * (5 * 2 ** 20))
        engine.params.set("walk.speed", 0.0)
        client = SimpleUDPClient("127.0.0.1", osc.port)
        client.send_message("/walk/latent", ["faces.npy", 1, 0.0])    # a cut to row 1
        wait_until(lambda: engine.events.posted >= 1)
        engine.frame()
        assert any("walk to faces.npy row 1" in m for m in engine.messages), engine.messages
        ws = engine.source.frame_at(engine.walk_time).ws
        w_avg, psi = G.mapping.w_avg, engine.params.get("gen.psi")            # stored W, truncated as a seed's is
        assert torch.allclose(ws.reshape(G.num_ws, G.w_dim), w_avg + (torch.from_numpy(rows[1]) - w_avg) * psi,
                              atol=1e-4)
        for bad in (["../elsewhere/secret.npy"], ["/etc/passwd"], ["faces.txt"], [3], ["faces.npy", -1],
                    ["faces.npy", 1.5]):
            client.send_message("/walk/latent", bad)
        wait_until(lambda: osc.bad >= 6)
        for refused in (["link.npy"], ["huge.npy"], ["faces.npy", 7], ["missing.npy"]):
            client.send_message("/walk/latent", refused)
        wait_until(lambda: engine.events.posted >= 5)
        engine.frame()
        faults = " ".join(message for message, _ in engine.faults.values())
        assert "walk latent" in faults
        engine.frame()                                                # the show goes on
        assert torch.isfinite(engine.source.frame_at(engine.walk_time).ws).all()
