"""Control surfaces: OSC messages a second handled with none lost, and the time from a packet (or a MIDI
message) to the parameter change being visible in the frame loop — median and p99 — against a baseline
measured in the same run.

    python bench/control.py                 # about a minute; starts its own JACK server for MIDI
    python bench/control.py --json

* ``throughput``: bursts of ``--burst`` OSC messages at rising rates into our OSC input and into python-osc's
  thread-per-datagram server (the baseline); the highest rate with nothing lost, and the share received.
* ``frame loop``: a headless session of a small show runs its real frame loop (``LiveEngine.frame``, 60 fps
  pacing, the generator in a thread). A sender moves one parameter ``--messages`` times at ``--rate`` a
  second, by OSC (``/param/bench/probe``), by MIDI (a 14-bit CC through a JACK virtual port) and — the
  baseline — by posting the event from a thread in the same process. Latency is from the send to the end
  of the first frame whose parameters carry the value (a value overtaken by the next one within the same
  frame is never on screen, and is not counted as seen). Events wait for the next frame by design (DESIGN.md
  §1), so about half a frame period is the floor; the ratios say what OSC and MIDI add to it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.osc import baseline as osc_baseline, burst, ours as osc_ours  # noqa: E402

SHOW = """\
format: 1
parameters:
  declare:
    bench.probe: {{min: 0, max: 16383, default: 0}}
inputs:
  osc: {{port: 0}}
  midi:
    ports: ["{port}"]
    takeover: none
    map:
      - {{cc14: 1, param: bench.probe}}
cues:
  - id: a
    actions:
      - fade: {{param: gen.psi, to: 0.5, time: 1}}
"""


@contextlib.contextmanager
def jack_server() -> Iterator[str | None]:
    """A JACK server (dummy driver) for the MIDI figures; None if jackd is not installed."""
    if shutil.which("jackd") is None or shutil.which("jack_wait") is None:
        yield None
        return
    name = f"latentstage-bench-{uuid.uuid4().hex[:8]}"
    env = dict(os.environ, JACK_DEFAULT_SERVER=name, JACK_NO_START_SERVER="1")
    server = subprocess.Popen(["jackd", "-n", name, "--no-realtime", "-d", "dummy", "-r", "48000", "-p", "256"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        ready = subprocess.run(["jack_wait", "-w", "-t", "10"], env=env, capture_output=True).returncode == 0
        if ready:
            os.environ.update(JACK_DEFAULT_SERVER=name, JACK_NO_START_SERVER="1",
                              MIDO_BACKEND="mido.backends.rtmidi/UNIX_JACK")
        yield name if ready else None
    finally:
        server.terminate()
        server.wait(10)


def throughput(count: int, repeats: int) -> dict[str, Any]:
    rates: list[float | None] = [10_000.0, 30_000.0, 60_000.0, None]
    found: dict[str, Any] = {}
    for name, make in (("ours", osc_ours), ("baseline", osc_baseline)):
        rows = []
        for rate in rates:
            runs = sorted((burst(make, count, rate) for _ in range(repeats)), key=lambda b: b["received_share"])
            rows.append({"paced": rate or "max", **runs[len(runs) // 2]})
        lossless = [r["send_rate"] for r in rows if r["received_share"] >= 1.0]
        found[name] = {"bursts": rows, "lossless_rate": max(lossless) if lossless else 0}
    ours_max, base_max = found["ours"]["bursts"][-1], found["baseline"]["bursts"][-1]
    found["ratio_received_unpaced"] = round(ours_max["received_share"] / max(base_max["received_share"], 1e-9), 2)
    return found


def frame_latency(engine: Any, send: Callable[[int], None], count: int, rate: float,
                  fps: float = 60.0) -> dict[str, Any]:
    """Send ``count`` distinct values of bench.probe at ``rate``/s while the frame loop runs at ``fps``."""
    sent: dict[int, float] = {}
    seen: dict[int, float] = {}
    done = threading.Event()

    def sender() -> None:
        start = time.perf_counter()
        for i in range(1, count + 1):
            value = (i * 37) % 16000 + 1                # distinct from its neighbours, never the default
            sent[value] = time.perf_counter()
            send(value)
            pause = start + i / rate - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
        done.set()

    thread = threading.Thread(target=sender, daemon=True)
    thread.start()
    last = engine.params.get("bench.probe")
    deadline = time.perf_counter() + count / rate + 5
    while time.perf_counter() < deadline and not (done.is_set() and len(seen) >= len(sent)):
        tick = time.perf_counter()
        engine.frame()
        now = time.perf_counter()
        value = int(round(engine.params.get("bench.probe")))
        if value != last and value in sent and value not in seen:
            seen[value] = now - sent[value]
        last = value
        pause = tick + 1 / fps - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
    thread.join(5)
    latencies = sorted(seen.values())
    return {"sent": count, "seen": len(latencies),
            "median_ms": round(statistics.median(latencies) * 1000, 2) if latencies else None,
            "p99_ms": round(latencies[int(0.99 * (len(latencies) - 1))] * 1000, 2) if latencies else None,
            "frame_ms": round(1000 / fps, 2)}


def loop_figures(count: int, rate: float) -> dict[str, Any]:
    with jack_server() as jack:
        import mido  # after the JACK environment is set, so its default backend is JACK's
        from pythonosc.udp_client import SimpleUDPClient

        from engine.inputs import InputEvent
        from engine.session import Session, SessionConfig
        port = f"bench-{uuid.uuid4().hex[:6]}"
        device = mido.Backend("mido.backends.rtmidi/UNIX_JACK", load=True).open_output(port, virtual=True) \
            if jack else None
        folder = tempfile.mkdtemp()
        show = os.path.join(folder, "bench.yaml")
        with open(show, "w") as f:
            f.write(SHOW.format(port=port))
        engine = Session(SessionConfig(show=show, headless=True, size=(64, 64), generator="thread", hud=False,
                                       oscquery=False)).load().open_live()
        try:
            engine.worker.start()
            engine.start_controllers()
            (osc,) = [c for c in engine.controllers if c.name == "osc"]
            (midi,) = [c for c in engine.controllers if c.name == "midi"]
            client = SimpleUDPClient("127.0.0.1", osc.port)
            for _ in range(60):                            # warm up: GL, the generator's first frames
                engine.frame()

            def post(value: int) -> None:
                engine.post(InputEvent(engine.clock.now(), "bench", "set", "bench.probe", float(value)))

            def send_osc(value: int) -> None:
                client.send_message("/param/bench/probe", float(value))

            def send_midi(value: int) -> None:
                assert device is not None
                device.send(mido.Message("control_change", control=1, value=value >> 7))
                device.send(mido.Message("control_change", control=33, value=value & 127))

            figures: dict[str, Any] = {"post (baseline)": frame_latency(engine, post, count, rate),
                                       "osc": frame_latency(engine, send_osc, count, rate)}
            if device is not None:
                deadline = time.perf_counter() + 10
                while not midi.ports and time.perf_counter() < deadline:
                    time.sleep(0.05)
                time.sleep(0.3)
                figures["midi"] = frame_latency(engine, send_midi, count, rate)
            else:
                figures["midi"] = "not measured: jackd is not installed (apt-get install jackd2)"
        finally:
            engine.stop_controllers()
            engine.close()
            if device is not None:
                device.close()
            shutil.rmtree(folder, ignore_errors=True)
    base = figures["post (baseline)"]["median_ms"] or 1e-9
    figures["ratios_to_post"] = {name: round(f["median_ms"] / base, 2) for name, f in figures.items()
                                 if isinstance(f, dict) and f.get("median_ms") and name != "post (baseline)"}
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--burst", type=int, default=10_000, help="OSC messages per burst")
    parser.add_argument("--repeats", type=int, default=3, help="bursts per rate and server (median reported)")
    parser.add_argument("--messages", type=int, default=300, help="parameter changes per input in the frame loop")
    parser.add_argument("--rate", type=float, default=50.0, help="parameter changes per second")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = {"throughput": throughput(args.burst, args.repeats),
               "frame_loop": loop_figures(args.messages, args.rate)}
    if args.json:
        print(json.dumps(results, indent=1))
        return
    t = results["throughput"]
    for name in ("ours", "baseline"):
        shares = ", ".join(f"{b['received_share']:.1%} at {b['paced']}" for b in t[name]["bursts"])
        print(f"OSC {name:>8}: lossless up to {t[name]['lossless_rate']}/s sent ({shares})")
    print(f"OSC share received unpaced, ours / baseline: {t['ratio_received_unpaced']}x")
    for name, f in results["frame_loop"].items():
        if name == "ratios_to_post":
            continue
        if isinstance(f, dict):
            print(f"frame loop {name:>16}: {f['seen']}/{f['sent']} changes seen, send -> visible "
                  f"{f['median_ms']} ms median, {f['p99_ms']} ms p99 (frame {f['frame_ms']} ms)")
        else:
            print(f"frame loop {name:>16}: {f}")
    print("median latency / in-process post: " + ", ".join(f"{k} {v}x" for k, v in
                                                           results["frame_loop"]["ratios_to_post"].items()))


if __name__ == "__main__":
    main()
