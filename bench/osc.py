"""OSC in: how many messages a second arrive, how many are lost, and how long a packet takes to become an
event, against python-osc's thread-per-datagram server as the baseline (measured in the same run).

    python bench/osc.py                     # bursts of 20,000 messages; 2,000 paced at 1 kHz for latency
    python bench/osc.py --json

* ``burst``: a client sends as fast as it can (a TouchDesigner CHOP exporting many channels at 60 Hz, or a
  sensor flood); figures: messages sent per second, the share received, and the receiver's rate.
* ``latency``: messages paced at ``--rate`` per second, each carrying its send time; the time from send to
  the event being posted (median, 99th percentile). The frame loop routes posted events once per frame, so a
  parameter shows on screen at most one display frame after that.

Our server: ``controllers.osc.OscInput`` (one blocking server thread, 4 MiB receive buffer). Baseline:
``pythonosc.osc_server.ThreadingOSCUDPServer`` with the default buffer, a thread per datagram.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import threading
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pythonosc.dispatcher import Dispatcher  # noqa: E402
from pythonosc.osc_message_builder import OscMessageBuilder  # noqa: E402
from pythonosc.osc_server import ThreadingOSCUDPServer  # noqa: E402

from controllers.osc import OscInput  # noqa: E402
from engine.clock import WallClock  # noqa: E402


class Counter:
    def __init__(self) -> None:
        self.count = 0
        self.latencies: list[float] = []
        self.lock = threading.Lock()

    def take(self, sent_at: float | None) -> None:
        now = time.perf_counter()
        with self.lock:
            self.count += 1
            if sent_at is not None and sent_at > 0:
                self.latencies.append(now - sent_at)


def datagram(value: float) -> bytes:
    builder = OscMessageBuilder("/param/gen/psi")
    builder.add_arg(value, arg_type="d")          # a double: the send time survives to the microsecond
    return builder.build().dgram


def ours() -> tuple[Any, int, Counter, Any]:
    counter = Counter()
    server = OscInput(port=0)
    server.start(lambda event: counter.take(float(event.value) if isinstance(event.value, float) else None),
                 WallClock())
    return server, server.port, counter, server.stop


def baseline() -> tuple[Any, int, Counter, Any]:
    counter = Counter()
    dispatcher = Dispatcher()
    dispatcher.map("/param/gen/psi", lambda address, value: counter.take(value))
    server = ThreadingOSCUDPServer(("127.0.0.1", 0), dispatcher)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
    return server, server.server_address[1], counter, stop


def burst(make: Any, count: int, rate: float | None) -> dict[str, float]:
    """``count`` messages at ``rate`` a second (None: as fast as this process can send)."""
    _, port, counter, stop = make()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    data = datagram(-1.0)                         # no latency stamp: the send loop stays as fast as it can be
    start = time.perf_counter()
    for i in range(count):
        sock.sendto(data, ("127.0.0.1", port))
        if rate is not None and i % 100 == 99:    # paced in chunks of 100
            pause = start + (i + 1) / rate - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
    sent_seconds = time.perf_counter() - start
    deadline = time.perf_counter() + 10
    last, quiet_since = -1, time.perf_counter()
    while time.perf_counter() < deadline:         # wait until nothing more arrives for half a second
        if counter.count != last:
            last, quiet_since = counter.count, time.perf_counter()
        elif time.perf_counter() - quiet_since > 0.5 or counter.count >= count:
            break
        time.sleep(0.01)
    received_seconds = quiet_since - start
    stop()
    sock.close()
    return {"sent": count, "send_rate": round(count / sent_seconds), "received": counter.count,
            "received_share": round(counter.count / count, 4),
            "receive_rate": round(counter.count / max(received_seconds, 1e-9))}


def latency(make: Any, count: int, rate: float) -> dict[str, float]:
    _, port, counter, stop = make()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    period = 1.0 / rate
    next_at = time.perf_counter()
    for _ in range(count):
        sock.sendto(datagram(time.perf_counter()), ("127.0.0.1", port))
        next_at += period
        pause = next_at - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
    time.sleep(0.5)
    stop()
    sock.close()
    lat = sorted(counter.latencies)
    return {"messages": count, "rate": rate, "received": counter.count,
            "median_ms": round(statistics.median(lat) * 1000, 3) if lat else None,
            "p99_ms": round(lat[int(0.99 * (len(lat) - 1))] * 1000, 3) if lat else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--burst", type=int, default=20_000, help="messages per burst")
    parser.add_argument("--repeats", type=int, default=3, help="bursts per server (the median is reported)")
    parser.add_argument("--burst-rates", default="60000,max", help="comma list of messages/s (max: unpaced)")
    parser.add_argument("--latency-messages", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=1000.0, help="paced messages per second for latency")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    rates = [None if r == "max" else float(r) for r in args.burst_rates.split(",")]
    for name, make in (("ours", ours), ("baseline", baseline)):
        results[name] = {"bursts": [], "latency": latency(make, args.latency_messages, args.rate)}
        for rate in rates:
            bursts = [burst(make, args.burst, rate) for _ in range(args.repeats)]
            middle = sorted(bursts, key=lambda b: b["received_share"])[len(bursts) // 2]
            results[name]["bursts"].append({"paced": rate or "max", **middle})
    results["ratios"] = [{"paced": own["paced"],
                          "received_share": round(own["received_share"] / max(base["received_share"], 1e-9), 2)}
                         for own, base in zip(results["ours"]["bursts"], results["baseline"]["bursts"])]
    if args.json:
        print(json.dumps(results, indent=1))
        return
    for name in ("ours", "baseline"):
        lat = results[name]["latency"]
        for b in results[name]["bursts"]:
            print(f"{name:>8}: {b['sent']} messages sent at {b['send_rate']}/s (paced: {b['paced']}): "
                  f"{b['received_share']:.1%} received ({b['receive_rate']}/s)")
        print(f"{name:>8}: paced {lat['rate']:.0f}/s: send -> event {lat['median_ms']} ms median, "
              f"{lat['p99_ms']} ms p99")
    print("ours / baseline, share received: " + ", ".join(f"{r['received_share']}x at {r['paced']}/s"
                                                          for r in results["ratios"]))


if __name__ == "__main__":
    main()
