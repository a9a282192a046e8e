"""Repeated looks: the Pocock boundary, the look plan and when another block is run."""

from __future__ import annotations

import pytest

from bench.analysis.sequential import Decision, blocks_that_fit, decide, plan, pocock_boundary
from bench.schema import Label, Ratio


@pytest.mark.parametrize(("looks", "tabulated"), [(2, 2.178), (3, 2.289), (5, 2.413)])
def test_equal_spacing_reproduces_the_tabulated_pocock_constants(
    looks: int, tabulated: float
) -> None:
    """Equally spaced looks give Pocock's constants (Jennison & Turnbull, table 2.1)."""
    assert pocock_boundary(list(range(1, looks + 1))) == pytest.approx(tabulated, abs=0.015)


def test_one_look_is_the_plain_95_percent_interval() -> None:
    """A single planned look needs no correction: its level stays 95%."""
    one = plan(5, 5, blocks_that_fit=3)
    assert (one.runs, round(one.boundary, 3), round(one.confidence, 6)) == ((5,), 1.96, 0.95)


def test_the_plan_takes_the_fewer_of_the_cap_and_the_blocks_that_fit() -> None:
    """Looks every 2 runs from the first, as far as both the run cap and the time allow."""
    assert plan(5, 9, blocks_that_fit=1).runs == (5, 7)
    assert plan(5, 9, blocks_that_fit=10).runs == (5, 7, 9)
    assert plan(4, 5, blocks_that_fit=10).runs == (4,)


def test_more_looks_mean_a_stricter_level_per_look() -> None:
    """Each look's interval widens with the number of planned looks."""
    levels = [plan(5, 5 + 2 * k, blocks_that_fit=k).confidence for k in range(4)]
    assert levels == sorted(levels)
    assert 0.966 < levels[1] < 0.969


def test_blocks_that_fit() -> None:
    """Whole blocks within the time left; none when the time is spent."""
    assert [blocks_that_fit(50.0, 20.0), blocks_that_fit(-1.0, 20.0)] == [2, 0]
    with pytest.raises(ValueError):
        blocks_that_fit(10.0, 0.0)


@pytest.mark.parametrize("runs", [[], [3, 3], [0, 2]])
def test_look_schedules_must_increase(runs: list[int]) -> None:
    """A look schedule that does not grow is refused."""
    with pytest.raises(ValueError):
        pocock_boundary(runs)


def _ratio(metric: str, verdict: Label) -> Ratio:
    return Ratio(
        metric=metric, unit="ms", higher_is_better=False, baseline="a", arch="b",
        baseline_mean=1.0, arch_mean=1.0, ratio=1.0, low=0.5, high=1.5, confidence=0.95,
        n_baseline=5, n_arch=5, verdict=verdict, runs_needed=None, explanation="",
    )  # fmt: skip


def test_a_block_is_added_while_a_headline_metric_is_open_and_time_allows() -> None:
    """p99 open, a block of 20 s with 30 s left: one more block; the reason names p99."""
    ratios = [_ratio("response_p50", "better"), _ratio("response_p99", "inconclusive")]
    two = plan(5, 9, blocks_that_fit=2)
    assert decide(ratios, 0, two, 30.0, 20.0) == Decision(True, "response_p99 inconclusive")


def test_it_stops_when_settled_out_of_time_or_at_the_last_look() -> None:
    """Every reason to stop is said in words."""
    two = plan(5, 9, blocks_that_fit=2)
    settled = [_ratio("response_p50", "better"), _ratio("dispatch_lag_p99", "inconclusive")]
    open_ = [_ratio("response_p99", "inconclusive")]
    assert decide(settled, 0, two, 99.0, 1.0).reason.startswith("every headline metric settled")
    assert "overrun the time budget" in decide(open_, 0, two, 10.0, 20.0).reason
    assert "after the last planned look (3)" in decide(open_, 2, two, 99.0, 1.0).reason
    assert decide(open_, 2, two, 99.0, 1.0).more is False
