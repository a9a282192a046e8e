"""``bench load --wrk-compare``: bare, floor and daemon in alternating order, with wrk."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.http.wrk_compare import parse_sides, rotation


def test_rounds_alternate_the_order() -> None:
    """Even rounds run the sides in order, odd rounds reversed: ABC CBA ABC."""
    expected = ["bare", "floor", "daemon", "daemon", "floor", "bare", "bare", "floor", "daemon"]
    assert expected == rotation(["bare", "floor", "daemon"], 3)


def test_sides_are_put_in_canonical_order_and_checked() -> None:
    """Sides come back in bare, floor, daemon order; an unknown or repeated side is refused."""
    expected = ["floor", "daemon"]
    assert expected == parse_sides("daemon, floor")
    for text in ("bare,nginx", "bare,bare", ""):
        with pytest.raises(ValueError, match="name some of bare, floor, daemon"):
            parse_sides(text)


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (make wrk)")
def test_compare_runs_all_three_and_the_floor_delivers_what_it_accepts(tmp_path: Path) -> None:
    """One round of one second each: the JSON names every run in order with its CPU per
    request, the ratios of the three pairs, and the floor's final line shows every accepted
    event delivered."""
    out = tmp_path / "wrk.json"
    cmd = [sys.executable, "-m", "bench", "load", "--wrk-compare", "--rounds", "1"]
    proc = subprocess.run(
        [*cmd, "--wrk-duration", "1", "--json", str(out)], capture_output=True, timeout=300
    )
    expected_code = 0
    assert expected_code == proc.returncode, proc.stdout.decode() + proc.stderr.decode()
    record = json.loads(out.read_text())
    floor = json.loads(record["runs"][1]["final"][len("final ") :])
    expected = (["bare", "floor", "daemon"], ["daemon/bare", "floor/bare", "daemon/floor"], True)
    actual = (
        [r["side"] for r in record["runs"]],
        list(record["cpu_ratios"]),
        all(r["cpu_us_per_request"] > 0 for r in record["runs"]),
    )
    assert expected == actual
    assert floor["accepted"] == floor["delivered"] > 0
    assert "median: bare " in proc.stdout.decode()
