"""The time-bounded majority search, driven by scripted and noisy synthetic routers."""

from __future__ import annotations

import math
import random
from collections.abc import Callable

from bench.experiments.capacity import SearchOutcome, SearchSettings, StepResult, StepVerdict
from bench.experiments.capacity_bounded import BoundedSearch

Measure = Callable[[float], StepResult]


def drive(measure: Measure, settings: SearchSettings, budget: int = 1000) -> SearchOutcome:
    """Run the machine; after ``budget`` steps time runs out (stop)."""
    machine = BoundedSearch(settings)
    while (rate := machine.next_rate()) is not None:
        if len(machine.steps) >= budget:
            machine.stop()
            break
        machine.record(measure(rate))
    return machine.outcome()


def threshold(limit: float, above: StepVerdict = "fail") -> Measure:
    return lambda rate: StepResult(rate, "pass" if rate <= limit else above)


def noisy(limit: float, width: float, seed: int) -> Measure:
    rng = random.Random(seed)

    def measure(rate: float) -> StepResult:
        p_pass = 1.0 / (1.0 + math.exp(min((rate - limit) / (width * limit), 50.0)))
        return StepResult(rate, "pass" if rng.random() < p_pass else "fail")

    return measure


def test_a_sharp_threshold_is_claimed_inside_an_interval_within_precision() -> None:
    """3,000/s sharp: the claim is the interval's low end, the interval holds 3,000."""
    o = drive(threshold(3000.0), SearchSettings(start_rate=250.0, max_steps=100))
    assert (o.limited_by, o.capacity) == ("router", o.low)
    assert o.low is not None and o.high is not None
    assert True is (o.low <= 3000.0 < o.high <= o.low * 1.05)
    assert o.confirmations_passed == 2


def test_an_unconfirmed_rate_is_measured_again_not_abandoned() -> None:
    """A confirmation that fails once at the top rate leaves it tied, so it is repeated
    (the step-capped search would have abandoned it and bisected below)."""
    script = {2000.0: ["pass", "fail", "pass", "pass"]}

    def measure(rate: float) -> StepResult:
        queue = script.get(rate)
        verdict = queue.pop(0) if queue else ("pass" if rate <= 2000.0 else "fail")
        return StepResult(rate, verdict)  # type: ignore[arg-type]

    o = drive(measure, SearchSettings(start_rate=1000.0, growth=2.0, precision=0.05))
    at_2000 = [s.verdict for s in o.steps if s.rate == 2000.0]
    assert at_2000 == ["pass", "fail", "pass", "pass"]
    assert (o.capacity, o.limited_by) == (2000.0, "router")


def test_time_running_out_still_leaves_an_interval() -> None:
    """Stopped after any number of steps, the outcome holds an interval [low, high]
    around a noisy 2,000/s whenever both ends exist, and claims only when settled."""
    for budget in range(2, 16):
        o = drive(noisy(2000.0, 0.03, budget), SearchSettings(start_rate=300.0), budget)
        if o.limited_by == "time":
            assert o.capacity is None
        if o.low is not None and o.high is not None:
            assert o.low < o.high
        assert (o.low, o.high) != (None, None)


def test_noisy_searches_settle_near_the_threshold() -> None:
    """Logistic noise 3% wide around 2,000/s: 95 of 100 claims within 10%."""
    claims = [
        drive(noisy(2000.0, 0.03, seed), SearchSettings(start_rate=300.0, max_steps=200)).capacity
        for seed in range(100)
    ]
    assert None not in claims
    within = sum(1 for c in claims if c is not None and abs(c - 2000.0) <= 200.0)
    assert True is (within >= 95), claims


def test_a_generator_majority_at_the_top_claims_nothing() -> None:
    """The generator, not the router, fails above 1,500/s: no claim, the interval kept."""
    o = drive(threshold(1500.0, above="generator"), SearchSettings(start_rate=500.0))
    assert (o.limited_by, o.capacity, o.low) == ("generator", None, o.low)
    assert o.low is not None and o.low <= 1500.0
    # A stalled generator at the top bounds nothing: the interval is open above.
    assert (o.high is not None, o.router_high) == (True, None)
    assert drive(threshold(3000.0), SearchSettings(start_rate=250.0)).router_high is not None


def test_nothing_passing_ends_at_the_minimum_with_an_upper_end_only() -> None:
    """Even the minimum rate fails: no low end, the lowest failure is the upper end."""
    o = drive(threshold(1.0), SearchSettings(start_rate=100.0, min_rate=10.0))
    assert (o.limited_by, o.low, o.capacity) == ("min_rate", None, None)
    assert o.high is not None and o.high <= 25.0


def test_the_top_of_a_claim_bounds_it_even_after_retried_stalls() -> None:
    """A claim's upper end is the router's failure even if stalls were retried there; with
    no claim, stalls outnumbering failures leave the interval open above."""
    steps = (StepResult(100.0, "pass"), StepResult(110.0, "fail"),
             StepResult(110.0, "generator"), StepResult(110.0, "generator"))  # fmt: skip
    claimed = SearchOutcome(100.0, 100.0, 110.0, "router", 2, 2, steps)
    assert claimed.router_high == 110.0
    timed_out = SearchOutcome(None, 100.0, 110.0, "time", 0, 0, steps)
    assert timed_out.router_high is None
