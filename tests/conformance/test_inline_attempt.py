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
