"""Simulated handlers: failure rate, timeouts and determinism (run on asyncio and uvloop)."""

from __future__ import annotations

import time

import anyio
import pytest
from scipy import stats

from events import Category, Event, Subscription
from events.errors import ConfigError
from workload import ServiceModel, SimulatedFailure
from workload.services import Outage, ServiceSpec

pytestmark = pytest.mark.anyio

EVENT = Event(id="1", subject="db.txn.committed", category=Category.DATABASE, source="t")


def spec(model: ServiceModel, timeout_s: float = 1.0) -> ServiceSpec:
    return ServiceSpec("svc", Subscription("svc", ">", timeout_s=timeout_s), model, 1.0)


async def outcomes(model: ServiceModel, seed: int, calls: int) -> list[bool]:
    """True where the call failed."""
    handler = spec(model).make_handler(seed)
    failed = []
    for _ in range(calls):
        try:
            await handler(EVENT)
        except SimulatedFailure:
            failed.append(True)
        else:
            failed.append(False)
    return failed


async def test_failure_rate_is_the_configured_one() -> None:
    """The share of failing calls is consistent with failure_rate (binomial test)."""
    failed = await outcomes(ServiceModel(cpu_us=1.0, failure_rate=0.1), seed=3, calls=4000)
    result = stats.binomtest(sum(failed), len(failed), 0.1)
    assert bool(result.pvalue > 1e-4), result


async def test_same_seed_same_outcomes() -> None:
    """A handler's draws are seeded: the same seed fails the same calls."""
    model = ServiceModel(failure_rate=0.3)
    a = await outcomes(model, seed=5, calls=200)
    b = await outcomes(model, seed=5, calls=200)
    c = await outcomes(model, seed=6, calls=200)
    assert (a, True) == (b, a != c)


async def test_timeout_call_outlives_the_subscription_timeout() -> None:
    """With timeout_rate 1 a call is still running when the subscription timeout expires."""
    handler = spec(ServiceModel(timeout_rate=1.0), timeout_s=0.02).make_handler(1)
    with anyio.move_on_after(0.02) as scope:
        await handler(EVENT)
    assert scope.cancelled_caught


async def test_io_call_completes() -> None:
    """A call modelling I/O waits and then returns normally."""
    handler = spec(ServiceModel(io_ms_min=1.0, io_ms_max=2.0)).make_handler(1)
    with anyio.fail_after(5.0):
        assert None is await handler(EVENT)


async def test_on_done_is_called_only_when_the_call_returns() -> None:
    """``on_done`` sees each event whose call returned, and none whose call raised."""
    done: list[str] = []
    handler = spec(ServiceModel(failure_rate=0.5)).make_handler(7, lambda e: done.append(e.id))
    returned = 0
    for _ in range(100):
        try:
            await handler(EVENT)
        except SimulatedFailure:
            continue
        returned += 1
    assert 0 < returned < 100
    assert done == [EVENT.id] * returned


def test_an_outage_is_down_only_inside_its_windows_after_it_begins() -> None:
    """Before begin() the service is up; after, down exactly inside a window."""
    outage = Outage([(0.5, 1.0), (5.0, 1.0)])
    before = outage.down()
    outage.begin(time.perf_counter_ns() - 1_000_000_000)  # the run began 1 s ago
    inside = outage.down()
    outage.begin(time.perf_counter_ns() - 3_000_000_000)  # ... or 3 s ago: between windows
    between = outage.down()
    assert (before, inside, between) == (False, True, False)


@pytest.mark.parametrize("window", [(-1.0, 1.0), (0.0, 0.0), (1.0, float("nan"))])
def test_a_bad_outage_window_is_refused(window: tuple[float, float]) -> None:
    """A window starting before 0 or lasting no time is a configuration error."""
    with pytest.raises(ConfigError, match="an outage must"):
        Outage([window])


async def test_a_service_that_is_down_fails_every_call_and_records_nothing() -> None:
    """While down, every call raises at once and none is recorded; once up, calls succeed."""
    done: list[str] = []
    down = [True]
    handler = spec(ServiceModel(cpu_us=1.0)).make_handler(1, lambda e: done.append(e.id),
                                                          lambda: down[0])  # fmt: skip
    failures = 0
    for _ in range(5):
        try:
            await handler(EVENT)
        except SimulatedFailure:
            failures += 1
    down[0] = False
    await handler(EVENT)
    assert (failures, done) == (5, ["1"])
