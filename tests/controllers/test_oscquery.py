"""OSCQuery through a real HTTP server and client and a real zeroconf browser on 127.0.0.1: the tree with
TYPE, RANGE, VALUE, ACCESS and DESCRIPTION, single nodes and attributes, HOST_INFO, the tree following a show
reload, the service found by browsing, and hostile requests answered without harm."""

from __future__ import annotations

import http.client
import json
import os
import socket
import time
import urllib.error
import urllib.request

import pytest
from pythonosc.udp_client import SimpleUDPClient

from controllers.oscquery import OscQueryServer
from engine.params import ParamSpec, engine_params
from tests.controllers.sessions import osc_session


def get(port: int, path: str) -> tuple[int, object]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            body = response.read()
            return response.status, json.loads(body) if body else None
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


@pytest.fixture
def served():
    params = engine_params()
    params.declare(ParamSpec("vignette.amount", 0.0, 0.0, 1.0, doc="darkens the edges"))
    server = OscQueryServer(params.specs, lambda: 9123, port=0, advertise=False)
    server.start()
    yield server, params
    server.stop()


def test_the_tree_nodes_attributes_and_host_info(served):
    server, params = served
    status, tree = get(server.port, "/")
    assert status == 200
    node = tree["CONTENTS"]["param"]["CONTENTS"]["vignette"]["CONTENTS"]["amount"]
    assert node == {"FULL_PATH": "/param/vignette/amount", "TYPE": "f", "ACCESS": 3,
                    "RANGE": [{"MIN": 0.0, "MAX": 1.0}], "VALUE": [0.0], "DESCRIPTION": "darkens the edges"}
    assert tree["CONTENTS"]["show"]["CONTENTS"]["go"]["ACCESS"] == 2
    assert get(server.port, "/param/gen/psi")[1]["FULL_PATH"] == "/param/gen/psi"
    assert get(server.port, "/param/gen/psi?RANGE")[1]["RANGE"][0]["MAX"] == params.spec("gen.psi").maximum
    status, info = get(server.port, "/?HOST_INFO")
    assert status == 200 and info["OSC_PORT"] == 9123 and info["OSC_TRANSPORT"] == "UDP"
    assert info["EXTENSIONS"]["RANGE"] and info["EXTENSIONS"]["VALUE"]


def test_unknown_nodes_attributes_and_hostile_requests(served):
    server, _ = served
    assert get(server.port, "/param/no/such")[0] == 404
    assert get(server.port, "/param/gen/psi?CLIPMODE")[0] == 204          # a spec attribute it has not
    assert get(server.port, "/param/gen/psi?DROP%20TABLE")[0] == 400
    assert get(server.port, "/" + "a" * 5000)[0] == 414
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    connection.request("POST", "/param/gen/psi", body=b"1")                  # nothing is ever written here
    assert connection.getresponse().status == 501
    with socket.create_connection(("127.0.0.1", server.port)) as raw:        # garbage, then silence
        raw.sendall(b"\x00\xff not http at all\r\n\r\n")
        raw.settimeout(10)
        assert raw.recv(100)                                                 # an error answer, not a hang
    assert get(server.port, "/")[0] == 200                                   # and it still serves


def test_the_service_is_found_by_browsing_zeroconf():
    from zeroconf import IPVersion, Zeroconf
    server = OscQueryServer(engine_params().specs, lambda: 9124, port=0, service_name="Latent Stage test")
    server.start()
    browser = Zeroconf(interfaces=["127.0.0.1"], ip_version=IPVersion.V4Only)
    try:
        assert server.advertised, server.status()
        info = browser.get_service_info("_oscjson._tcp.local.", "Latent Stage test._oscjson._tcp.local.",
                                        timeout=5000)
        assert info is not None and info.port == server.port
        osc = browser.get_service_info("_osc._udp.local.", "Latent Stage test._osc._udp.local.", timeout=5000)
        assert osc is not None and osc.port == 9124
    finally:
        browser.close()
        server.stop()


SHOW = """format: 1
walk: {seeds: [1]}
parameters: {declare: {mood.energy: {default: 0.5, min: 0.0, max: 1.0}}}
inputs: {osc: {port: 0}}
cues: [{id: a, actions: []}]
"""


def test_the_tree_follows_the_engine_values_and_show_reloads(tmp_path):
    with osc_session(tmp_path, SHOW) as (engine, osc):
        show = tmp_path / "show.yaml"
        (query,) = [s for s in engine.feedback if getattr(s, "name", "") == "oscquery"]
        assert query.port == osc.port                          # the OSC port's number, over TCP
        SimpleUDPClient("127.0.0.1", osc.port).send_message("/param/mood/energy", 0.9)
        deadline = time.monotonic() + 10
        while get(query.port, "/param/mood/energy?VALUE")[1] != {"VALUE": [pytest.approx(0.9)]}:
            assert time.monotonic() < deadline
            engine.frame()
            time.sleep(0.02)
        show.write_text(SHOW.replace("mood.energy", "mood.calm"))
        os.utime(show, (2e9, 2e9))
        engine.shader_poll_seconds = 0.0                      # look for the saved file every frame
        deadline = time.monotonic() + 30
        while get(query.port, "/param/mood/calm")[0] != 200:
            assert time.monotonic() < deadline, "the reloaded show's parameter never appeared"
            engine.frame()
            time.sleep(0.02)


def test_sources_are_read_only_nodes_with_their_values():
    from controllers.oscquery import READ_ONLY, build_tree, find
    tree = build_tree([], {}, {"bio.hr": ("heart rate", 72.0), "midi.clock.bpm": ("tempo", None)})
    hr = find(tree, "/source/bio/hr")
    assert hr is not None and hr["ACCESS"] == READ_ONLY and hr["VALUE"] == [72.0] and hr["TYPE"] == "f"
    bpm = find(tree, "/source/midi/clock/bpm")
    assert bpm is not None and "VALUE" not in bpm and bpm["DESCRIPTION"] == "tempo"
    assert find(tree, "/source/midi")["ACCESS"] == 0           # a container, not a value
