"""The stall probe: gap summaries on known samples, and a probe that cannot stall."""

from __future__ import annotations

import pytest

from bench.cli import main
from bench.host import stall_probe


def test_summary_keeps_gaps_over_the_threshold_largest_first() -> None:
    """Only gaps over the threshold count; the largest come first."""
    actual = stall_probe.summarise([50, 300, 120, 90, 5_000], seconds=1.0, threshold_ns=100, top=2)
    assert actual == stall_probe.Gaps(1.0, 100, 3, 5_420, (5_000, 300))


def test_a_threshold_no_gap_can_reach_reports_none() -> None:
    """With a threshold far beyond the probe's length, nothing is reported."""
    actual = stall_probe.probe(seconds=0.01, threshold_ns=10**12, append=True)
    assert (actual.count, actual.total_ns, actual.largest_ns) == (0, 0, ())


def test_the_command_prints_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    """``bench stall-probe`` probes and prints a single summary line."""
    assert main(["stall-probe", "--seconds", "0.01", "--gap-us", "1e9", "--pin-mmap"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    assert out[0].startswith("0 gaps over")


def test_bad_options_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    """A non-positive duration is one error line and exit code 2."""
    assert main(["stall-probe", "--seconds", "0"]) == 2
    assert capsys.readouterr().err.startswith("error: ")
