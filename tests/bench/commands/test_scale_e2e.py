"""``bench scale --processes 1,2`` end to end with a tiny load on the session's nats-server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.timeout(180)
def test_scale_runs_one_and_two_daemons_and_loses_nothing(nats_url: str, tmp_path: Path) -> None:
    """Each point's daemons deliver every event they accepted (sharing one consumer), the
    record holds both points, and tiny load is reported as load-limited (no fit from it)."""
    out = tmp_path / "scale.json"
    argv = [
        *(sys.executable, "-m", "bench", "scale", "--arch", "jetstream"),
        *("--processes", "1,2", "--duration", "0.5", "--base-rate", "200"),
        *("--max-lag-ms", "1000", "--resamples", "20", "--json", str(out)),
    ]
    env = {**os.environ, "SWITCHYARD_NATS_URL": nats_url}
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=170)
    assert done.returncode == 0, done.stdout + done.stderr
    record = json.loads(out.read_text())
    points = [
        (p["processes"], p["accepted"] > 0, p["accepted"] == p["delivered"], p["load_limited"])
        for p in record["points"]
    ]
    assert points == [(1, True, True, True), (2, True, True, True)]
    assert record["analysis"]["projections"] == []
