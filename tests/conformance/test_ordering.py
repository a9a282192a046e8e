"""Ordering and parallelism: FIFO at concurrency 1; concurrency N runs N handlers at once."""

from __future__ import annotations

import asyncio

import pytest

from events import Event, Router, Subscription
from tests.conformance.helpers import event, running

pytestmark = pytest.mark.anyio


async def test_fifo_per_subscription_at_concurrency_one(router: Router) -> None:
    """One worker delivers in publish order, even when handlers yield."""
    seen: list[int] = []

    async def handler(ev: Event) -> None:
        if ev.seq % 7 == 0:
            await asyncio.sleep(0)
        seen.append(ev.seq)

    router.subscribe(Subscription(service="a", pattern="fs.>"), handler)
    async with running(router):
        for n in range(300):
            router.publish(event(n))
            if n % 50 == 0:
                await asyncio.sleep(0)
    assert list(range(300)) == seen


@pytest.mark.parametrize("workers", [2, 4])
async def test_concurrency_runs_n_handlers_at_once(router: Router, workers: int) -> None:
    """N handlers wait at a barrier that only opens when the N-th arrives: all N ran at once."""
    arrived = 0
    all_in = asyncio.Event()

    async def handler(ev: Event) -> None:
        nonlocal arrived
        arrived += 1
        if arrived == workers:
            all_in.set()
        await all_in.wait()

    router.subscribe(Subscription(service="a", pattern="fs.>", concurrency=workers), handler)
    async with running(router):
        for n in range(workers):
            router.publish(event(n))
        await asyncio.wait_for(all_in.wait(), 5.0)
    stats = router.stats()
    assert (workers, workers, []) == (arrived, stats.delivered, stats.identity_errors())
