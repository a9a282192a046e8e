"""Routing: modules by category, registrations per module, targets, groups, priority."""

from __future__ import annotations

import asyncio

import pytest

from coordinator import CoordinatorConfig, CoordinatorRouter
from events import Ack, Category, ConfigError
from tests.coordinator.helpers import Recorder, ev, sub

pytestmark = pytest.mark.anyio


async def test_event_goes_to_its_category_module() -> None:
    """Each event is queued and delivered by the module of its category only."""
    router = CoordinatorRouter()
    fs, db = Recorder(), Recorder()
    router.subscribe(sub("fs", "fs.>"), fs)
    router.subscribe(sub("db", "db.>"), db)
    a, b = ev("fs.file.created"), ev("db.txn.committed")
    assert [Ack.accepted(), Ack.accepted()] == [router.publish(a), router.publish(b)]
    report = await router.drain(5)
    per_module = {s.module: s.delivered for s in report.stats.subscriptions}
    assert ([a.id], [b.id], {"filesystem": 1, "database": 1}) == (fs.ids, db.ids, per_module)


async def test_audit_on_everything_is_registered_six_times() -> None:
    """A '>' subscription gets one copy (and one pipeline) in each of the six modules."""
    router = CoordinatorRouter()
    router.subscribe(sub("audit", ">"), Recorder())
    modules = sorted(s.module for s in router.stats().subscriptions)
    pipelines = {id(m.copies[0].pipeline) for m in router.modules.values()}
    assert (sorted(c.value for c in Category), 6) == (modules, len(pipelines))


async def test_single_category_pattern_is_registered_once() -> None:
    """A pattern of one category is registered in that module only."""
    router = CoordinatorRouter()
    router.subscribe(sub("ds", "db.row.*.users"), Recorder())
    assert [s.module for s in router.stats().subscriptions] == ["database"]


async def test_pattern_outside_every_module_is_registered_everywhere() -> None:
    """A pattern no module's subjects can match goes to all six, whatever category comes."""
    router = CoordinatorRouter()
    rec = Recorder()
    router.subscribe(sub("x", "foo.>"), rec)
    event = ev("foo.bar", category=Category.MCP)
    router.publish(event)
    report = await router.drain(5)
    assert (len(report.stats.subscriptions), [event.id]) == (6, rec.ids)


async def test_duplicate_subscription_is_refused() -> None:
    """The same service and pattern cannot be registered twice."""
    router = CoordinatorRouter()
    router.subscribe(sub("a", "fs.>"), Recorder())
    with pytest.raises(ConfigError, match="already registered"):
        router.subscribe(sub("a", "fs.>"), Recorder())


async def test_category_mismatch_is_unrouted_in_its_module() -> None:
    """An fs-subject event labelled database goes to the database module, which has no match."""
    router = CoordinatorRouter()
    fs = Recorder()
    router.subscribe(sub("fs", "fs.>"), fs)
    ack = router.publish(ev("fs.file.created", category=Category.DATABASE))
    report = await router.drain(5)
    assert (Ack.accepted(), 1, []) == (ack, report.stats.unrouted, fs.ids)


async def test_invalid_input_is_rejected_and_counted() -> None:
    """A bad subject or priority is refused as 'invalid' and counted, nothing queued."""
    router = CoordinatorRouter()
    router.subscribe(sub("a", ">"), Recorder())
    acks = [router.publish(ev("fs..x")), router.publish(ev("fs.file.created", priority=9))]
    stats = router.stats()
    assert ([Ack.rejected("invalid")] * 2, {"invalid": 2}, 0) == (
        acks,
        stats.rejected,
        stats.deliveries,
    )


async def test_publish_after_drain_is_rejected() -> None:
    """Once drain began, publish answers 'draining'."""
    router = CoordinatorRouter()
    await router.start()
    await router.drain(1)
    assert Ack.rejected("draining") == router.publish(ev("fs.file.created"))


async def test_targets_deliver_only_to_named_services() -> None:
    """An event with targets reaches only those services; unknown names are counted."""
    router = CoordinatorRouter()
    a, b = Recorder(), Recorder()
    router.subscribe(sub("a", "fs.>"), a)
    router.subscribe(sub("b", "fs.>"), b)
    event = ev("fs.file.moved", targets=("b", "ghost"))
    router.publish(event)
    report = await router.drain(5)
    assert ([], [event.id], 1) == (a.ids, b.ids, report.stats.unknown_targets)


async def test_queue_group_delivers_to_one_member() -> None:
    """Each event goes to one member of a queue group, the one with the fewest pending."""
    router = CoordinatorRouter()
    a, b, solo = Recorder(), Recorder(), Recorder()
    router.subscribe(sub("w1", "db.>", queue_group="workers"), a)
    router.subscribe(sub("w2", "db.>", queue_group="workers"), b)
    router.subscribe(sub("solo", "db.>"), solo)
    events = [ev("db.txn.committed") for _ in range(4)]
    for event in events:
        router.publish(event)
    await router.start()
    await router.drain(5)
    # Buffered before start, the pending counts alternate the choice.
    assert ([e.id for e in events[::2]], [e.id for e in events[1::2]], 4) == (
        a.ids,
        b.ids,
        len(solo.ids),
    )


async def test_higher_priority_first_within_module() -> None:
    """Queued events of a module are delivered highest priority first, FIFO within one."""
    router = CoordinatorRouter()
    rec = Recorder()
    router.subscribe(sub("a", "ext.>"), rec)
    events = [ev("ext.notification.sent", priority=p) for p in (0, 1, 3, 1, 2)]
    for event in events:
        router.publish(event)
    await router.start()
    await router.drain(5)
    assert [events[i].id for i in (2, 4, 1, 3, 0)] == rec.ids


async def test_subscribe_after_publish_sees_later_events() -> None:
    """A subscription added while running gets the events published after it (caches reset)."""
    router = CoordinatorRouter()
    first, late = Recorder(), Recorder()
    router.subscribe(sub("first", "svc.>"), first)
    await router.start()
    before = ev("svc.a.status")
    router.publish(before)
    router.subscribe(sub("late", "svc.*.status"), late)
    after = ev("svc.a.status")
    router.publish(after)
    await router.drain(5)
    assert (first.ids, late.ids) == ([before.id, after.id], [after.id])


def test_invalid_subjects_are_not_cached() -> None:
    """Publishing many distinct invalid subjects leaves every module's route cache empty."""
    router = CoordinatorRouter()
    router.subscribe(sub("a", "fs.>"), Recorder())
    acks = {router.publish(ev(f"fs..{n}" + "x" * 300)) for n in range(100)}
    module = router.modules[Category.FILESYSTEM]
    assert ({Ack.rejected("invalid")}, 0, 0) == (acks, len(module._cache), module._routes.nbytes)


def test_route_cache_is_bounded_in_bytes() -> None:
    """Long valid subjects evict older ones once their lengths pass match_cache_bytes."""
    router = CoordinatorRouter(CoordinatorConfig(match_cache_bytes=2048))
    router.subscribe(sub("a", "fs.>"), Recorder())
    for n in range(100):
        assert router.publish(ev(f"fs.{n:03d}." + "x" * 200)).ok
    routes = router.modules[Category.FILESYSTEM]._routes
    assert (routes.nbytes <= 2048, sum(map(len, routes.cache)) == routes.nbytes) == (True, True)


@pytest.mark.parametrize("batch", [1, 3, 8, 12, 20])
async def test_a_backlog_is_worked_in_runs_of_worker_batch(batch: int) -> None:
    """With a slice too long to matter, a module's worker yields after exactly ``worker_batch``.

    A ticker task records how many events were handled each time it gets the loop.
    """
    router = CoordinatorRouter(CoordinatorConfig(worker_batch=batch, worker_slice_s=60.0))
    rec = Recorder()
    router.subscribe(sub("fs", "fs.>"), rec)
    for _ in range(50):
        router.publish(ev("fs.file.created"))
    seen: list[int] = []

    async def ticker() -> None:
        while len(rec.ids) < 50:
            seen.append(len(rec.ids))
            await asyncio.sleep(0)

    await router.start()
    await asyncio.create_task(ticker())
    report = await router.drain(5)
    assert (list(range(batch, 50, batch)), []) == (seen, report.stats.identity_errors())
