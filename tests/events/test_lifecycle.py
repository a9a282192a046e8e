"""events.lifecycle: drain waits, cancels for a bounded grace, then abandons (and says so)."""

from __future__ import annotations

import asyncio
import contextlib

import anyio
import pytest

from events.lifecycle import (
    CANCEL_GRACE_MAX_S,
    CANCEL_GRACE_MIN_S,
    cancel_grace_s,
    end_workers,
    finish_drain,
)
from events.model import RouterStats

pytestmark = pytest.mark.anyio


class Stubborn:
    """A worker body that swallows every cancellation until released."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.started = asyncio.Event()
        self.cancels = 0

    async def __call__(self) -> None:
        self.started.set()
        while not self.release.is_set():
            try:
                await self.release.wait()
            except asyncio.CancelledError:
                self.cancels += 1


def _stats(pending: int) -> RouterStats:
    return RouterStats(
        published=1,
        accepted=1,
        rejected={},
        unrouted=0,
        unknown_targets=0,
        deliveries=1,
        delivered=1 - pending,
        dead_lettered={},
        dropped={},
        retries=0,
        pending=pending,
        dead_letter_store=0,
    )


@pytest.mark.parametrize(
    ("timeout_s", "expected"),
    [(0.0, CANCEL_GRACE_MIN_S), (1.0, 1.0), (3600.0, CANCEL_GRACE_MAX_S)],
)
def test_grace_follows_the_timeout_within_bounds(timeout_s: float, expected: float) -> None:
    """The grace is the drain timeout, kept between the floor and the cap."""
    assert cancel_grace_s(timeout_s) == expected


async def test_workers_that_end_in_time_are_not_cancelled() -> None:
    """Workers finishing before the timeout: in time, nothing timed out, none abandoned."""
    tasks = [asyncio.create_task(asyncio.sleep(0)) for _ in range(3)]
    ended = await end_workers(tasks, 5.0, lambda: 99)
    assert (
        ended.in_time,
        ended.timed_out,
        ended.abandoned,
        [task.cancelled() for task in tasks],
    ) == (True, 0, (), [False] * 3)


async def test_a_handler_that_swallows_one_cancellation_still_ends() -> None:
    """A worker that ignores the first cancel but ends on the next is not abandoned."""
    release = asyncio.Event()

    async def swallow_once() -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await release.wait()
        await release.wait()

    task = asyncio.create_task(swallow_once())
    await asyncio.sleep(0)
    with anyio.fail_after(10):
        ended = await end_workers([task], 0.0, lambda: 1, grace_s=5.0)
    assert (ended.in_time, ended.timed_out, ended.abandoned, task.done()) == (False, 1, (), True)


async def test_a_handler_that_swallows_every_cancellation_is_abandoned() -> None:
    """A worker outliving every cancel is given up on, kept and reported, and drain returns."""
    stubborn = Stubborn()
    task = asyncio.create_task(stubborn(), name="stubborn")
    quick = asyncio.create_task(asyncio.sleep(3600))
    await stubborn.started.wait()
    try:
        with anyio.fail_after(10):
            ended = await end_workers([quick, task], 0.0, lambda: 2, grace_s=0.05)
        abandoned_running = not task.done()
    finally:
        stubborn.release.set()
    with anyio.fail_after(10):
        await task
    assert (
        ended.in_time,
        ended.timed_out,
        ended.abandoned,
        abandoned_running,
        quick.cancelled(),
    ) == (False, 2, (task,), True, True)
    assert stubborn.cancels >= 1


async def test_finish_drain_reports_abandoned_workers_without_inspecting_them() -> None:
    """A report with an abandoned (still running) worker is not completed and counts it."""
    stubborn = Stubborn()
    task = asyncio.create_task(stubborn())
    await stubborn.started.wait()
    try:
        report = await finish_drain(
            began=0.0,
            completed=False,
            timed_out=1,
            stats=lambda: _stats(pending=1),
            workers=[task],
            watchdog=None,
            what="test",
            abandoned=1,
        )
    finally:
        stubborn.release.set()
    await task
    assert (
        report.completed,
        report.abandoned_workers,
        report.timed_out,
        report.stats.pending,
    ) == (False, 1, 1, 1)


async def test_finish_drain_still_raises_for_a_crashed_worker() -> None:
    """A worker that ended with an exception makes drain raise, naming the router kind."""

    async def crash() -> None:
        raise ValueError("boom")

    task = asyncio.create_task(crash())
    await asyncio.gather(task, return_exceptions=True)
    with pytest.raises(RuntimeError, match="1 test worker"):
        await finish_drain(
            began=0.0,
            completed=True,
            timed_out=0,
            stats=lambda: _stats(pending=0),
            workers=[task],
            watchdog=None,
            what="test",
        )
