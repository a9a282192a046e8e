"""Drain: intake stops, work finishes, what cannot finish is accounted as drain_timeout."""

from __future__ import annotations

import asyncio

import pytest

from coordinator import CoordinatorConfig, CoordinatorRouter
from events import Event, Permanent, RetryPolicy
from tests.coordinator.helpers import Recorder, ev, gated, sub

pytestmark = pytest.mark.anyio


async def test_drain_finishes_everything_and_identity_holds() -> None:
    """A drain with time to spare delivers everything and the identity holds exactly."""
    router = CoordinatorRouter()
    calls = 0

    async def sometimes(event: Event) -> None:
        nonlocal calls
        calls += 1
        if calls % 3 == 0:
            raise Permanent("bad")

    router.subscribe(sub("audit", ">"), Recorder())
    router.subscribe(sub("flaky", "db.>", retry=RetryPolicy(attempts=1)), sometimes)
    router.subscribe(sub("fs", "fs.file.*"), Recorder())
    await router.start()
    subjects = ["fs.file.created", "db.txn.committed", "sys.metrics", "svc.a.health", "nope.x"]
    for i in range(60):
        router.publish(ev(subjects[i % len(subjects)]))
    report = await router.drain(5)
    stats = report.stats
    # audit ('>') matches all 60, even 'nope.x' in the system module; flaky and fs 12 each.
    assert (
        report.completed,
        report.timed_out,
        stats.identity_errors(),
        stats.pending,
    ) == (True, 0, [], 0)
    assert (
        stats.accepted,
        stats.deliveries,
        stats.dead_lettered,
    ) == (60, 12 * 5 + 12 + 12, {"permanent": 4})


async def test_drain_timeout_accounts_in_flight_and_queued() -> None:
    """Undelivered deliveries (in flight, behind the stuck handler, queued) end as drain_timeout."""
    router = CoordinatorRouter()
    started, gate = asyncio.Event(), asyncio.Event()
    router.subscribe(sub("stuck", "fs.>"), gated(started, gate))
    router.subscribe(sub("next", "fs.>"), Recorder())
    await router.start()
    for _ in range(3):
        router.publish(ev("fs.file.created"))
    await asyncio.wait_for(started.wait(), 5)
    report = await router.drain(0.02)
    stats = report.stats
    assert (
        report.completed,
        report.timed_out,
        stats.dead_lettered,
    ) == (False, 6, {"drain_timeout": 6})
    assert (stats.identity_errors(), stats.pending) == ([], 0)


async def test_drain_before_start_delivers_buffered() -> None:
    """Events buffered before start are delivered by drain, which starts the workers."""
    router = CoordinatorRouter(CoordinatorConfig(workers=2))
    rec = Recorder()
    router.subscribe(sub("a", "mcp.>"), rec)
    for _ in range(5):
        router.publish(ev("mcp.context.updated"))
    report = await router.drain(5)
    assert (len(rec.ids), report.completed, report.stats.identity_errors()) == (5, True, [])


async def test_drain_twice_returns_same_report() -> None:
    """A second drain answers the first one's report."""
    router = CoordinatorRouter()
    await router.start()
    first = await router.drain(1)
    assert first is await router.drain(1)


async def test_drain_timeout_with_displacing_copies() -> None:
    """Events queued with a displacing copy are accounted at drain like any other."""
    router = CoordinatorRouter()
    started, gate = asyncio.Event(), asyncio.Event()
    router.subscribe(sub("stuck", "db.>"), gated(started, gate))
    router.subscribe(sub("lossy", "db.>", mailbox=2, overflow="drop_oldest"), Recorder())
    await router.start()
    for _ in range(4):
        router.publish(ev("db.txn.committed"))
    await asyncio.wait_for(started.wait(), 5)
    report = await router.drain(0.02)
    stats = report.stats
    # All four are published before the worker runs: lossy keeps events 3 and 4 (two
    # dropped). In hand: stuck on event 1; queued: stuck x3, lossy x2.
    assert (stats.dead_lettered, stats.dropped, report.timed_out) == (
        {"drain_timeout": 6},
        {"overflow": 2},
        6,
    )
    assert (stats.identity_errors(), stats.pending) == ([], 0)


async def test_abandoned_worker_keeps_the_copies_behind_it_pending() -> None:
    """A handler deaf to cancel: drain returns; its copy and the one behind it stay pending."""
    router = CoordinatorRouter()
    started, release = asyncio.Event(), asyncio.Event()

    async def stubborn(event: Event) -> None:
        started.set()
        while not release.is_set():
            try:
                await release.wait()
            except asyncio.CancelledError:
                continue

    after = Recorder()
    router.subscribe(sub("stubborn", "fs.>", timeout_s=60.0), stubborn)
    router.subscribe(sub("after", "fs.>"), after)
    await router.start()
    for _ in range(2):
        router.publish(ev("fs.file.created"))
    await asyncio.wait_for(started.wait(), 5)
    try:
        report = await asyncio.wait_for(router.drain(0.02), 30)
    finally:
        # The report is a snapshot; releasing the handler now lets no task outlive the test.
        release.set()
    stats = report.stats
    # In hand: the stubborn copy of event 1 and 'after' behind it; queued: both copies of event 2.
    assert (report.completed, report.abandoned_workers, report.timed_out) == (False, 1, 4)
    assert (stats.dead_lettered, stats.pending, stats.identity_errors()) == (
        {"drain_timeout": 2},
        2,
        [],
    )
    # Released, the kept worker finishes the event it holds: each copy ends exactly once.
    await after.wait_for(1)
    settled = router.stats()
    assert (settled.delivered, settled.pending, settled.identity_errors()) == (2, 0, [])
