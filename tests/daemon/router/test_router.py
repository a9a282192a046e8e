"""CentralRouter specifics: buffering before start, cache invalidation, group choice, priority."""

from __future__ import annotations

import asyncio

import pytest

from daemon import CentralRouter, RouterConfig
from events import Ack, ConfigError, Router, Subscription
from tests.conformance.helpers import Recorder, event, running

pytestmark = pytest.mark.anyio


def test_is_a_router() -> None:
    """CentralRouter satisfies the events.Router protocol."""
    assert isinstance(CentralRouter(), Router)


async def test_accepts_and_buffers_before_start() -> None:
    """Events published before start wait in their mailbox and are delivered once it starts."""
    router = CentralRouter()
    rec = Recorder()
    router.subscribe(Subscription(service="a", pattern="fs.>"), rec)
    ack = router.publish(event(1))
    depth = router.stats().subscriptions[0].depth
    async with running(router):
        pass
    assert (Ack.accepted(), 1, ["e1"]) == (ack, depth, rec.ids)


async def test_subscribe_invalidates_the_route_cache() -> None:
    """A subscription added after a subject was routed receives that subject's next events."""
    router = CentralRouter()
    first, late = Recorder(), Recorder()
    router.subscribe(Subscription(service="first", pattern="fs.>"), first)
    async with running(router):
        router.publish(event(1))
        router.subscribe(Subscription(service="late", pattern="fs.file.*"), late)
        router.publish(event(2))
    assert (first.ids, late.ids) == (["e1", "e2"], ["e2"])


async def test_queue_group_picks_least_pending_member() -> None:
    """Each event goes to the group member with the fewest pending events (earliest on a tie)."""
    router = CentralRouter()
    recs = [Recorder() for _ in range(2)]
    for i, rec in enumerate(recs):
        router.subscribe(Subscription(service=f"m{i}", pattern="fs.>", queue_group="g"), rec)
    # Not started yet: every event stays pending, so the choice is deterministic.
    for n in range(5):
        router.publish(event(n))
    depths = [s.depth for s in router.stats().subscriptions]
    async with running(router):
        pass
    assert (depths, recs[0].ids, recs[1].ids) == ([3, 2], ["e0", "e2", "e4"], ["e1", "e3"])


async def test_priority_order_within_a_mailbox() -> None:
    """Buffered events are delivered highest priority first, FIFO within a priority."""
    router = CentralRouter()
    rec = Recorder()
    router.subscribe(Subscription(service="a", pattern="fs.>"), rec)
    for n, priority in enumerate([1, 0, 3, 1, 2]):
        router.publish(event(n, priority=priority))
    async with running(router):
        pass
    assert rec.ids == ["e2", "e4", "e0", "e3", "e1"]


async def test_bytes_bound_rejects_whole_events() -> None:
    """With 1 KiB payloads and a 2.5 KiB bound, the third buffered event is refused."""
    router = CentralRouter()
    router.subscribe(Subscription(service="a", pattern="fs.>", mailbox_bytes=2560), Recorder())
    acks = [router.publish(event(n, payload=bytes(1024))) for n in range(3)]
    async with running(router):
        pass
    stats = router.stats()
    assert [Ack.accepted(), Ack.accepted(), Ack.rejected("overloaded")] == acks
    assert (stats.delivered, stats.identity_errors()) == (2, [])


async def test_out_of_range_priority_is_invalid() -> None:
    """Priorities outside 0..3 are refused as invalid, not wrapped around."""
    router = CentralRouter()
    router.subscribe(Subscription(service="a", pattern="fs.>"), Recorder())
    acks = [router.publish(event(n, priority=p)) for n, p in enumerate([-1, 4])]
    async with running(router):
        pass
    assert [Ack.rejected("invalid")] * 2 == acks


def test_duplicate_subscription_is_refused() -> None:
    """The same service and pattern twice is a configuration error."""
    router = CentralRouter()
    router.subscribe(Subscription(service="a", pattern="fs.>"), Recorder())
    with pytest.raises(ConfigError, match="already registered"):
        router.subscribe(Subscription(service="a", pattern="fs.>"), Recorder())


async def test_match_cache_stays_bounded() -> None:
    """More distinct subjects than match_cache_size still route correctly (oldest evicted)."""
    router = CentralRouter(RouterConfig(match_cache_size=4))
    rec = Recorder()
    router.subscribe(Subscription(service="a", pattern="svc.*.health"), rec)
    async with running(router):
        for n in range(20):
            router.publish(event(n, f"svc.s{n % 10}.health"))
    assert (len(rec.ids), router.stats().identity_errors()) == (20, [])


async def test_watchdog_and_workers_end_with_drain() -> None:
    """After drain, no task of the router is left running."""
    router = CentralRouter()
    router.subscribe(Subscription(service="a", pattern="fs.>", concurrency=3), Recorder())
    before = set(asyncio.all_tasks())
    await router.start()
    router.publish(event(1))
    await router.drain(1.0)
    assert set() == set(asyncio.all_tasks()) - before


async def test_drain_runs_once_for_concurrent_callers() -> None:
    """Two concurrent drains share one drain and one report; intake stops at the first call."""
    router = CentralRouter()
    gate = asyncio.Event()
    rec = Recorder(gate)
    router.subscribe(Subscription(service="a", pattern="fs.>"), rec)
    await router.start()
    router.publish(event(1))
    first = asyncio.ensure_future(router.drain(5.0))
    second = asyncio.ensure_future(router.drain(5.0))
    await asyncio.sleep(0)  # one loop turn: both drain() calls have begun
    ack = router.publish(event(2))
    await rec.arrived.wait()
    gate.set()
    one, two = await asyncio.gather(first, second)
    assert (one is two, ack, one.stats.delivered) == (True, Ack.rejected("draining"), 1)


async def test_full_group_member_refuses_the_whole_event() -> None:
    """With 'reject', a full chosen group member refuses the event for every subscription."""
    router = CentralRouter()
    member, other = Recorder(), Recorder()
    sub = Subscription(service="m", pattern="fs.>", queue_group="g", mailbox=1)
    router.subscribe(sub, member)
    router.subscribe(Subscription(service="other", pattern="fs.>"), other)
    acks = [router.publish(event(n)) for n in range(2)]
    async with running(router):
        pass
    assert (acks, member.ids, other.ids) == (
        [Ack.accepted(), Ack.rejected("overloaded")],
        ["e0"],
        ["e0"],
    )


async def test_targets_narrow_queue_groups_too() -> None:
    """An explicit target picks its member out of a queue group."""
    router = CentralRouter()
    recs = [Recorder() for _ in range(2)]
    for i, rec in enumerate(recs):
        router.subscribe(Subscription(service=f"m{i}", pattern="fs.>", queue_group="g"), rec)
    async with running(router):
        for n in range(3):
            router.publish(event(n, targets=("m1",)))
    assert ([rec.ids for rec in recs], router.stats().unknown_targets) == (
        [[], ["e0", "e1", "e2"]],
        0,
    )


def test_invalid_subjects_are_not_cached() -> None:
    """Publishing many distinct invalid subjects leaves the route cache empty."""
    router = CentralRouter()
    router.subscribe(Subscription(service="a", pattern=">"), Recorder())
    acks = {router.publish(event(n, subject=f"bad..{n}" + "x" * 300)) for n in range(100)}
    assert ({Ack.rejected("invalid")}, 0, 0) == (acks, len(router._cache), router._routes.nbytes)


def test_route_cache_is_bounded_in_bytes() -> None:
    """Long valid subjects evict older ones once their lengths pass match_cache_bytes."""
    router = CentralRouter(RouterConfig(match_cache_size=4096, match_cache_bytes=2048))
    router.subscribe(Subscription(service="a", pattern=">"), Recorder())
    for n in range(100):
        assert router.publish(event(n, subject=f"fs.{n:03d}." + "x" * 200)).ok
    table = router._routes
    assert (table.nbytes <= 2048, sum(map(len, table.cache)) == table.nbytes) == (True, True)


@pytest.mark.parametrize("batch", [1, 3, 8, 12, 20])
async def test_a_backlog_is_worked_in_runs_of_worker_batch(batch: int) -> None:
    """With a slice too long to matter, a worker yields the loop after exactly ``worker_batch``.

    A ticker task records how many events were handled each time it gets the loop.
    """
    router = CentralRouter(RouterConfig(worker_batch=batch, worker_slice_s=60.0))
    rec = Recorder()
    router.subscribe(Subscription(service="a", pattern="fs.>"), rec)
    for n in range(50):
        router.publish(event(n))
    seen: list[int] = []

    async def ticker() -> None:
        while len(rec.ids) < 50:
            seen.append(len(rec.ids))
            await asyncio.sleep(0)

    async with running(router):
        await asyncio.create_task(ticker())
    assert list(range(batch, 50, batch)) == seen
