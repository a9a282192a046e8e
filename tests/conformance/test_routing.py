"""Routing: wildcards, fan-out, queue groups, explicit targets, unrouted and invalid subjects."""

from __future__ import annotations

import pytest

from events import Ack, Router, Subscription
from tests.conformance.helpers import Recorder, event, running

pytestmark = pytest.mark.anyio


async def test_wildcards_route_by_pattern(router: Router) -> None:
    """'*' matches one token, '>' one or more trailing tokens; other subjects are unrouted."""
    star, tail, exact = Recorder(), Recorder(), Recorder()
    router.subscribe(Subscription(service="star", pattern="fs.*.created"), star)
    router.subscribe(Subscription(service="tail", pattern="db.>"), tail)
    router.subscribe(Subscription(service="exact", pattern="sys.metrics"), exact)
    async with running(router):
        acks = [
            router.publish(event(1, "fs.file.created")),
            router.publish(event(2, "fs.file.deleted")),
            router.publish(event(3, "db.row.inserted.users")),
            router.publish(event(4, "db")),
            router.publish(event(5, "sys.metrics")),
        ]
    stats = router.stats()
    assert [Ack.accepted()] * 5 == acks
    assert (star.ids, tail.ids, exact.ids) == (["e1"], ["e3"], ["e5"])
    assert (stats.unrouted, stats.delivered, stats.identity_errors()) == (2, 3, [])


async def test_fan_out_delivers_to_every_match(router: Router) -> None:
    """One event matching three subscriptions makes three deliveries."""
    recorders = [Recorder() for _ in range(3)]
    for i, (rec, pattern) in enumerate(zip(recorders, [">", "fs.>", "fs.file.*"], strict=True)):
        router.subscribe(Subscription(service=f"s{i}", pattern=pattern), rec)
    async with running(router):
        router.publish(event(1))
    stats = router.stats()
    assert [rec.ids for rec in recorders] == [["e1"]] * 3
    assert (stats.deliveries, stats.delivered, stats.identity_errors()) == (3, 3, [])


async def test_queue_group_delivers_each_event_to_exactly_one_member(router: Router) -> None:
    """Members of a queue group share the events: each goes to exactly one of them."""
    members = [Recorder() for _ in range(3)]
    solo = Recorder()
    for i, rec in enumerate(members):
        router.subscribe(Subscription(service=f"m{i}", pattern="fs.>", queue_group="g"), rec)
    router.subscribe(Subscription(service="solo", pattern="fs.>"), solo)
    async with running(router):
        for n in range(30):
            router.publish(event(n))
    received = sorted(i for rec in members for i in rec.ids)
    assert sorted(f"e{n}" for n in range(30)) == received
    assert len(solo.ids) == 30
    assert router.stats().identity_errors() == []


async def test_explicit_targets_reach_only_those_services(router: Router) -> None:
    """targets=('a',) reaches only a; an unknown target is counted, not raised."""
    a, b = Recorder(), Recorder()
    router.subscribe(Subscription(service="a", pattern="fs.>"), a)
    router.subscribe(Subscription(service="b", pattern="fs.>"), b)
    async with running(router):
        first = router.publish(event(1, targets=("a",)))
        second = router.publish(event(2, targets=("nobody",)))
    stats = router.stats()
    assert (Ack.accepted(), Ack.accepted()) == (first, second)
    assert (a.ids, b.ids) == (["e1"], [])
    assert (stats.unknown_targets, stats.unrouted, stats.identity_errors()) == (1, 1, [])


async def test_invalid_subject_is_rejected_and_counted(router: Router) -> None:
    """A malformed or wildcard subject is refused with reason 'invalid', every time."""
    rec = Recorder()
    router.subscribe(Subscription(service="a", pattern=">"), rec)
    async with running(router):
        acks = [router.publish(event(n, subject)) for n, subject in enumerate(["fs..x", "fs.*"])]
        again = router.publish(event(3, "fs..x"))
    stats = router.stats()
    assert [Ack.rejected("invalid")] * 3 == [*acks, again]
    assert (stats.rejected, rec.ids, stats.identity_errors()) == ({"invalid": 3}, [], [])


async def test_publish_after_drain_is_rejected_draining(router: Router) -> None:
    """Once drain has begun, intake answers 'draining', also for a subject routed before."""
    router.subscribe(Subscription(service="a", pattern=">"), Recorder())
    async with running(router):
        # Routed once, so a router with a per-subject fast path has it cached.
        assert router.publish(event(0)).ok
    ack = router.publish(event(1))
    stats = router.stats()
    assert (Ack.rejected("draining"), {"draining": 1}) == (ack, stats.rejected)
    assert stats.identity_errors() == []
