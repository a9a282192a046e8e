"""Failures: retries with backoff, Permanent, timeouts, and the circuit breaker's three states."""

from __future__ import annotations

import asyncio

import pytest

from events import BreakerPolicy, Event, Permanent, RetryPolicy, Router, Subscription
from tests.conformance.helpers import event, running, until

pytestmark = pytest.mark.anyio

FAST_RETRY = RetryPolicy(attempts=3, backoff_base_s=0.001, backoff_cap_s=0.002)


async def test_retries_until_success(router: Router) -> None:
    """Two failures then a success: delivered once, two retries counted."""
    calls: list[str] = []

    async def flaky(ev: Event) -> None:
        calls.append(ev.id)
        if len(calls) < 3:
            raise RuntimeError("flaky")

    router.subscribe(Subscription(service="a", pattern="fs.>", retry=FAST_RETRY), flaky)
    async with running(router):
        router.publish(event(1))
    stats = router.stats()
    assert (calls, stats.delivered, stats.retries) == (["e1"] * 3, 1, 2)
    assert stats.identity_errors() == []


async def test_exhausted_retries_dead_letter(router: Router) -> None:
    """A handler that always fails is dead-lettered 'failed' after its attempts."""
    calls: list[str] = []

    async def broken(ev: Event) -> None:
        calls.append(ev.id)
        raise RuntimeError("down")

    router.subscribe(Subscription(service="a", pattern="fs.>", retry=FAST_RETRY), broken)
    async with running(router):
        router.publish(event(1))
    stats = router.stats()
    assert (len(calls), stats.dead_lettered, stats.dead_letter_store) == (3, {"failed": 1}, 1)
    assert stats.identity_errors() == []


async def test_permanent_dead_letters_at_once(router: Router) -> None:
    """Raising Permanent skips the retries."""
    calls: list[str] = []

    async def refuses(ev: Event) -> None:
        calls.append(ev.id)
        raise Permanent("never")

    router.subscribe(Subscription(service="a", pattern="fs.>", retry=FAST_RETRY), refuses)
    async with running(router):
        router.publish(event(1))
    stats = router.stats()
    assert (calls, stats.dead_lettered, stats.retries) == (["e1"], {"permanent": 1}, 0)


async def test_timeout_counts_as_failed_attempt(router: Router) -> None:
    """A handler that hangs past timeout_s is abandoned, retried, then dead-lettered 'timeout'."""
    calls: list[str] = []

    async def hangs(ev: Event) -> None:
        calls.append(ev.id)
        await asyncio.Event().wait()

    retry = RetryPolicy(attempts=2, backoff_base_s=0.001, backoff_cap_s=0.001)
    sub = Subscription(service="a", pattern="fs.>", timeout_s=0.02, retry=retry)
    router.subscribe(sub, hangs)
    async with running(router):
        router.publish(event(1))
        await until(lambda: router.stats().pending == 0)
    stats = router.stats()
    assert (calls, stats.dead_lettered, stats.retries) == (["e1", "e1"], {"timeout": 1}, 1)
    assert stats.identity_errors() == []


async def test_breaker_opens_half_opens_and_closes(router: Router) -> None:
    """Failures open the breaker; after open_s a probe half-opens it; successful probes close it."""
    failing = True
    probe_in = asyncio.Event()
    probe_go = asyncio.Event()

    async def handler(ev: Event) -> None:
        if failing:
            raise RuntimeError("down")
        probe_in.set()
        await probe_go.wait()

    policy = BreakerPolicy(
        failure_ratio=0.5, min_calls=4, window=4, open_s=0.05, half_open_probes=1
    )
    retry = RetryPolicy(attempts=1)
    router.subscribe(
        Subscription(service="a", pattern="fs.>", retry=retry, breaker=policy), handler
    )

    def breaker() -> str:
        return router.stats().subscriptions[0].breaker

    async with running(router):
        for n in range(4):
            router.publish(event(n))
        await until(lambda: breaker() == "open")
        failing = False
        router.publish(event(10))
        await probe_in.wait()
        half_open = breaker()
        probe_go.set()
        await until(lambda: router.stats().delivered == 1)
        closed = breaker()
    stats = router.stats()
    assert (half_open, closed) == ("half_open", "closed")
    assert (stats.dead_lettered, stats.delivered, stats.identity_errors()) == ({"failed": 4}, 1, [])
