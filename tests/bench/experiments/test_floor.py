"""The harness floor: its verdict on fixed runs, and one short run end to end."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from bench.cli import main
from bench.experiments import floor


def _run(p99_ms: float, delivered_all: bool = True) -> floor.FloorRun:
    return floor.FloorRun(
        offered_eps=200_000.0, completed_dps=200_000.0, lag_p99_ns=int(p99_ms * 1e6),
        lag_p999_ns=0, lag_max_ns=0, publish_us_per_event=2.0, busy_share=0.4,
        cpu_us_per_event=4.9, steal_s=0.0, delivered_all=delivered_all,
    )  # fmt: skip


def test_the_median_run_decides() -> None:
    """Two of three runs under 1 ms: the median is under, so the objective is met."""
    actual = floor.verdict([_run(0.4), _run(2.5), _run(0.7)])
    assert (actual.runs, actual.runs_met, actual.median_p99_ns, actual.met) == (
        3, 2, 700_000.0, True
    )  # fmt: skip


def test_a_median_over_the_objective_is_not_met() -> None:
    """One good run among three bad ones does not carry the verdict."""
    actual = floor.verdict([_run(0.4), _run(2.5), _run(1.7), _run(3.0)])
    assert (actual.runs_met, actual.met) == (1, False)


def test_a_run_that_lost_deliveries_fails_the_floor() -> None:
    """Fast but lossy is no floor at all: the verdict is not met."""
    actual = floor.verdict([_run(0.1), _run(0.1, delivered_all=False), _run(0.1)])
    assert (actual.runs_met, actual.met) == (2, False)


def test_no_runs_is_an_error() -> None:
    """Judging nothing is a programming error, not a verdict."""
    with pytest.raises(ValueError, match="no floor runs"):
        floor.verdict([])


@pytest.mark.parametrize(
    "argv", [["--runs", "0"], ["--rate", "0"], ["--duration", "-1"], ["--objective-ms", "0"]]
)
def test_bad_input_exits_2_before_any_run(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Each bad option is one clear line and exit code 2."""
    assert main(["floor", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert len(err.strip().splitlines()) == 1


def test_a_short_floor_run_end_to_end(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """One real run in a fresh process: a table row with every event completed, a verdict,
    and a JSON record that decodes.

    The objective is set far out of reach of any stall so the exit code is deterministic.
    """
    path = tmp_path / "floor.json"
    code = main(["floor", "--rate", "2000", "--duration", "0.3", "--runs", "1",
                 "--objective-ms", "10000", "--json", str(path)])  # fmt: skip
    out = capsys.readouterr().out
    report = msgspec.json.decode(path.read_bytes(), type=floor.FloorReport)
    assert (report.schema, len(report.runs), report.verdict.met) == (floor.FLOOR_SCHEMA, 1, True)
    assert report.runs[0].delivered_all
    assert code == 0
    row = next(line for line in out.splitlines() if line.strip().startswith("1 "))
    assert "LOST" not in row
    assert "in 1 of 1 runs" in out
    assert "objective MET" in out
