"""The capacity and scalability commands: bad input, exit codes and the plain-words summary."""

from __future__ import annotations

import pytest

from bench.cli import main
from bench.experiments.capacity import SearchOutcome, StepResult
from bench.experiments.capacity_step import size
from bench.report.capacity_text import migration_summary


@pytest.mark.parametrize(
    "argv",
    [
        ["capacity", "--arch", "null", "--slo", "p99=50ms"],
        ["capacity", "--arch", "null", "--errors", "lots"],
        ["capacity", "--arch", "no-such-router"],
        ["capacity", "--arch", "null", "--profile", "enormous"],
        ["scalability", "--arch", "null", "--levels", "0,1"],
    ],
)
def test_bad_input_exits_2_before_any_run(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Malformed objectives, unknown names and bad levels exit 2 with an error line."""
    assert main(argv) == 2
    assert capsys.readouterr().err.startswith("error: ")


def outcome(capacity: float | None, high: float, limit: str = "router") -> SearchOutcome:
    low = capacity if capacity is not None else high / 1.5
    step = StepResult(low, "pass", latency_ns=(5e6,), throughput_dps=low * 2)
    return SearchOutcome(capacity, low, high, limit, 2, 2, (step,))  # type: ignore[arg-type]


def test_summary_compares_two_claimed_capacities() -> None:
    """Separated intervals: the summary names the larger and the ratio, and instances."""
    sizings = [
        size("coordinator", outcome(1000.0, 1050.0), peak=5000.0),
        size("daemon", outcome(3000.0, 3100.0), peak=5000.0),
    ]
    lines = migration_summary(sizings, "p99<=50ms")
    assert lines[1] == (
        "  Under p99<=50ms, daemon sustains 3,000 events/s against coordinator's 1,000 (3.00x)."
    )
    assert lines[2] == (
        "  Per instance, moving from coordinator to daemon carries 3.00x the load within the SLO."
    )
    assert "2 instance(s) of daemon against 5 of coordinator" in lines[3]


def test_summary_refuses_to_rank_a_difference_within_the_host_drift() -> None:
    """Intervals apart (3.00x) but the machine's speed moved ±250%: no difference shown."""
    sizings = [
        size("coordinator", outcome(1000.0, 1050.0), peak=5000.0),
        size("daemon", outcome(3000.0, 3100.0), peak=5000.0),
    ]
    line = migration_summary(sizings, "p99<=50ms", host_deviation=2.5)[1]
    assert line.endswith("no difference is established on this host.")


def test_summary_refuses_to_rank_overlapping_intervals() -> None:
    """Overlapping intervals: the summary says no difference is established."""
    sizings = [size("a", outcome(1000.0, 1200.0), None), size("b", outcome(1100.0, 1150.0), None)]
    assert "no difference is established" in migration_summary(sizings, "p99<=50ms")[1]


def test_summary_says_when_there_is_no_claim() -> None:
    """A generator-limited architecture is named as having no capacity claim."""
    sizings = [size("a", outcome(None, 900.0, "generator"), None)]
    assert migration_summary(sizings, "p99<=50ms")[1:] == [
        "  a has no capacity claim (generator limit): it met the SLO up to 600 events/s,"
        " a lower bound only."
    ]
