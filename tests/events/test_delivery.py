"""The shared delivery pipeline: attempts, timeouts, permanent failures, drain."""

from __future__ import annotations

import asyncio

import pytest

from events import (
    BreakerPolicy,
    Category,
    DeadLetterStore,
    Event,
    Permanent,
    Pipeline,
    RetryPolicy,
    Subscription,
    TimeoutWatchdog,
    WorkerSlot,
)

pytestmark = pytest.mark.anyio

EVENT = Event(id="e1", subject="fs.file.created", category=Category.FILESYSTEM, source="t")
FAST_RETRY = RetryPolicy(attempts=3, backoff_base_s=0.001, backoff_cap_s=0.002)


def make(handler: object, **fields: object) -> tuple[Pipeline, WorkerSlot, DeadLetterStore]:
    sub = Subscription(service="s", pattern="fs.>", retry=FAST_RETRY, **fields)  # type: ignore[arg-type]
    store = DeadLetterStore(10)
    pipeline = Pipeline(sub, handler, store, seed=1)  # type: ignore[arg-type]
    slot = WorkerSlot()
    return pipeline, slot, store


async def run_in_task(pipeline: Pipeline, slot: WorkerSlot) -> None:
    async def body() -> None:
        await pipeline.run(EVENT, slot)

    slot.task = asyncio.ensure_future(body())
    await slot.task


async def test_success_first_time() -> None:
    """A handler that returns delivers on the first attempt."""
    seen: list[str] = []

    async def handler(event: Event) -> None:
        seen.append(event.id)

    pipeline, slot, store = make(handler)
    await run_in_task(pipeline, slot)
    assert (seen, pipeline.delivered, pipeline.retries, len(store)) == (["e1"], 1, 0, 0)


async def test_retries_then_succeeds() -> None:
    """Two failures then a success: delivered, with two retries counted."""
    calls = 0

    async def handler(event: Event) -> None:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise RuntimeError("flaky")

    pipeline, slot, _ = make(handler)
    await run_in_task(pipeline, slot)
    assert (calls, pipeline.delivered, pipeline.retries) == (3, 1, 2)


async def test_exhausted_attempts_dead_letter() -> None:
    """A handler that always fails is dead-lettered after its attempts, with the error."""

    async def handler(event: Event) -> None:
        raise RuntimeError("down")

    pipeline, slot, store = make(handler)
    await run_in_task(pipeline, slot)
    entry = store.entries[0]
    assert (pipeline.dead_lettered, entry.attempts, entry.reason) == ({"failed": 1}, 3, "failed")
    assert "down" in entry.error


async def test_permanent_dead_letters_at_once() -> None:
    """Permanent skips the retries."""
    calls = 0

    async def handler(event: Event) -> None:
        nonlocal calls
        calls += 1
        raise Permanent("bad payload")

    pipeline, slot, store = make(handler)
    await run_in_task(pipeline, slot)
    assert (calls, pipeline.dead_lettered, store.entries[0].attempts) == (1, {"permanent": 1}, 1)


async def test_timeout_counts_as_failure() -> None:
    """A handler that hangs past timeout_s is cancelled by the watchdog and retried."""
    calls = 0

    async def handler(event: Event) -> None:
        nonlocal calls
        calls += 1
        await asyncio.Event().wait()

    pipeline, slot, store = make(handler, timeout_s=0.01)
    watchdog = TimeoutWatchdog(tick_s=0.002)
    watchdog.slots.append(slot)
    dog = asyncio.ensure_future(watchdog.run())
    try:
        await asyncio.wait_for(run_in_task(pipeline, slot), 5)
    finally:
        dog.cancel()
    assert (calls, pipeline.dead_lettered, watchdog.fired) == (3, {"timeout": 1}, 3)
    assert store.entries[0].reason == "timeout"


async def test_cancel_in_flight_accounts_drain_timeout() -> None:
    """A cancellation that is not a timeout ends the delivery as drain_timeout, once."""
    started = asyncio.Event()

    async def handler(event: Event) -> None:
        started.set()
        await asyncio.Event().wait()

    pipeline, slot, _ = make(handler)
    task = asyncio.ensure_future(run_in_task(pipeline, slot))
    await started.wait()
    assert slot.task is not None
    slot.task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (pipeline.dead_lettered, pipeline.ended) == ({"drain_timeout": 1}, 1)


async def test_open_breaker_dead_letters_by_policy() -> None:
    """With on_open='dead_letter', a delivery meeting an open breaker is dead-lettered."""

    async def handler(event: Event) -> None:
        raise RuntimeError("down")

    breaker = BreakerPolicy(failure_ratio=1.0, min_calls=1, window=1, on_open="dead_letter")
    pipeline, slot, store = make(handler, breaker=breaker)
    await run_in_task(pipeline, slot)
    await run_in_task(pipeline, slot)
    assert pipeline.dead_lettered == {"breaker_open": 2}
    assert [e.attempts for e in store.entries] == [1, 0]


async def test_handler_raising_cancelled_error_is_a_failure() -> None:
    """A CancelledError the handler raises itself (nobody cancelled) fails the attempt only."""

    async def handler(event: Event) -> None:
        raise asyncio.CancelledError("raised by the handler")

    pipeline, slot, store = make(handler)
    await run_in_task(pipeline, slot)
    assert (pipeline.dead_lettered, store.entries[0].attempts) == ({"failed": 1}, 3)


def test_watchdog_stamps_an_unstamped_deadline_then_fires_after_the_timeout() -> None:
    """``-timeout_s`` means begun, unstamped: the first look stamps it; only a later one fires."""
    now = [100.0]
    watchdog = TimeoutWatchdog(tick_s=0.01, clock=lambda: now[0])

    async def scenario() -> list[tuple[int, float, bool]]:
        slot = WorkerSlot()
        slot.task = asyncio.create_task(asyncio.sleep(3600))
        watchdog.slots.append(slot)
        slot.deadline = -0.5
        seen = []
        for t in (100.0, 100.4, 100.5):
            now[0] = t
            seen.append((watchdog.check_nowait(), slot.deadline, slot.timed_out))
        slot.task.cancel()
        await asyncio.gather(slot.task, return_exceptions=True)
        return seen

    expected = [(0, 100.5, False), (0, 100.5, False), (1, 100.5, True)]
    assert expected == asyncio.run(scenario())


def test_delivered_counts_closed_successes_and_the_others_once_each() -> None:
    """``delivered`` is the breaker's closed successes plus the rest; a fold changes neither.

    The workers count a success while closed only in ``breaker.closed_successes``;
    jetstream and successes while not closed count ``delivered`` themselves.
    """

    async def handler(event: Event) -> None:
        return None

    pipeline, _, _ = make(handler)
    breaker = pipeline.breaker
    breaker.closed_successes += 3
    pipeline.delivered += 1
    breaker.on_failure()  # folds the three into the window
    breaker.closed_successes += 2
    pipeline.delivered += 1
    assert (
        pipeline.delivered,
        pipeline.other_delivered,
        breaker.closed_successes,
        breaker._calls,
    ) == (7, 2, 5, 4)
