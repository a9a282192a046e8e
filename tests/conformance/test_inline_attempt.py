"""The workers' inlined first attempt ends every delivery exactly as ``Pipeline.run`` would.

Both in-process routers run a delivery's first attempt, and its success, in the
worker loop itself and hand any failure to ``Pipeline.run`` (``first=``
``failed_attempt(exc)``); breaker successes are folded in lazily. The same
scripted handler outcomes (success, failure, permanent failure, a handler that
raises ``CancelledError`` itself, one that hangs past its timeout, one that
swallows the watchdog's cancellation and returns) go through each router's
worker and through ``Pipeline.run`` alone, one delivery after another; the
calls, counters, dead letters and breaker must be the same. (jetstream has its
own attempt loop, tested in tests/jetstream.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from coordinator import CoordinatorConfig, CoordinatorRouter
from daemon import CentralRouter, RouterConfig
from events import (
    BreakerPolicy,
    Category,
    DeadLetterStore,
    Event,
    Permanent,
    Pipeline,
    RetryPolicy,
    Router,
    Subscription,
    TimeoutWatchdog,
    WorkerSlot,
)
from tests.conformance.helpers import until

TICK_S = 0.005
TIMEOUT_S = 0.02

#: One attempt's outcome; hanging ones are rarer (each costs a timeout).
outcome_st = st.sampled_from(["ok"] * 6 + ["fail"] * 3 + ["permanent", "cancel", "hang", "swallow"])
#: Per event, the outcomes of its attempts in turn (attempts beyond the script succeed).
script_st = st.lists(st.lists(outcome_st, max_size=3), max_size=12)
#: (attempts, breaker min_calls, window - min_calls).
policy_st = st.tuples(st.integers(1, 3), st.integers(1, 4), st.integers(0, 4))

Observed = tuple[object, ...]


def _subscription(attempts: int, min_calls: int, extra: int) -> Subscription:
    return Subscription(
        service="s",
        pattern="fs.>",
        timeout_s=TIMEOUT_S,
        retry=RetryPolicy(attempts=attempts, backoff_base_s=0.0, backoff_cap_s=0.0),
        # Never half-opens within a test (open_s), and never waits while open.
        breaker=BreakerPolicy(
            failure_ratio=0.5,
            min_calls=min_calls,
            window=min_calls + extra,
            open_s=600.0,
            on_open="dead_letter",
        ),
    )


def _scripted(script: list[list[str]], calls: list[tuple[str, int]]) -> Callable[..., object]:
    """A handler playing ``script``: event ``e<n>``'s attempt k does ``script[n][k]``."""
    tries: dict[str, int] = {}

    async def handler(event: Event) -> None:
        attempt = tries.get(event.id, 0)
        tries[event.id] = attempt + 1
        calls.append((event.id, attempt))
        outcomes = script[int(event.id[1:])]
        outcome = outcomes[attempt] if attempt < len(outcomes) else "ok"
        if outcome == "fail":
            raise RuntimeError(f"{event.id} attempt {attempt}")
        if outcome == "permanent":
            raise Permanent(f"{event.id} refused")
        if outcome == "cancel":
            raise asyncio.CancelledError()
        if outcome == "hang":
            await asyncio.Event().wait()
        if outcome == "swallow":
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                return

    return handler


def _events(script: list[list[str]]) -> list[Event]:
    return [
        Event(id=f"e{n}", subject="fs.file.created", category=Category.FILESYSTEM, source="t")
        for n in range(len(script))
    ]


def _observed(pipeline: Pipeline, calls: list[tuple[str, int]]) -> Observed:
    breaker = pipeline.breaker
    breaker._fold()
    letters = [
        (d.event.id, d.service, d.reason, d.attempts, d.error)
        for d in pipeline.dead_letters.entries
    ]
    return (
        calls,
        pipeline.delivered,
        pipeline.retries,
        pipeline.dead_lettered,
        pipeline.dropped,
        letters,
        (breaker.state, breaker.opened, breaker._calls, breaker._failures),
    )


async def _reference(sub: Subscription, script: list[list[str]]) -> Observed:
    """``Pipeline.run`` alone, one delivery after another, under a watchdog of the same tick."""
    calls: list[tuple[str, int]] = []
    pipeline = Pipeline(sub, _scripted(script, calls), DeadLetterStore(), seed=0)  # type: ignore[arg-type]
    watchdog = TimeoutWatchdog(TICK_S)
    slot = WorkerSlot()
    watchdog.slots.append(slot)

    async def deliver_all() -> None:
        for event in _events(script):
            await pipeline.run(event, slot)

    ticking = asyncio.create_task(watchdog.run())
    slot.task = asyncio.create_task(deliver_all())
    await slot.task
    ticking.cancel()
    await asyncio.gather(ticking, return_exceptions=True)
    return _observed(pipeline, calls)


def _daemon() -> tuple[Router, Callable[[], Pipeline]]:
    router = CentralRouter(RouterConfig(seed=0, watchdog_tick_s=TICK_S))
    return router, lambda: router._boxes[0].pipeline


def _coordinator() -> tuple[Router, Callable[[], Pipeline]]:
    router = CoordinatorRouter(CoordinatorConfig(seed=0, watchdog_tick_s=TICK_S))
    return router, lambda: router.modules[Category.FILESYSTEM].copies[0].pipeline


ROUTERS = {"daemon": _daemon, "coordinator": _coordinator}


async def _through_router(name: str, sub: Subscription, script: list[list[str]]) -> Observed:
    """Every event published before start, then one worker runs them all."""
    router, pipeline_of = ROUTERS[name]()
    calls: list[tuple[str, int]] = []
    router.subscribe(sub, _scripted(script, calls))  # type: ignore[arg-type]
    for event in _events(script):
        assert router.publish(event).ok
    await router.start()
    report = await router.drain(30.0)
    assert (report.completed, report.stats.identity_errors()) == (True, [])
    return _observed(pipeline_of(), calls)


@pytest.mark.parametrize("name", sorted(ROUTERS))
@settings(max_examples=60, deadline=None)
@given(script=script_st, policy=policy_st)
@example(script=[["hang"], ["swallow"], ["cancel", "ok"]], policy=(2, 1, 0))
@example(script=[["fail"], ["fail"], ["ok"], ["fail", "fail"], ["ok"]], policy=(1, 2, 1))
@example(script=[["ok"]] * 7 + [["fail"], ["fail"], ["fail"]], policy=(1, 2, 2))
def test_inlined_first_attempt_matches_pipeline_run(
    name: str, script: list[list[str]], policy: tuple[int, int, int]
) -> None:
    """Same handler calls, counters, dead letters and breaker as ``Pipeline.run`` alone."""
    sub = _subscription(*policy)
    expected = asyncio.run(_reference(sub, script))
    actual = asyncio.run(_through_router(name, sub, script))
    assert expected == actual


@pytest.mark.parametrize("name", sorted(ROUTERS))
def test_a_success_leaves_no_deadline_behind_for_a_breaker_wait(name: str) -> None:
    """A worker that succeeds inline, then meets an open breaker, waits without a timeout firing.

    After an inline success the worker leaves the deadline to the next stamp. Here
    another worker's failure opens the breaker while the first worker's handler is
    suspended, so its next event goes to ``Pipeline.run``, which waits out the open
    breaker (longer than the handler timeout) before any attempt: a deadline left
    from the success would have the watchdog cancel that wait.
    """

    async def scenario() -> tuple[list[str], dict[str, int], int, list[str]]:
        gate = asyncio.Event()
        calls: list[str] = []

        async def handler(ev: Event) -> None:
            calls.append(ev.id)
            if ev.id == "e1":
                await gate.wait()  # worker A, suspended until B has failed
            elif ev.id == "e2":
                gate.set()
                raise RuntimeError("opens the breaker")

        sub = Subscription(
            service="s",
            pattern="fs.>",
            concurrency=2,
            timeout_s=TIMEOUT_S,
            retry=RetryPolicy(attempts=1),
            breaker=BreakerPolicy(
                failure_ratio=0.5, min_calls=1, window=4, open_s=5 * TIMEOUT_S, half_open_probes=1
            ),
        )
        router, _ = ROUTERS[name]()
        router.subscribe(sub, handler)
        # e0 warms the route cache (the coordinator queues a first, uncached event on
        # its general path), so e1 onwards take the inlined one.
        for event in _events([["ok"]] * 5):
            assert router.publish(event).ok
        await router.start()
        report = await router.drain(10.0)
        stats = report.stats
        return calls, stats.dead_lettered, stats.delivered, stats.identity_errors()

    calls, dead_lettered, delivered, errors = asyncio.run(scenario())
    # A: e0, then e1 (held); B: e2 fails and opens the breaker, then waits with e3;
    # A's e1 succeeds and A waits with e4.
    assert (sorted(calls), dead_lettered, delivered, errors) == (
        ["e0", "e1", "e2", "e3", "e4"],
        {"failed": 1},
        4,
        [],
    )


@pytest.mark.parametrize("name", sorted(ROUTERS))
def test_an_idle_worker_keeps_no_deadline_from_its_last_success(name: str) -> None:
    """A worker idle for longer than the timeout after an inline success is not cancelled.

    The deadline a success leaves is cleared when the worker's run ends, before it
    parks: otherwise the watchdog would cancel the parked worker and the next event
    would wait for nobody.
    """

    async def scenario() -> tuple[int, dict[str, int], list[str]]:
        router, _ = ROUTERS[name]()

        async def handler(ev: Event) -> None:
            return None

        router.subscribe(Subscription(service="s", pattern="fs.>", timeout_s=TIMEOUT_S), handler)
        first, second, third = _events([["ok"]] * 3)
        await router.start()
        # The first publish is the coordinator's general path; the second is inlined.
        for event in (first, second):
            assert router.publish(event).ok
        await until(lambda: router.stats().delivered == 2)
        # Parked past the success's deadline, with the watchdog ticking.
        await asyncio.sleep(4 * TIMEOUT_S)
        assert router.publish(third).ok
        await until(lambda: router.stats().delivered == 3)
        stats = (await router.drain(10.0)).stats
        return stats.delivered, stats.dead_lettered, stats.identity_errors()

    assert asyncio.run(scenario()) == (3, {}, [])
