"""The supervisor, for real: a headless show is killed (a crash) and frozen (a hang); each time it comes
back resuming the cue that was running, and SIGTERM stops everything cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from engine.supervise import child_command
from tests import conftest
from tests.conftest import ROOT

SHOW = """format: 1
autostart: true
chain: []
walk: {seeds: [1, 2], seconds_per_keyframe: 2}
cues:
  - id: a
    continue: auto-continue
    post_wait: 2
  - id: b
    name: the long one
    actions: [{fade: {param: gen.psi, to: 0.2, time: 600}}]
"""


def read(path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def wait_for(predicate, timeout: float, what: str):
    return conftest.wait_for(predicate, timeout, what, poll=0.2)


def running(state: dict | None) -> dict[str, float]:
    if not state or not state.get("runner"):
        return {}
    return {c["id"]: c["started_ago"] for c in state["runner"]["running"]}


def test_child_command_drops_the_supervisors_options():
    command = child_command(["show.yaml", "--supervise", "--state", "x", "--watchdog=9", "--headless", "--resume",
                             "--heartbeat-fd", "7"], "/s.json", resume=True, heartbeat_fd=5)
    assert command[2:] == ["show.yaml", "--headless", "--state", "/s.json", "--heartbeat-fd", "5", "--resume"]


def test_crash_and_hang_are_restarted_at_the_running_cue(tmp_path):
    show, state_path, log = tmp_path / "show.yaml", tmp_path / "state" / "s.json", tmp_path / "show.log"
    show.write_text(SHOW)
    supervisor = subprocess.Popen(
        [sys.executable, str(ROOT / "launch.py"), str(show), "--headless", "--size", "160x96", "--max-fps", "15",
         "--supervise", "--state", str(state_path), "--watchdog", "5", "--log", str(log)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        first = wait_for(lambda: (s := read(state_path)) and "b" in running(s) and s, 180, "cue b to run")
        before = running(first)["b"]
        os.kill(first["pid"], signal.SIGKILL)                                          # a crash
        second = wait_for(lambda: (s := read(state_path)) and s["pid"] != first["pid"] and s, 120, "a restart")
        assert "b" in running(second) and running(second)["b"] >= before   # resumed, not started again
        assert "a" not in running(second)

        os.kill(second["pid"], signal.SIGSTOP)                                         # a hang
        third = wait_for(lambda: (s := read(state_path)) and s["pid"] != second["pid"] and s, 120,
                         "the watchdog's restart")
        assert "b" in running(third)
        assert not os.path.exists(f"/proc/{second['pid']}") or "Z" in open(f"/proc/{second['pid']}/stat").read()

        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(60) == 0
        assert not os.path.exists(f"/proc/{third['pid']}")
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
            supervisor.wait()
    record = (tmp_path / "show.supervisor.log").read_text()
    assert "killed by SIGKILL" in record and "gave no heartbeat" in record and "resuming with cue(s) b" in record
    assert "resumed: running b" in log.read_text()


def test_no_state_file_is_no_hang(tmp_path):
    """The heartbeat comes from the frame loop, not from the disk: with a state folder that cannot exist the
    show runs on (it just cannot resume), and the watchdog leaves it alone."""
    show, log = tmp_path / "show.yaml", tmp_path / "show.log"
    show.write_text(SHOW)
    (tmp_path / "file").write_text("not a folder")
    supervisor = subprocess.Popen(
        [sys.executable, str(ROOT / "launch.py"), str(show), "--headless", "--size", "160x96", "--max-fps", "15",
         "--supervise", "--state", str(tmp_path / "file" / "s.json"), "--watchdog", "5", "--log", str(log)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    record = tmp_path / "show.supervisor.log"
    try:
        wait_for(lambda: log.exists() and "cannot keep a state file" in log.read_text(), 180, "the engine's start")
        time.sleep(12)                                     # more than twice the watchdog
        assert supervisor.poll() is None
        text = record.read_text()
        assert text.count("engine started") == 1 and "no heartbeat" not in text
        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(60) == 0
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
            supervisor.wait()
