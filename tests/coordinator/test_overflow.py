"""Bounds: the module queue, each copy's mailbox share, and the three overflow policies.

Events are published before start, so nothing is consumed while the bounds fill.
"""

from __future__ import annotations

import pytest

from coordinator import CoordinatorConfig, CoordinatorRouter
from events import Ack
from tests.coordinator.helpers import Recorder, ev, sub

pytestmark = pytest.mark.anyio


async def test_full_module_queue_rejects_overloaded() -> None:
    """A full module queue refuses with 'overloaded' while other modules still accept."""
    router = CoordinatorRouter(CoordinatorConfig(module_queue_size={"filesystem": 2}))
    router.subscribe(sub("audit", ">"), Recorder())
    acks = [router.publish(ev("fs.file.created")) for _ in range(3)]
    db_ack = router.publish(ev("db.txn.committed"))
    report = await router.drain(5)
    assert ([Ack.accepted()] * 2 + [Ack.rejected("overloaded")], Ack.accepted()) == (acks, db_ack)
    assert (report.stats.identity_errors(), report.stats.delivered) == ([], 3)


async def test_reject_refuses_whole_event() -> None:
    """When one reject mailbox is full, no other subscriber gets the event either."""
    router = CoordinatorRouter()
    small, big = Recorder(), Recorder()
    router.subscribe(sub("small", "fs.>", mailbox=1), small)
    router.subscribe(sub("big", "fs.>"), big)
    first, second = ev("fs.file.created"), ev("fs.file.created")
    acks = [router.publish(first), router.publish(second)]
    await router.start()
    report = await router.drain(5)
    assert ([Ack.accepted(), Ack.rejected("overloaded")], [first.id], [first.id]) == (
        acks,
        small.ids,
        big.ids,
    )
    assert report.stats.identity_errors() == []


async def test_reject_counts_payload_bytes() -> None:
    """mailbox_bytes bounds a copy's queued bytes: subject (19 here) and payload."""
    router = CoordinatorRouter()
    router.subscribe(sub("a", "mcp.>", mailbox_bytes=19 + 10), Recorder())
    acks = [router.publish(ev("mcp.context.updated", payload=b"x" * 6)) for _ in range(2)]
    await router.drain(5)
    assert [Ack.accepted(), Ack.rejected("overloaded")] == acks


async def test_drop_oldest_displaces_own_oldest() -> None:
    """drop_oldest accepts, drops that copy's oldest queued delivery, and counts it."""
    router = CoordinatorRouter()
    lossy, keeper = Recorder(), Recorder()
    router.subscribe(sub("lossy", "fs.>", mailbox=2, overflow="drop_oldest"), lossy)
    router.subscribe(sub("keeper", "fs.>"), keeper)
    events = [ev("fs.file.created") for _ in range(4)]
    acks = [router.publish(e) for e in events]
    await router.start()
    report = await router.drain(5)
    stats = report.stats
    assert ([Ack.accepted()] * 4, [e.id for e in events[2:]], 4) == (
        acks,
        lossy.ids,
        len(keeper.ids),
    )
    assert (stats.dropped, stats.identity_errors()) == ({"overflow": 2}, [])


async def test_drop_oldest_takes_lowest_priority_first() -> None:
    """The victim is the oldest delivery of the copy's lowest queued priority."""
    router = CoordinatorRouter()
    rec = Recorder()
    router.subscribe(sub("a", "svc.>", mailbox=2, overflow="drop_oldest"), rec)
    high, low, new = (ev("svc.x.health", priority=p) for p in (3, 0, 1))
    for event in (high, low, new):
        router.publish(event)
    await router.start()
    await router.drain(5)
    assert [high.id, new.id] == rec.ids


async def test_dead_letter_policy_stores_displaced() -> None:
    """dead_letter accepts and moves the displaced delivery to the module's dead letters."""
    router = CoordinatorRouter()
    router.subscribe(sub("a", "ext.>", mailbox=1, overflow="dead_letter"), Recorder())
    first, second = ev("ext.notification.sent"), ev("ext.notification.sent")
    router.publish(first)
    router.publish(second)
    await router.start()
    report = await router.drain(5)
    store = router.modules[first.category].dead_letters.entries
    assert ([(first.id, "overflow")], {"overflow": 1}) == (
        [(d.event.id, d.reason) for d in store],
        report.stats.dead_lettered,
    )


async def test_displaced_only_event_leaves_module_queue() -> None:
    """An event whose every delivery was displaced no longer takes a module queue slot."""
    router = CoordinatorRouter(CoordinatorConfig(queue_size=2))
    router.subscribe(sub("a", "sys.>", mailbox=1, overflow="drop_oldest"), Recorder())
    acks = [router.publish(ev("sys.metrics")) for _ in range(5)]
    module = router.modules[ev("sys.metrics").category]
    depth = module.depth
    report = await router.drain(5)
    assert ([Ack.accepted()] * 5, 1, {"overflow": 4}) == (acks, depth, report.stats.dropped)


async def test_oversized_event_never_fits() -> None:
    """An event larger than a displacing copy's byte bound ends as overflow at once."""
    router = CoordinatorRouter()
    rec = Recorder()
    # "db.txn.committed" is 16 bytes: the small event (18) fits, the huge one (25) never.
    router.subscribe(sub("a", "db.>", mailbox_bytes=20, overflow="drop_oldest"), rec)
    small, huge = ev("db.txn.committed", payload=b"ab"), ev("db.txn.committed", payload=b"x" * 9)
    router.publish(small)
    router.publish(huge)
    await router.start()
    report = await router.drain(5)
    assert ([small.id], {"overflow": 1}, 2) == (
        rec.ids,
        report.stats.dropped,
        report.stats.deliveries,
    )
