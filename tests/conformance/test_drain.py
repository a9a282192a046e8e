"""Drain: finishes what it can in time, dead-letters the rest 'drain_timeout', identity exact."""

from __future__ import annotations

import asyncio

import anyio
import pytest

from events import Event, Router, Subscription
from tests.conformance.helpers import event, until

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


class Stubborn:
    """A handler that swallows every cancellation until released, then returns."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.started = asyncio.Event()
        self.left = asyncio.Event()

    async def __call__(self, ev: Event) -> None:
        self.started.set()
        try:
            while not self.release.is_set():
                try:
                    await self.release.wait()
                except asyncio.CancelledError:
                    continue
        finally:
            self.left.set()


async def test_drain_ends_despite_a_handler_that_ignores_cancellation(router: Router) -> None:
    """Drain gives up on a worker that swallows every cancel; its delivery stays pending."""
    stubborn = Stubborn()
    router.subscribe(Subscription(service="a", pattern="fs.>", timeout_s=60.0), stubborn)
    await router.start()
    for n in range(3):
        router.publish(event(n))
    await stubborn.started.wait()
    try:
        with anyio.fail_after(30):  # a guard against a hang, not a timing assertion
            report = await router.drain(0.05)
    finally:
        # The report is a snapshot; releasing the handler now lets no task outlive the test.
        stubborn.release.set()
    stats = report.stats
    # One delivery in the stuck worker's hands, two queued behind it.
    assert (report.completed, report.abandoned_workers, report.timed_out) == (False, 1, 3)
    assert (stats.delivered, stats.dead_lettered, stats.pending) == (0, {"drain_timeout": 2}, 1)
    assert (stats.deliveries, stats.identity_errors()) == (3, [])
    # The abandoned worker was kept: released, its delivery ends once, as delivered.
    with anyio.fail_after(30):
        await stubborn.left.wait()
        await until(lambda: router.stats().pending == 0)
    after = router.stats()
    assert (after.delivered, after.dead_lettered, after.identity_errors()) == (
        1,
        {"drain_timeout": 2},
        [],
    )
