"""The harness floor: NullRouter delivers at once and accounts for every event."""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from bench.routers.null import NullRouter
from events import Ack, BreakerPolicy, Event, Permanent, RetryPolicy, Subscription
from events.errors import ConfigError
from events.model import Category

pytestmark = pytest.mark.anyio


def _event(seq: int, subject: str = "fs.file.created") -> Event:
    return Event(
        id=f"e{seq}", subject=subject, category=Category.FILESYSTEM, source="test", seq=seq
    )


async def test_delivers_to_every_match_and_counts_unrouted() -> None:
    """Each matching subscription gets the event once; an unmatched event counts unrouted."""
    got: list[tuple[str, int]] = []
    router = NullRouter()

    def handler(name: str):  # type: ignore[no-untyped-def]
        async def h(event: Event) -> None:
            got.append((name, event.seq))

        return h

    router.subscribe(Subscription(service="a", pattern="fs.>"), handler("a"))
    router.subscribe(Subscription(service="b", pattern=">"), handler("b"))
    await router.start()
    router.publish(_event(1))
    router.publish(_event(2, "db.txn.committed"))
    report = await router.drain(1.0)
    assert got == [("a", 1), ("b", 1), ("b", 2)]
    assert report.stats.identity_errors() == []
    assert (report.stats.accepted, report.stats.deliveries, report.stats.delivered) == (2, 3, 3)


async def test_suspending_handler_finishes_in_a_task() -> None:
    """A handler that awaits completes after publish returns, and drain waits for it."""
    release = asyncio.Event()
    done: list[int] = []
    router = NullRouter()

    async def waits(event: Event) -> None:
        await release.wait()
        done.append(event.seq)

    router.subscribe(Subscription(service="w", pattern=">"), waits)
    await router.start()
    router.publish(_event(7))
    assert done == []
    assert router.stats().pending == 1
    release.set()
    report = await router.drain(1.0)
    assert done == [7]
    assert (report.completed, report.stats.pending, report.stats.delivered) == (True, 0, 1)


async def test_failures_dead_letter_through_the_pipeline() -> None:
    """A raising handler is retried, then dead-lettered; Permanent dead-letters at once."""
    router = NullRouter()

    async def fails(event: Event) -> None:
        await asyncio.sleep(0)
        raise RuntimeError("boom")

    async def refuses(event: Event) -> None:
        raise Permanent("never")

    retry = RetryPolicy(attempts=2, backoff_base_s=0.0, backoff_cap_s=0.0)
    router.subscribe(Subscription(service="f", pattern="fs.>", retry=retry), fails)
    router.subscribe(Subscription(service="p", pattern="fs.>"), refuses)
    await router.start()
    router.publish(_event(1))
    report = await router.drain(1.0)
    assert report.stats.dead_lettered == {"failed": 1, "permanent": 1}
    assert report.stats.retries == 1
    assert report.stats.identity_errors() == []


async def test_watchdog_times_out_a_hung_delivery() -> None:
    """A handler running past timeout_s is cancelled and dead-lettered as timeout."""
    router = NullRouter()

    async def hangs(event: Event) -> None:
        await asyncio.Event().wait()

    sub = Subscription(service="h", pattern=">", timeout_s=0.02, retry=RetryPolicy(attempts=1))
    router.subscribe(sub, hangs)
    await router.start()
    router.publish(_event(1))
    report = await router.drain(5.0)
    assert report.stats.dead_lettered == {"timeout": 1}
    assert True is report.completed


async def test_drain_gives_up_on_late_deliveries_and_accounts_them() -> None:
    """Deliveries still running when drain times out end as drain_timeout dead letters."""
    router = NullRouter()

    async def hangs(event: Event) -> None:
        await asyncio.Event().wait()

    router.subscribe(Subscription(service="h", pattern=">", timeout_s=60.0), hangs)
    await router.start()
    router.publish(_event(1))
    report = await router.drain(0.01)
    assert (report.completed, report.timed_out) == (False, 1)
    assert report.stats.dead_lettered == {"drain_timeout": 1}
    assert report.stats.identity_errors() == []


async def test_rejects_bad_subjects_before_and_after_start_and_after_drain() -> None:
    """publish answers invalid (before or after start) and draining with a reason."""
    router = NullRouter()
    router.subscribe(Subscription(service="a", pattern=">"), _noop)
    assert router.publish(_event(1, "fs..bad")).reason == "invalid"
    await router.start()
    assert router.publish(_event(2, "fs..bad")).reason == "invalid"
    await router.drain(1.0)
    assert router.publish(_event(3)).reason == "draining"
    stats = router.stats()
    assert stats.rejected == {"invalid": 2, "draining": 1}
    assert stats.identity_errors() == []


async def test_accepts_before_start_and_delivers_in_order_at_start() -> None:
    """Events published before start are accepted, held, and delivered in order by start."""
    got: list[tuple[str, int]] = []
    router = NullRouter()

    def handler(name: str):  # type: ignore[no-untyped-def]
        async def h(event: Event) -> None:
            got.append((name, event.seq))

        return h

    router.subscribe(Subscription(service="a", pattern="fs.>"), handler("a"))
    router.subscribe(Subscription(service="b", pattern=">"), handler("b"))
    acks = [router.publish(_event(1)), router.publish(_event(2, "db.txn.committed"))]
    router.publish(_event(3))
    before = router.stats()
    held = (got[:], before.accepted, before.deliveries, before.pending)
    await router.start()
    after_start = got[:]
    report = await router.drain(1.0)
    assert acks == [Ack.accepted(), Ack.accepted()]
    assert held == ([], 3, 5, 5)
    assert before.identity_errors() == []
    assert after_start == [("a", 1), ("b", 1), ("b", 2), ("a", 3), ("b", 3)]
    assert (report.completed, report.stats.delivered, report.stats.pending) == (True, 5, 0)
    assert report.stats.identity_errors() == []


async def test_events_published_by_a_handler_during_start_follow_the_held_ones() -> None:
    """A handler publishing while start delivers held events gets its event queued behind them."""
    got: list[int] = []
    router = NullRouter()

    async def echoes(event: Event) -> None:
        got.append(event.seq)
        if event.seq < 10:
            router.publish(_event(event.seq + 10))

    router.subscribe(Subscription(service="e", pattern=">"), echoes)
    router.publish(_event(1))
    router.publish(_event(2))
    await router.start()
    report = await router.drain(1.0)
    assert got == [1, 2, 11, 12]
    assert (report.stats.delivered, report.stats.identity_errors()) == (4, [])


async def test_drain_before_start_delivers_the_held_events() -> None:
    """drain on a router never started starts it, so held events (even suspending) end delivered."""
    got: list[int] = []
    router = NullRouter()

    async def suspends(event: Event) -> None:
        await asyncio.sleep(0)
        got.append(event.seq)

    router.subscribe(Subscription(service="s", pattern=">"), suspends)
    for seq in range(5):
        router.publish(_event(seq))
    report = await router.drain(5.0)
    assert got == [0, 1, 2, 3, 4]
    assert (report.completed, report.timed_out, report.stats.delivered) == (True, 0, 5)
    assert report.stats.identity_errors() == []
    assert router.publish(_event(9)).reason == "draining"


async def test_unrouted_and_grouped_events_before_start_are_counted_at_publish() -> None:
    """Before start an unmatched event counts unrouted, a grouped one takes turns as after."""
    got: list[str] = []
    router = NullRouter()
    for name in ("m1", "m2"):

        async def member(event: Event, name: str = name) -> None:
            got.append(name)

        router.subscribe(Subscription(service=name, pattern="fs.>", queue_group="g"), member)
    for seq in range(3):
        router.publish(_event(seq))
    router.publish(_event(3, "db.txn.committed"))
    unrouted = router.stats().unrouted
    report = await router.drain(1.0)
    assert (unrouted, got) == (1, ["m1", "m2", "m1"])
    assert report.stats.identity_errors() == []


async def test_a_target_reaches_any_named_member_of_a_queue_group() -> None:
    """An event targeted at a group member other than the first reaches that member only."""
    got: list[tuple[str, int]] = []
    router = NullRouter()
    for name in ("m1", "m2", "m3"):

        async def member(event: Event, name: str = name) -> None:
            got.append((name, event.seq))

        router.subscribe(Subscription(service=name, pattern=">", queue_group="g"), member)
    await router.start()
    router.publish(msgspec.structs.replace(_event(1), targets=("m2",)))
    router.publish(msgspec.structs.replace(_event(2), targets=("m2", "m3")))
    router.publish(msgspec.structs.replace(_event(3), targets=("m2", "m3")))
    router.publish(msgspec.structs.replace(_event(4), targets=("m3", "ghost")))
    router.publish(msgspec.structs.replace(_event(5), targets=("ghost",)))
    report = await router.drain(1.0)
    stats = report.stats
    chosen = {seq: name for name, seq in got}
    assert (len(got), chosen[1], chosen[4]) == (4, "m2", "m3")
    # Two events naming m2 and m3 take turns between them, never m1.
    assert {chosen[2], chosen[3]} == {"m2", "m3"}
    assert (stats.unknown_targets, stats.unrouted, stats.delivered) == (2, 1, 4)
    assert stats.identity_errors() == []


async def test_a_target_outside_the_group_skips_the_group() -> None:
    """A group gets a targeted event only if one of its members is named, then that member."""
    got: list[str] = []
    router = NullRouter()
    for name, group in (("m1", "g"), ("m2", "g"), ("solo", None)):

        async def member(event: Event, name: str = name) -> None:
            got.append(name)

        router.subscribe(Subscription(service=name, pattern=">", queue_group=group), member)
    router.publish(msgspec.structs.replace(_event(1), targets=("solo",)))
    await router.start()
    router.publish(msgspec.structs.replace(_event(2), targets=("solo", "m2")))
    report = await router.drain(1.0)
    assert got == ["solo", "m2", "solo"]
    assert report.stats.identity_errors() == []


async def test_queue_group_delivers_to_one_member() -> None:
    """Members of a queue group share events: each event reaches exactly one of them."""
    got: list[str] = []
    router = NullRouter()
    for name in ("m1", "m2"):

        async def member(event: Event, name: str = name) -> None:
            got.append(name)

        router.subscribe(Subscription(service=name, pattern=">", queue_group="g"), member)
    await router.start()
    for seq in range(4):
        router.publish(_event(seq))
    await router.drain(1.0)
    assert got == ["m1", "m2", "m1", "m2"]


async def test_queue_group_skips_members_whose_pattern_does_not_match() -> None:
    """A group member subscribed to other subjects never gets this subject's events."""
    got: list[str] = []
    router = NullRouter()
    for name, pattern in (("fs", "fs.>"), ("db", "db.>"), ("all", ">")):

        async def member(event: Event, name: str = name) -> None:
            got.append(name)

        router.subscribe(Subscription(service=name, pattern=pattern, queue_group="g"), member)
    await router.start()
    for seq in range(4):
        router.publish(_event(seq))
    await router.drain(1.0)
    assert got == ["fs", "all", "fs", "all"]


class _BadAwaitable:
    def __await__(self):  # type: ignore[no-untyped-def]
        yield 42


async def test_a_bad_yield_fails_the_delivery_as_a_task_would() -> None:
    """A handler yielding a non-future fails its attempt, and the delivery dead-letters."""
    router = NullRouter()

    async def bad(event: Event) -> None:
        await asyncio.sleep(0)
        await _BadAwaitable()

    router.subscribe(Subscription(service="b", pattern=">", retry=RetryPolicy(attempts=1)), bad)
    await router.start()
    router.publish(_event(1))
    report = await router.drain(1.0)
    assert report.stats.dead_lettered == {"failed": 1}
    assert report.stats.identity_errors() == []


async def test_a_handler_that_returns_at_once_needs_no_task() -> None:
    """A delivery whose handler never awaits is delivered inside publish itself."""
    router = NullRouter()
    router.subscribe(Subscription(service="a", pattern=">"), _noop)
    await router.start()
    router.publish(_event(1))
    stats = router.stats()
    assert (stats.delivered, stats.pending) == (1, 0)
    await router.drain(1.0)


async def test_a_handler_raising_at_once_is_retried_then_dead_lettered() -> None:
    """A failure before the first await is attempt 1; the retries follow the policy."""
    calls: list[int] = []
    router = NullRouter()

    async def fails_at_once(event: Event) -> None:
        calls.append(event.seq)
        raise RuntimeError("boom")

    retry = RetryPolicy(attempts=3, backoff_base_s=0.0, backoff_cap_s=0.0)
    router.subscribe(Subscription(service="f", pattern=">", retry=retry), fails_at_once)
    await router.start()
    router.publish(_event(4))
    report = await router.drain(1.0)
    assert calls == [4, 4, 4]
    assert (report.stats.dead_lettered, report.stats.retries) == ({"failed": 1}, 2)
    assert report.stats.identity_errors() == []


async def test_a_handler_returning_a_future_is_awaited() -> None:
    """A plain function returning an awaitable (not a coroutine) is a valid handler."""
    router = NullRouter()
    futures: list[asyncio.Future[None]] = []

    def returns_future(event: Event) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        futures.append(future)
        return future

    router.subscribe(Subscription(service="f", pattern=">"), returns_future)
    await router.start()
    router.publish(_event(1))
    futures[0].set_result(None)
    report = await router.drain(1.0)
    assert (report.stats.delivered, report.stats.identity_errors()) == (1, [])


async def test_an_open_breaker_dead_letters_without_calling_the_handler() -> None:
    """Once failures open the breaker, on_open=dead_letter ends deliveries unattempted."""
    calls: list[int] = []
    router = NullRouter()

    async def fails_at_once(event: Event) -> None:
        calls.append(event.seq)
        raise RuntimeError("boom")

    breaker = BreakerPolicy(min_calls=2, window=2, open_s=60.0, on_open="dead_letter")
    sub = Subscription(service="f", pattern=">", retry=RetryPolicy(attempts=1), breaker=breaker)
    router.subscribe(sub, fails_at_once)
    await router.start()
    for seq in range(4):
        router.publish(_event(seq))
    report = await router.drain(1.0)
    assert calls == [0, 1]
    assert report.stats.dead_lettered == {"failed": 2, "breaker_open": 2}
    assert report.stats.identity_errors() == []


async def _noop(event: Event) -> None:
    return None


async def test_subscribe_is_refused_twice_and_while_draining() -> None:
    """A duplicate (service, pattern) or a subscription after drain is refused, as in routers."""
    router = NullRouter()
    router.subscribe(Subscription(service="a", pattern=">"), _noop)
    with pytest.raises(ConfigError, match="already registered"):
        router.subscribe(Subscription(service="a", pattern=">"), _noop)
    await router.start()
    await router.drain(1.0)
    with pytest.raises(RuntimeError, match="draining"):
        router.subscribe(Subscription(service="b", pattern=">"), _noop)
