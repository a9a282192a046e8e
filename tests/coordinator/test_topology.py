"""The properties that define this design: head-of-line blocking, modules share nothing."""

from __future__ import annotations

import asyncio

import pytest

from coordinator import CoordinatorRouter
from events import BreakerPolicy, Event, RetryPolicy
from tests.coordinator.helpers import Recorder, ev, gated, sub

pytestmark = pytest.mark.anyio


async def test_slow_handler_blocks_its_module_not_others() -> None:
    """A slow fs handler delays the next fs event for another fs subscriber, not a db event."""
    router = CoordinatorRouter()
    started, gate = asyncio.Event(), asyncio.Event()
    other_fs, db = Recorder(), Recorder()
    router.subscribe(sub("slow", "fs.file.created"), gated(started, gate))
    router.subscribe(sub("other", "fs.file.modified"), other_fs)
    router.subscribe(sub("db", "db.>"), db)
    await router.start()
    router.publish(ev("fs.file.created"))
    await asyncio.wait_for(started.wait(), 5)
    router.publish(ev("fs.file.modified"))
    router.publish(ev("db.txn.committed"))
    await db.wait_for(1)
    blocked = list(other_fs.ids)
    gate.set()
    await other_fs.wait_for(1)
    await router.drain(5)
    assert (blocked, len(other_fs.ids), len(db.ids)) == ([], 1, 1)


async def test_handlers_of_one_event_run_in_turn() -> None:
    """The second subscriber of an event waits for the first one's handler to finish."""
    router = CoordinatorRouter()
    started, gate = asyncio.Event(), asyncio.Event()
    second = Recorder()
    router.subscribe(sub("first", "sys.>"), gated(started, gate))
    router.subscribe(sub("second", "sys.>"), second)
    await router.start()
    router.publish(ev("sys.metrics"))
    await asyncio.wait_for(started.wait(), 5)
    blocked = list(second.ids)
    gate.set()
    await second.wait_for(1)
    await router.drain(5)
    assert (blocked, len(second.ids)) == ([], 1)


async def test_breaker_opens_in_one_module_only() -> None:
    """An audit breaker opened by failing fs events stays closed in the database module."""
    router = CoordinatorRouter()
    delivered: list[str] = []

    async def audit(event: Event) -> None:
        if event.subject.startswith("fs."):
            raise RuntimeError("fs store down")
        delivered.append(event.id)

    breaker = BreakerPolicy(failure_ratio=1.0, min_calls=1, window=1, on_open="dead_letter")
    router.subscribe(sub("audit", ">", breaker=breaker, retry=RetryPolicy(attempts=1)), audit)
    db_events = [ev("db.txn.committed"), ev("db.txn.committed")]
    for event in (ev("fs.file.created"), ev("fs.file.created"), *db_events):
        router.publish(event)
    await router.start()
    report = await router.drain(5)
    states = {s.module: s.breaker for s in report.stats.subscriptions}
    fs_store = router.modules[ev("fs.x").category].dead_letters.entries
    assert ("open", "closed", [e.id for e in db_events]) == (
        states["filesystem"],
        states["database"],
        delivered,
    )
    assert [entry.reason for entry in fs_store] == ["failed", "breaker_open"]


async def test_dead_letters_stay_in_their_module() -> None:
    """A dead letter of the fs module is stored by the fs module and no other."""
    router = CoordinatorRouter()

    async def failing(event: Event) -> None:
        raise RuntimeError("no")

    router.subscribe(sub("audit", ">", retry=RetryPolicy(attempts=1)), failing)
    router.publish(ev("fs.file.deleted"))
    await router.start()
    await router.drain(5)
    sizes = {m.name: len(m.dead_letters) for m in router.modules.values()}
    assert {name: n for name, n in sizes.items() if n} == {"filesystem": 1}


async def test_module_runs_as_many_workers_as_its_most_concurrent_subscription() -> None:
    """A concurrency-2 subscription gives its module two workers: two events run at once."""
    router = CoordinatorRouter()
    arrived = 0
    both_in = asyncio.Event()

    async def handler(event: Event) -> None:
        nonlocal arrived
        arrived += 1
        if arrived == 2:
            both_in.set()
        await both_in.wait()

    router.subscribe(sub("a", "mcp.>", concurrency=2), handler)
    await router.start()
    router.publish(ev("mcp.context.updated"))
    router.publish(ev("mcp.context.updated"))
    await asyncio.wait_for(both_in.wait(), 5)
    report = await router.drain(5)
    workers = {m.name: m.n_workers for m in router.modules.values()}
    assert (report.stats.delivered, workers["mcp"], workers["database"]) == (2, 2, 1)
