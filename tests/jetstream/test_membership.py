"""JetStreamRouter subscriptions added and removed while it runs (reload, stream hubs): the
``Unsubscribing`` protocol of the in-process router, with the accounting exact."""

from __future__ import annotations

import asyncio

import pytest
from nats.aio.msg import Msg

from daemon.jetstream import JetStreamRouter
from daemon.jetstream.attempt import delivery_count, stream_sequence
from daemon.router.central import Unsubscribing
from events import Category, ConfigError, Event, Subscription
from tests.conformance.helpers import Recorder, until
from tests.jetstream.helpers import consumer_backlog, fresh_config, fs_event

pytestmark = pytest.mark.anyio


def _event(n: int, subject: str) -> Event:
    return Event(id=f"e{n}", subject=subject, category=Category.FILESYSTEM, source="t", seq=n)


async def test_a_late_subscription_gets_what_is_published_after_it(nats_url: str) -> None:
    """Subscribed after start: it gets every event published from then on (none lost while
    its consumer is declared) and none from before; the identity holds exactly."""
    router = JetStreamRouter(fresh_config(nats_url, ephemeral=True))
    early, late = Recorder(), Recorder()
    router.subscribe(Subscription(service="early", pattern="fs.>"), early)
    await router.start()
    for n in range(5):
        router.publish(fs_event(n))
    router.subscribe(Subscription(service="late", pattern="fs.file.*"), late)
    for n in range(5, 10):
        router.publish(fs_event(n))
    report = await router.drain(10)
    stats = report.stats
    assert (early.ids, late.ids) == ([f"e{n}" for n in range(10)], [f"e{n}" for n in range(5, 10)])
    assert (stats.deliveries, stats.delivered, stats.pending, report.completed) == (15, 15, 0, True)
    assert stats.identity_errors() == []


async def test_events_published_right_after_a_late_subscribe_are_not_lost(nats_url: str) -> None:
    """The only subscription, added after start: events published before its consumer exists
    would be dropped by the interest stream; the outgoing hold keeps them until it does."""
    router = JetStreamRouter(fresh_config(nats_url, ephemeral=True))
    await router.start()
    rec = Recorder()
    router.subscribe(Subscription(service="a", pattern="fs.>"), rec)
    acks = [router.publish(fs_event(n)) for n in range(20)]
    report = await router.drain(10)
    assert (all(ack.ok for ack in acks), rec.ids) == (True, [f"e{n}" for n in range(20)])
    assert (report.stats.pending, report.completed, report.stats.identity_errors()) == (0, True, [])


async def test_a_late_queue_member_on_a_new_pattern_takes_only_later_events(
    nats_url: str,
) -> None:
    """A queue group's consumer widens for a member added on a new pattern; that member takes
    only events stored after it joined (older ones there were not routed to the group)."""
    router = JetStreamRouter(fresh_config(nats_url, ephemeral=True))
    first, second, audit = Recorder(), Recorder(), Recorder()
    router.subscribe(Subscription(service="m1", pattern="fs.a.*", queue_group="g"), first)
    router.subscribe(Subscription(service="audit", pattern=">"), audit)
    await router.start()
    router.publish(_event(1, "fs.b.x"))  # kept by audit's interest; not the group's
    router.publish(_event(2, "fs.a.x"))
    await until(lambda: len(audit.ids) == 2, 10)
    router.subscribe(Subscription(service="m2", pattern="fs.b.*", queue_group="g"), second)
    router.publish(_event(3, "fs.b.y"))
    report = await router.drain(10)
    stats = report.stats
    assert (first.ids, second.ids, audit.ids) == (["e2"], ["e3"], ["e1", "e2", "e3"])
    assert (stats.deliveries, stats.delivered, stats.pending, stats.identity_errors()) == (
        5,
        5,
        0,
        [],
    )


async def test_unsubscribe_stops_routing_and_answers_the_final_counters(nats_url: str) -> None:
    """After unsubscribe the others get new events and it gets none; its counters stay in
    the totals and its workers are gone."""
    router = JetStreamRouter(fresh_config(nats_url, ephemeral=True))
    gone, kept = Recorder(), Recorder()
    router.subscribe(Subscription(service="gone", pattern="fs.>", concurrency=2), gone)
    router.subscribe(Subscription(service="kept", pattern="fs.>"), kept)
    await router.start()
    router.publish(fs_event(1))
    await until(lambda: router.stats().delivered == 2, 10)
    assert isinstance(router, Unsubscribing)
    final = await router.unsubscribe("gone", "fs.>", timeout_s=5.0)
    router.publish(fs_event(2))
    await until(lambda: len(kept.ids) == 2, 10)
    services = [s.service for s in router.stats().subscriptions]
    slots = len(router.watchdog.slots)
    report = await router.drain(10)
    stats = report.stats
    assert (gone.ids, kept.ids, services, slots) == (["e1"], ["e1", "e2"], ["kept"], 1)
    assert (final.delivered, final.dead_lettered, final.in_flight) == (1, 0, 0)
    assert (stats.deliveries, stats.delivered, stats.pending, report.completed) == (3, 3, 0, True)


async def test_what_a_leaving_member_could_not_finish_goes_to_its_successor(
    nats_url: str,
) -> None:
    """The reload swap of a changed subscription (unsubscribe, then subscribe the same key at
    once): what the old handler held past the timeout is given back and the new one handles
    it, with publishing going on; every event is delivered exactly once."""
    router = JetStreamRouter(fresh_config(nats_url, ephemeral=True))
    gate = asyncio.Event()
    old, new = Recorder(gate), Recorder()
    sub = Subscription(service="a", pattern="fs.>", timeout_s=30.0)
    router.subscribe(sub, old)
    await router.start()
    for n in range(5):
        router.publish(fs_event(n))
    await old.arrived.wait()
    leaving = router.unsubscribe_nowait("a", "fs.>", timeout_s=0.05)
    router.subscribe(Subscription(service="a", pattern="fs.>", concurrency=4), new)
    for n in range(5, 10):
        router.publish(fs_event(n))
    final = await leaving
    report = await router.drain(10)
    gate.set()
    stats = report.stats
    assert (old.ids, sorted(new.ids, key=lambda i: int(i[1:]))) == (
        ["e0"],
        [f"e{n}" for n in range(10)],
    )
    assert (final.delivered, router.transport_stats().returned >= 1) == (0, True)
    assert (stats.deliveries, stats.delivered, stats.pending, stats.identity_errors()) == (
        10,
        10,
        0,
        [],
    )


async def test_a_removed_subscription_leaves_its_backlog_pending_on_the_server(
    nats_url: str,
) -> None:
    """The last member gone, the lane stops pulling; what it held stays pending, and the
    server agrees; subscribed again later, the same durable consumer hands it over."""
    config = fresh_config(nats_url, ephemeral=True)
    router = JetStreamRouter(config)
    gate = asyncio.Event()
    stuck = Recorder(gate)
    router.subscribe(Subscription(service="a", pattern="fs.>", timeout_s=30.0), stuck)
    await router.start()
    for n in range(3):
        router.publish(fs_event(n))
    await stuck.arrived.wait()
    final = await router.unsubscribe("a", "fs.>", timeout_s=0.05)
    gate.set()
    left = router.stats()
    server = await consumer_backlog(nats_url, config.stream, router.retired_lanes[0].durable)
    again = Recorder()
    router.subscribe(Subscription(service="a", pattern="fs.>"), again)
    report = await router.drain(10)
    assert (final.delivered, left.pending, server, left.identity_errors()) == (0, 3, 3, [])
    assert (sorted(again.ids), report.stats.pending, report.completed) == (
        ["e0", "e1", "e2"],
        0,
        True,
    )


async def test_unsubscribe_before_start_dead_letters_what_was_buffered(nats_url: str) -> None:
    """Before start nothing was declared: the buffered deliveries end as drain_timeout."""
    router = JetStreamRouter(fresh_config(nats_url, ephemeral=True))
    rec = Recorder()
    router.subscribe(Subscription(service="a", pattern="fs.>"), rec)
    router.publish(fs_event(1))
    final = await router.unsubscribe("a", "fs.>", timeout_s=1.0)
    await router.start()
    report = await router.drain(10)
    stats = report.stats
    assert (rec.ids, final.dead_lettered, stats.dead_lettered) == ([], 1, {"drain_timeout": 1})
    assert (stats.pending, stats.identity_errors()) == (0, [])


async def test_unsubscribe_errors(nats_url: str) -> None:
    """Unknown subscription: ConfigError; twice: the same task; after drain: RuntimeError."""
    router = JetStreamRouter(fresh_config(nats_url, ephemeral=True))
    router.subscribe(Subscription(service="a", pattern="fs.>"), Recorder())
    await router.start()
    with pytest.raises(ConfigError, match="not registered"):
        router.unsubscribe_nowait("a", "db.>", timeout_s=1.0)
    first = router.unsubscribe_nowait("a", "fs.>", timeout_s=1.0)
    second = router.unsubscribe_nowait("a", "fs.>", timeout_s=1.0)
    await first
    await router.drain(10)
    assert first is second
    with pytest.raises(RuntimeError, match="draining"):
        router.unsubscribe_nowait("a", "fs.>", timeout_s=1.0)


def test_attempt_and_stream_sequence_are_read_as_nats_py_reads_them() -> None:
    """The cheap readers agree with nats-py's Msg.metadata on both ack-subject forms."""
    v1 = "$JS.ACK.S.C.3.41.7.1733284567123456789.0"
    v2 = "$JS.ACK.dom.acc.S.C.4.52.9.1733284567123456789.2.rnd"
    for reply in (v1, v2):
        msg = Msg(None, subject="x", reply=reply)  # type: ignore[arg-type]
        meta = msg.metadata
        assert (meta.num_delivered, meta.sequence.stream) == (
            delivery_count(msg),
            stream_sequence(msg),
        )
