"""The end of a router's life, shared by both architectures: stop workers, report.

Both routers drain the same way (design §2): let workers finish for up to the
timeout, cancel what is still running (a handler may swallow one cancellation,
so keep asking), stop the timeout watchdog, and report whether everything ended
in time with the accounting balanced.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Collection

from events.model import DrainReport, RouterStats


async def end_workers(
    tasks: Collection[asyncio.Task[None]], timeout_s: float, in_flight: Callable[[], int]
) -> tuple[bool, int]:
    """Wait up to ``timeout_s`` for ``tasks``, then cancel the rest until they end.

    Returns (every worker finished in time, deliveries in flight when time ran out).
    """
    unfinished = set(tasks)
    if unfinished:
        _, unfinished = await asyncio.wait(unfinished, timeout=max(timeout_s, 0.0))
    completed = not unfinished
    timed_out = in_flight() if unfinished else 0
    while unfinished:
        for task in unfinished:
            task.cancel()
        _, unfinished = await asyncio.wait(unfinished, timeout=0.1)
    return completed, timed_out


async def finish_drain(
    *,
    began: float,
    completed: bool,
    timed_out: int,
    stats: Callable[[], RouterStats],
    workers: Collection[asyncio.Task[None]],
    watchdog: asyncio.Task[None] | None,
    what: str,
) -> DrainReport:
    """Stop the watchdog and build the report; raise if a worker crashed.

    ``completed`` holds only when every worker ended in time, nothing was given
    up on, nothing is pending and the accounting identity balances.
    """
    if watchdog is not None:
        watchdog.cancel()
        await asyncio.gather(watchdog, return_exceptions=True)
    failures = [task.exception() for task in workers if not task.cancelled() and task.exception()]
    snapshot = stats()
    report = DrainReport(
        completed=completed
        and not timed_out
        and not snapshot.pending
        and not snapshot.identity_errors(),
        duration_s=time.monotonic() - began,
        timed_out=timed_out,
        stats=snapshot,
    )
    if failures:
        raise RuntimeError(f"{len(failures)} {what} worker(s) crashed") from failures[0]
    return report
