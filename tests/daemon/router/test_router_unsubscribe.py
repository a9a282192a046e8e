"""CentralRouter.unsubscribe: routing stops at once, the mailbox drains, the accounting balances."""

from __future__ import annotations

import asyncio

import anyio
import pytest

from daemon import CentralRouter
from events import ConfigError, Event, Subscription
from tests.conformance.helpers import Recorder, event, running, until

pytestmark = pytest.mark.anyio


async def test_unsubscribed_service_gets_nothing_published_afterwards() -> None:
    """After unsubscribe, new events reach the other subscribers only; its workers are gone."""
    router = CentralRouter()
    gone, kept = Recorder(), Recorder()
    router.subscribe(Subscription(service="gone", pattern="fs.>", concurrency=2), gone)
    router.subscribe(Subscription(service="kept", pattern="fs.>"), kept)
    async with running(router):
        router.publish(event(1))
        slots_before = len(router.watchdog.slots)
        final = await router.unsubscribe("gone", "fs.>", timeout_s=5.0)
        slots_after = len(router.watchdog.slots)
        router.publish(event(2))
        await until(lambda: len(kept.ids) == 2)
        services = [s.service for s in router.stats().subscriptions]
    assert (gone.ids, kept.ids, services) == (["e1"], ["e1", "e2"], ["kept"])
    assert (final.deliveries, final.delivered, final.dead_lettered) == (1, 1, 0)
    assert (slots_before, slots_after) == (3, 1)


async def test_unsubscribe_under_load_keeps_the_identity_exactly() -> None:
    """Publishing on while a stuck subscription leaves: every snapshot balances exactly."""
    router = CentralRouter()
    gate = asyncio.Event()
    stuck, fast = Recorder(gate), Recorder()
    router.subscribe(Subscription(service="stuck", pattern="fs.>", mailbox=10_000), stuck)
    router.subscribe(Subscription(service="fast", pattern="fs.>", mailbox=10_000), fast)
    errors: list[str] = []
    stop = asyncio.Event()

    async def publisher() -> None:
        n = 100
        while not stop.is_set():
            router.publish(event(n))
            errors.extend(router.stats().identity_errors())
            n += 1
            await asyncio.sleep(0)

    async with running(router):
        for n in range(100):
            router.publish(event(n))
        await stuck.arrived.wait()
        task = asyncio.create_task(publisher())
        final = await router.unsubscribe("stuck", "fs.>", timeout_s=0.05)
        stop.set()
        await task
        after = router.stats()
        await until(lambda: router.stats().pending == 0)
        settled = router.stats()
    assert (errors, after.identity_errors(), settled.identity_errors()) == ([], [], [])
    assert (stuck.ids, final.delivered, final.dead_lettered) == (["e0"], 0, final.deliveries)
    assert settled.dead_lettered == {"drain_timeout": final.deliveries}
    assert settled.delivered == len(fast.ids) == settled.accepted


async def test_unsubscribe_lets_workers_finish_what_is_queued() -> None:
    """Within the timeout, every queued delivery of the leaving subscription is delivered."""
    router = CentralRouter()
    rec = Recorder()
    router.subscribe(Subscription(service="a", pattern="fs.>"), rec)
    async with running(router):
        for n in range(50):
            router.publish(event(n))
        final = await router.unsubscribe("a", "fs.>", timeout_s=5.0)
        ack = router.publish(event(99))
        stats = router.stats()
    assert (len(rec.ids), final.delivered, final.dead_lettered) == (50, 50, 0)
    assert (ack.ok, stats.unrouted, stats.delivered, stats.identity_errors()) == (True, 1, 50, [])


async def test_unsubscribe_before_start_dead_letters_the_buffer() -> None:
    """Before start no worker can run: buffered deliveries end as drain_timeout at once."""
    router = CentralRouter()
    rec = Recorder()
    router.subscribe(Subscription(service="a", pattern="fs.>"), rec)
    router.publish(event(1))
    final = await router.unsubscribe("a", "fs.>", timeout_s=1.0)
    async with running(router):
        pass
    stats = router.stats()
    assert (rec.ids, final.dead_lettered, stats.dead_lettered) == ([], 1, {"drain_timeout": 1})
    assert stats.identity_errors() == []


async def test_queue_group_continues_without_a_removed_member() -> None:
    """A removed group member gets nothing more; the group's other member takes every event."""
    router = CentralRouter()
    recs = [Recorder() for _ in range(2)]
    for i, rec in enumerate(recs):
        router.subscribe(Subscription(service=f"m{i}", pattern="fs.>", queue_group="g"), rec)
    async with running(router):
        await router.unsubscribe("m0", "fs.>", timeout_s=1.0)
        for n in range(4):
            router.publish(event(n))
    assert (recs[0].ids, recs[1].ids) == ([], ["e0", "e1", "e2", "e3"])


async def test_resubscribe_after_unsubscribe_gets_a_new_mailbox() -> None:
    """The same key can be subscribed again: the new handler gets the events published after."""
    router = CentralRouter()
    old, new = Recorder(), Recorder()
    router.subscribe(Subscription(service="a", pattern="fs.>"), old)
    async with running(router):
        router.publish(event(1))
        leaving = router.unsubscribe_nowait("a", "fs.>", timeout_s=5.0)
        router.subscribe(Subscription(service="a", pattern="fs.>"), new)
        router.publish(event(2))
        await leaving
    assert (old.ids, new.ids, router.stats().identity_errors()) == (["e1"], ["e2"], [])


async def test_unsubscribe_errors() -> None:
    """An unknown subscription is a ConfigError; after drain began unsubscribe is refused."""
    router = CentralRouter()
    router.subscribe(Subscription(service="a", pattern="fs.>"), Recorder())
    async with running(router):
        with pytest.raises(ConfigError, match="not registered"):
            await router.unsubscribe("a", "db.>", timeout_s=1.0)
    with pytest.raises(RuntimeError, match="draining"):
        await router.unsubscribe("a", "fs.>", timeout_s=1.0)


async def test_drain_during_an_unsubscribe_ends_it_and_balances() -> None:
    """A drain that starts while a stuck subscription is leaving ends it; the identity holds."""
    router = CentralRouter()
    gate = asyncio.Event()
    stuck = Recorder(gate)
    router.subscribe(Subscription(service="stuck", pattern="fs.>"), stuck)
    await router.start()
    for n in range(3):
        router.publish(event(n))
    await stuck.arrived.wait()
    leaving = router.unsubscribe_nowait("stuck", "fs.>", timeout_s=60.0)
    again = router.unsubscribe_nowait("stuck", "fs.>", timeout_s=60.0)
    report = await router.drain(0.05)
    final = await leaving
    stats = report.stats
    assert (again is leaving, final.dead_lettered, stats.dead_lettered) == (
        True,
        3,
        {"drain_timeout": 3},
    )
    assert (stats.pending, stats.identity_errors(), router.watchdog.slots) == (0, [], [])


async def test_unsubscribe_gives_up_on_a_handler_that_ignores_cancellation() -> None:
    """A leaving worker deaf to cancel is abandoned: unsubscribe answers, its delivery pending."""
    router = CentralRouter()
    started, release = asyncio.Event(), asyncio.Event()

    async def stubborn(ev: Event) -> None:
        started.set()
        while not release.is_set():
            try:
                await release.wait()
            except asyncio.CancelledError:
                continue

    router.subscribe(Subscription(service="deaf", pattern="fs.>", timeout_s=60.0), stubborn)
    await router.start()
    for n in range(2):
        router.publish(event(n))
    await started.wait()
    try:
        with anyio.fail_after(30):  # a guard against a hang, not a timing assertion
            final = await router.unsubscribe("deaf", "fs.>", timeout_s=0.02)
            left = router.stats()
            report = await router.drain(0.02)
    finally:
        # Snapshots taken; releasing the handler now lets no task outlive the test.
        release.set()
    assert (final.in_flight, final.dead_lettered, left.pending, left.identity_errors()) == (
        1,
        1,
        1,
        [],
    )
    assert (report.completed, report.abandoned_workers, report.stats.pending) == (False, 1, 1)
    with anyio.fail_after(30):
        await until(lambda: router.stats().pending == 0)
    settled = router.stats()
    assert (settled.delivered, settled.dead_lettered, settled.identity_errors()) == (
        1,
        {"drain_timeout": 1},
        [],
    )


async def test_one_mailbox_accepts_stay_counted_after_their_subscription_is_gone() -> None:
    """Events the one-mailbox fast path accepted (counted as their deliveries) stay accepted.

    The first event misses the route cache and takes the general path; the next
    four take the fast path; after the unsubscribe the sixth is unrouted.
    """
    router = CentralRouter()
    router.subscribe(Subscription(service="gone", pattern="fs.>"), Recorder())
    async with running(router):
        for n in range(5):
            router.publish(event(n))
        await router.unsubscribe("gone", "fs.>", timeout_s=5.0)
        router.publish(event(5))
        stats = router.stats()
    assert (
        stats.published,
        stats.accepted,
        stats.deliveries,
        stats.delivered,
        stats.unrouted,
        stats.identity_errors(),
    ) == (6, 6, 5, 5, 1, [])
