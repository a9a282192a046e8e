"""Overflow policies: reject refuses whole events; drop_oldest and dead_letter displace, counted."""

from __future__ import annotations

import asyncio

import pytest

from events import Ack, Router, Subscription
from tests.conformance.helpers import Recorder, event, running

pytestmark = pytest.mark.anyio


async def _fill(router: Router, rec: Recorder, count: int) -> list[Ack]:
    """Publish e0 and wait until its handler holds it; then publish e1..e<count>."""
    first = router.publish(event(0))
    await rec.arrived.wait()
    return [first, *(router.publish(event(n)) for n in range(1, count + 1))]


async def test_reject_refuses_when_full_and_loses_nothing(router: Router) -> None:
    """With 'reject', the event past the bound gets Ack.rejected('overloaded'); the rest arrive."""
    gate = asyncio.Event()
    rec = Recorder(gate)
    router.subscribe(Subscription(service="a", pattern="fs.>", mailbox=2), rec)
    async with running(router):
        acks = await _fill(router, rec, 3)
        gate.set()
    stats = router.stats()
    assert [Ack.accepted()] * 3 + [Ack.rejected("overloaded")] == acks
    assert (rec.ids, stats.rejected) == (["e0", "e1", "e2"], {"overloaded": 1})
    assert (stats.delivered, stats.pending, stats.identity_errors()) == (3, 0, [])


async def test_reject_is_whole_never_half_delivered(router: Router) -> None:
    """When one matching mailbox is full, no other matching subscription gets the event either."""
    gate = asyncio.Event()
    full, free = Recorder(gate), Recorder()
    router.subscribe(Subscription(service="full", pattern="fs.>", mailbox=1), full)
    router.subscribe(Subscription(service="free", pattern="fs.>"), free)
    async with running(router):
        acks = await _fill(router, full, 2)
        gate.set()
    stats = router.stats()
    assert [Ack.accepted(), Ack.accepted(), Ack.rejected("overloaded")] == acks
    assert (full.ids, free.ids) == (["e0", "e1"], ["e0", "e1"])
    assert (stats.deliveries, stats.delivered, stats.identity_errors()) == (4, 4, [])


@pytest.mark.parametrize(
    ("policy", "ended"),
    [("drop_oldest", "dropped"), ("dead_letter", "dead_lettered")],
)
async def test_displacing_policies_accept_and_count_the_displaced(
    router: Router, policy: str, ended: str
) -> None:
    """drop_oldest / dead_letter accept the new event; the oldest queued one ends as overflow."""
    gate = asyncio.Event()
    rec = Recorder(gate)
    sub = Subscription(service="a", pattern="fs.>", mailbox=2, overflow=policy)  # type: ignore[arg-type]
    router.subscribe(sub, rec)
    async with running(router):
        acks = await _fill(router, rec, 3)
        gate.set()
    stats = router.stats()
    counted = {"dropped": stats.dropped, "dead_lettered": stats.dead_lettered}[ended]
    assert [Ack.accepted()] * 4 == acks
    assert (rec.ids, counted) == (["e0", "e2", "e3"], {"overflow": 1})
    assert (stats.deliveries, stats.delivered, stats.identity_errors()) == (4, 3, [])
    assert (1 if policy == "dead_letter" else 0) == stats.dead_letter_store
