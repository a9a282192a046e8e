"""Backoff and the breaker state machine, with an injected clock."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from events import Breaker, BreakerPolicy, RetryPolicy, backoff_ceiling, backoff_delay


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_backoff_ceiling_doubles_then_caps() -> None:
    """The ceiling is base * 2^(n-1), never above the cap."""
    policy = RetryPolicy(attempts=10, backoff_base_s=0.01, backoff_cap_s=0.05)
    expected = [0.01, 0.02, 0.04, 0.05, 0.05]
    assert [backoff_ceiling(policy, n) for n in range(1, 6)] == pytest.approx(expected)


def test_backoff_delay_is_full_jitter() -> None:
    """The delay is drawn uniformly over [0, ceiling]."""
    policy = RetryPolicy(attempts=5, backoff_base_s=0.01, backoff_cap_s=1.0)
    calls: list[tuple[float, float]] = []

    def uniform(lo: float, hi: float) -> float:
        calls.append((lo, hi))
        return hi / 2

    assert backoff_delay(policy, 3, uniform) == pytest.approx(0.02)
    assert calls == [(0.0, pytest.approx(0.04))]


def test_breaker_opens_at_ratio() -> None:
    """With min_calls reached and the failure ratio met, the breaker opens."""
    clock = FakeClock()
    breaker = Breaker(BreakerPolicy(failure_ratio=0.5, min_calls=4, window=10), clock)
    for outcome in (True, False, True):
        assert breaker.allow()
        breaker.on_success() if outcome else breaker.on_failure()
    assert breaker.state == "closed"
    breaker.on_failure()  # 2 failures of 4 calls
    assert (breaker.state, breaker.allow()) == ("open", False)


def test_breaker_half_opens_then_closes_after_probes() -> None:
    """After open_s the breaker lets probes through; all succeeding closes it."""
    clock = FakeClock()
    policy = BreakerPolicy(failure_ratio=1.0, min_calls=1, window=1, open_s=2.0, half_open_probes=2)
    breaker = Breaker(policy, clock)
    breaker.on_failure()
    assert breaker.state == "open"
    clock.now += 1.0
    assert (breaker.allow(), breaker.retry_after()) == (False, pytest.approx(1.0))
    clock.now += 1.0
    assert [breaker.allow(), breaker.allow(), breaker.allow()] == [True, True, False]
    assert breaker.state == "half_open"
    breaker.on_success()
    breaker.on_success()
    assert breaker.state == "closed"


def test_breaker_reopens_on_failed_probe() -> None:
    """One failed probe in half-open reopens the breaker."""
    clock = FakeClock()
    policy = BreakerPolicy(failure_ratio=1.0, min_calls=1, window=1, open_s=1.0)
    breaker = Breaker(policy, clock)
    breaker.on_failure()
    clock.now += 1.5
    assert breaker.allow()
    breaker.on_failure()
    assert (breaker.state, breaker.opened) == ("open", 2)


def test_window_resets_old_failures() -> None:
    """Failures from an earlier tumbling window do not count toward opening."""
    clock = FakeClock()
    breaker = Breaker(BreakerPolicy(failure_ratio=0.5, min_calls=4, window=4), clock)
    breaker.on_failure()
    for _ in range(3):
        breaker.on_success()
    breaker.on_failure()
    assert breaker.state == "closed"


@settings(max_examples=300, deadline=None)
@given(
    outcomes=st.lists(st.sampled_from(["ok", "ok", "ok", "fail", "tick"]), max_size=80),
    min_calls=st.integers(1, 5),
    extra=st.integers(0, 6),
    probes=st.integers(1, 3),
)
def test_deferred_closed_successes_count_like_on_success(
    outcomes: list[str], min_calls: int, extra: int, probes: int
) -> None:
    """Adding successes to closed_successes while closed ends in the same states as on_success().

    ``tick`` moves the clock past ``open_s``: an open breaker half-opens at the next call.
    """
    policy = BreakerPolicy(
        failure_ratio=0.5,
        min_calls=min_calls,
        window=min_calls + extra,
        open_s=1.0,
        half_open_probes=probes,
    )
    clock = FakeClock()
    eager, lazy = Breaker(policy, clock), Breaker(policy, clock)
    expected: list[tuple[str, int, bool]] = []
    actual: list[tuple[str, int, bool]] = []
    for outcome in outcomes:
        if outcome == "tick":
            clock.now += 1.5
            continue
        for breaker, seen in ((eager, expected), (lazy, actual)):
            allowed = breaker.allow()
            if allowed and outcome == "fail":
                breaker.on_failure()
            elif allowed and breaker is lazy and breaker.state == "closed":
                breaker.closed_successes += 1
            elif allowed:
                breaker.on_success()
            seen.append((breaker.state, breaker.opened, allowed))
    lazy._fold()
    assert expected == actual
    assert (eager._calls, eager._failures) == (lazy._calls, lazy._failures)
