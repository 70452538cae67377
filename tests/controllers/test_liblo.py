"""Against an independent OSC implementation (liblo's oscsend and oscdump, Debian's liblo-tools): what liblo
sends, we read; what we send, liblo reads."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time

from controllers.osc import OscInput
from controllers.osc_out import OscFeedback
from engine.clock import WallClock
from engine.feedback import FeedbackState


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_liblo_tools_are_installed():
    assert shutil.which("oscsend") and shutil.which("oscdump"), "apt-get install liblo-tools (.ci/run does)"


def test_what_oscsend_sends_becomes_events():
    events, lock = [], threading.Lock()

    def post(event) -> None:
        with lock:
            events.append(event)
    osc = OscInput(port=0)
    osc.start(post, WallClock())
    try:
        for args in (["/param/gen/psi", "f", "0.25"], ["/param/vignette/amount", "i", "1"], ["/show/go", "i", "1"],
                     ["/show/cue/intro/start"], ["/param/gen/psi", "s", "loud"], ["/walk/glide", "if", "7", "1.5"]):
            subprocess.run(["oscsend", "127.0.0.1", str(osc.port), *args], check=True, timeout=10)
        end = time.monotonic() + 10
        while time.monotonic() < end and (len(events) < 5 or osc.bad < 1):
            time.sleep(0.01)
        got = [(e.kind, e.key, e.value) for e in events]
        assert got == [("set", "gen.psi", 0.25), ("set", "vignette.amount", 1.0), ("command", "go", None),
                       ("command", "start", "intro"), ("walk", "glide", "7.0@1.5")]
        assert osc.bad == 1 and "expected a number, got str" in osc.last_problem
    finally:
        osc.stop()


def test_what_we_send_oscdump_reads():
    port = free_udp_port()
    dump = subprocess.Popen(["oscdump", "-L", str(port)], stdout=subprocess.PIPE, text=True)
    out = OscFeedback([("127.0.0.1", port)]).start()
    try:
        time.sleep(0.5)                                         # oscdump is listening
        out.offer(FeedbackState(now=0.0, values={"gen.psi": 0.7}, standby="1", running=("a", "b"),
                                display_fps=30.0, generator_fps=12.0))
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(iter(dump.stdout.readline, "")), daemon=True)
        reader.start()                                          # a silent oscdump must not hang the test
        end = time.monotonic() + 10
        while time.monotonic() < end and not any("/status/heartbeat" in line for line in list(lines)):
            time.sleep(0.02)
        text = "".join(lines)
        assert "/param/gen/psi f 0.700000" in text and '/show/standby s "1"' in text
        assert '/show/running ss "a" "b"' in text and "/status/fps ff 30.000000 12.000000" in text
    finally:
        out.stop()
        dump.kill()
        dump.wait()
