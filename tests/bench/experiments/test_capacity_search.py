"""The pure capacity search, driven by synthetic measure functions with known answers."""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import pytest

from bench.experiments.capacity import CapacitySearch, SearchSettings, StepResult, search

Measure = Callable[[float], StepResult]


def threshold(limit: float) -> Measure:
    """Every rate up to ``limit`` passes, every rate above fails."""

    def measure(rate: float) -> StepResult:
        return StepResult(rate, "pass" if rate <= limit else "fail")

    return measure


def noisy(limit: float, width: float, seed: int) -> Measure:
    """Pass with logistic probability around ``limit`` (``width`` is relative)."""
    rng = random.Random(seed)

    def measure(rate: float) -> StepResult:
        z = (rate - limit) / (width * limit)
        p_pass = 1.0 / (1.0 + math.exp(min(z, 50.0)))
        return StepResult(rate, "pass" if rng.random() < p_pass else "fail")

    return measure


def test_finds_a_sharp_threshold_within_precision() -> None:
    """A sharp threshold of 3,000/s lies inside the final bracket, which is 5% wide at most."""
    outcome = search(threshold(3000.0), SearchSettings(start_rate=250.0, precision=0.05))
    assert outcome.limited_by == "router"
    assert outcome.capacity is not None and outcome.high is not None
    assert True is (outcome.capacity <= 3000.0 < outcome.high)
    assert True is (outcome.high / outcome.capacity <= 1.05)
    assert (outcome.confirmations_passed, outcome.confirmations_run) == (2, 2)


def test_finds_a_noisy_threshold_within_ten_percent() -> None:
    """Pass/fail noisy near 2,000/s (logistic, 2% wide): within 10% in >= 95 of 100 searches."""
    capacities = []
    for seed in range(100):
        outcome = search(noisy(2000.0, 0.02, seed), SearchSettings(start_rate=300.0))
        assert outcome.capacity is not None
        capacities.append(outcome.capacity)
    within = sum(1 for c in capacities if abs(c - 2000.0) / 2000.0 <= 0.10)
    assert True is (within >= 95), f"only {within} of 100 within 10%"
    assert [c for c in capacities if c > 2000.0 * 1.10] == []


def test_first_step_failing_descends() -> None:
    """When the start rate already fails, the search divides down and still brackets 400/s."""
    outcome = search(threshold(400.0), SearchSettings(start_rate=5000.0))
    assert outcome.capacity is not None and outcome.high is not None
    assert True is (outcome.capacity <= 400.0 < outcome.high)
    assert outcome.steps[0].rate == 5000.0


def test_never_failing_stops_at_max_rate_without_a_claim() -> None:
    """No failure up to --max-rate: no capacity claimed, only the highest rate shown."""
    outcome = search(threshold(1e9), SearchSettings(start_rate=1000.0, max_rate=8000.0))
    assert (outcome.limited_by, outcome.capacity, outcome.low) == ("max_rate", None, 8000.0)


def test_nothing_passing_stops_at_min_rate() -> None:
    """When even the minimum rate fails, the outcome says so and claims nothing."""
    outcome = search(threshold(1.0), SearchSettings(start_rate=100.0, min_rate=10.0))
    assert (outcome.limited_by, outcome.capacity, outcome.low) == ("min_rate", None, None)


def test_generator_limit_claims_no_capacity() -> None:
    """The generator falling behind above 1,500/s (router fine to 5,000): no claim, low kept."""

    def measure(rate: float) -> StepResult:
        return StepResult(rate, "pass" if rate <= 1500.0 else "generator")

    outcome = search(measure, SearchSettings(start_rate=500.0))
    assert (outcome.limited_by, outcome.capacity) == ("generator", None)
    assert outcome.low is not None and outcome.high is not None
    assert True is (outcome.low <= 1500.0 < outcome.high)


def test_transient_generator_stall_is_measured_again() -> None:
    """One spoiled step is re-measured at the same rate, and its pass then counts."""
    spoiled = {1000.0}

    def measure(rate: float) -> StepResult:
        if rate in spoiled:
            spoiled.discard(rate)
            return StepResult(rate, "generator")
        return StepResult(rate, "pass" if rate <= 3000.0 else "fail")

    outcome = search(measure, SearchSettings(start_rate=500.0, generator_retries=1))
    assert [s.rate for s in outcome.steps[:4]] == [500.0, 1000.0, 1000.0, 2000.0]
    assert outcome.limited_by == "router"


def test_noisy_failure_closing_the_bracket_is_rechecked() -> None:
    """A one-off failure at 2,000/s (true limit 3,000/s) is rechecked and the search moves on."""
    failed_once: set[float] = set()

    def measure(rate: float) -> StepResult:
        if rate == 2000.0 and rate not in failed_once:
            failed_once.add(rate)
            return StepResult(rate, "fail")
        return StepResult(rate, "pass" if rate <= 3000.0 else "fail")

    outcome = search(measure, SearchSettings(start_rate=500.0))
    assert outcome.capacity is not None and outcome.high is not None
    assert True is (outcome.capacity <= 3000.0 < outcome.high)


def test_failed_confirmation_searches_again_below() -> None:
    """A lucky pass that fails its confirmation is not reported as the capacity."""
    seen: dict[float, int] = {}

    def measure(rate: float) -> StepResult:
        seen[rate] = seen.get(rate, 0) + 1
        lucky = rate <= 2100.0 and seen[rate] == 1
        return StepResult(rate, "pass" if rate <= 1800.0 or lucky else "fail")

    outcome = search(measure, SearchSettings(start_rate=500.0, precision=0.05))
    assert outcome.capacity is not None
    assert True is (outcome.capacity <= 1800.0)
    assert True is (outcome.capacity >= 1800.0 / 1.05**2)


def test_generator_stall_at_a_confirmation_keeps_earlier_passes() -> None:
    """A pass at a rate the generator once spoiled still bounds the search from below."""
    seen: dict[float, int] = {}

    def measure(rate: float) -> StepResult:
        seen[rate] = seen.get(rate, 0) + 1
        if rate == 300.0:
            return StepResult(rate, "generator" if seen[rate] == 1 else "pass")
        if rate <= 360.0 and seen[rate] == 1:
            return StepResult(rate, "pass")
        return StepResult(rate, "generator")

    outcome = search(measure, SearchSettings(start_rate=300.0, generator_retries=1))
    assert min(s.rate for s in outcome.steps) == 300.0
    assert (outcome.limited_by, outcome.low) == ("generator", 300.0)


def test_record_after_the_end_is_an_error() -> None:
    """Recording a step once the search is over raises instead of corrupting it."""
    machine = CapacitySearch(SearchSettings(start_rate=100.0, max_rate=100.0))
    machine.record(StepResult(100.0, "pass"))
    assert None is machine.next_rate()
    with pytest.raises(RuntimeError, match="over"):
        machine.record(StepResult(100.0, "pass"))


def test_step_budget_ends_the_search() -> None:
    """max_steps bounds the number of measurements, and the outcome says the budget ran out."""
    outcome = search(threshold(3000.0), SearchSettings(start_rate=100.0, max_steps=3))
    assert (len(outcome.steps), outcome.limited_by, outcome.capacity) == (3, "steps", None)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"start_rate": 0.0},
        {"growth": 1.0},
        {"precision": 0.0},
        {"precision": 1.5},
        {"confirmations": -1},
        {"min_rate": 500.0, "start_rate": 100.0},
    ],
)
def test_bad_settings_are_refused(kwargs: dict[str, float]) -> None:
    """Impossible settings raise ValueError naming the problem."""
    with pytest.raises(ValueError, match=r"must|need"):
        SearchSettings(**kwargs)  # type: ignore[arg-type]
