"""Drain: finishes what it can in time, dead-letters the rest 'drain_timeout', identity exact."""

from __future__ import annotations

import asyncio

import pytest

from events import Event, Router, Subscription
from tests.conformance.helpers import event

pytestmark = pytest.mark.anyio


async def test_drain_finishes_in_flight_work(router: Router) -> None:
    """Events still queued when drain starts are delivered if there is time."""
    seen: list[str] = []

    async def slowish(ev: Event) -> None:
        await asyncio.sleep(0)
        seen.append(ev.id)

    router.subscribe(Subscription(service="a", pattern="fs.>", concurrency=2), slowish)
    await router.start()
    for n in range(50):
        router.publish(event(n))
    report = await router.drain(5.0)
    stats = report.stats
    assert (report.completed, report.timed_out, stats.delivered, stats.pending) == (True, 0, 50, 0)
    assert stats.identity_errors() == []


async def test_drain_under_load_accounts_what_remained(router: Router) -> None:
    """Slow handlers past the deadline: in-flight and queued end as drain_timeout, exactly."""
    stuck = asyncio.Event()

    async def handler(ev: Event) -> None:
        if ev.seq >= 3:
            stuck.set()
            await asyncio.Event().wait()

    router.subscribe(Subscription(service="a", pattern="fs.>", timeout_s=60.0), handler)
    await router.start()
    for n in range(10):
        router.publish(event(n))
    await stuck.wait()
    report = await router.drain(0.05)
    stats = report.stats
    assert (report.completed, report.timed_out) == (False, 7)
    assert (stats.delivered, stats.dead_lettered, stats.pending) == (3, {"drain_timeout": 7}, 0)
    assert (stats.deliveries, stats.identity_errors()) == (10, [])


async def test_drain_with_many_subscriptions_and_concurrency(router: Router) -> None:
    """Several pools, some stuck: every delivery ends exactly once and nothing stays pending.

    How many of the fast deliveries finish depends on the topology (a router may
    run them behind the stuck ones), so only the accounting is asserted.
    """
    started = asyncio.Event()

    async def stuck(ev: Event) -> None:
        started.set()
        await asyncio.Event().wait()

    async def fast(ev: Event) -> None:
        return None

    router.subscribe(Subscription(service="stuck", pattern="fs.>", concurrency=3), stuck)
    router.subscribe(Subscription(service="fast", pattern=">", concurrency=2), fast)
    await router.start()
    for n in range(40):
        router.publish(event(n))
    await started.wait()
    report = await router.drain(0.05)
    stats = report.stats
    gave_up = stats.dead_lettered.get("drain_timeout", 0)
    assert (stats.deliveries, stats.pending, stats.identity_errors()) == (80, 0, [])
    assert (stats.delivered + gave_up, report.timed_out, report.completed) == (80, gave_up, False)
    assert gave_up >= 40
