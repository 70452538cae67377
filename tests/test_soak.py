"""The soak, in CI: the demo show headless for a few minutes with its feedback effect on and a storm of
parameter changes (bench/soak.py). Memory must not climb and no GL object may be made per frame."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import ROOT

SECONDS = float(os.environ.get("LATENTSTAGE_SOAK_SECONDS", "150"))


def test_the_demo_show_runs_for_minutes_without_growing():
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "soak.py"), "--seconds", str(SECONDS),
                           "--sample-seconds", "5", "--warmup", str(min(40.0, SECONDS / 3)), "--json"],
                          capture_output=True, text=True, timeout=SECONDS + 300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["feedback_effects_drawn"] == ["feedback"]        # the effect that used to leak ran throughout
    assert result["parameter_changes"] > 50 * SECONDS               # the storm really blew
    assert result["frames_shown"] > 10 * SECONDS and result["generator_frames"] > 0
    assert result["generator_errors"] == 0 and result["stage_faults"] == []
    # Before the fix the feedback effect leaked about 40 MB/s (2,400 MB/min); allocator plateaus stay well
    # under a few MB/min.
    assert result["rss_slope_mb_per_min"] < 10.0, result["rss_samples"]
    assert result["rss_end_mb"] - result["rss_after_warmup_mb"] < 64, result["rss_samples"]
    assert result["gl_objects_max"] == result["gl_objects_after_warmup"] == result["gl_objects_end"]
