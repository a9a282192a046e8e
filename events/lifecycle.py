"""The end of a router's life, shared by both architectures: stop workers, report.

Both routers drain the same way, so a comparison measures topology and not care: let
workers finish for up to the timeout, then cancel what is still running. A handler may swallow a
cancellation (or clean up before it lets go), so cancelling repeats every
:data:`CANCEL_ROUND_S`, but only for a bounded grace (:func:`cancel_grace_s`):
a handler that swallows every cancellation must not keep a daemon from shutting
down. Workers still running after the grace are *abandoned*: drain stops
waiting for them but the router keeps its references to them (nothing is lost,
and a handler that comes back later still ends its delivery exactly once).
Their deliveries have ended neither as delivered nor as dead-lettered, so they
stay ``pending`` in the report, which is then not ``completed``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection
from typing import NamedTuple

from events.model import DrainReport, RouterStats

log = logging.getLogger(__name__)

#: How long each round of cancellation waits before cancelling again (seconds).
CANCEL_ROUND_S = 0.1
#: The grace never falls below this: a few rounds, for handlers that clean up on cancel.
CANCEL_GRACE_MIN_S = 0.25
#: Nor exceeds this: a long drain budget must not double the time a shutdown takes.
CANCEL_GRACE_MAX_S = 5.0


def cancel_grace_s(timeout_s: float) -> float:
    """How long cancelling goes on after a drain of ``timeout_s`` ran out.

    As long as the drain itself, kept within [CANCEL_GRACE_MIN_S, CANCEL_GRACE_MAX_S]:
    a drain therefore takes at most ``timeout_s + cancel_grace_s(timeout_s)``.
    """
    return min(max(timeout_s, CANCEL_GRACE_MIN_S), CANCEL_GRACE_MAX_S)


class WorkersEnded(NamedTuple):
    """How :func:`end_workers` went."""

    #: Every worker finished within the timeout, unasked.
    in_time: bool
    #: Deliveries in flight when the timeout ran out.
    timed_out: int
    #: Workers still running after the grace, in the order given: drain gave up on them.
    abandoned: tuple[asyncio.Task[None], ...]


async def end_workers(
    tasks: Collection[asyncio.Task[None]],
    timeout_s: float,
    in_flight: Callable[[], int],
    *,
    grace_s: float | None = None,
) -> WorkersEnded:
    """Wait up to ``timeout_s`` for ``tasks``, then cancel the rest for up to ``grace_s``.

    ``grace_s`` defaults to :func:`cancel_grace_s` of the timeout. Never waits
    longer than ``timeout_s + grace_s`` (plus a loop turn); the caller keeps its
    references to the abandoned tasks.
    """
    unfinished = set(tasks)
    if unfinished:
        _, unfinished = await asyncio.wait(unfinished, timeout=max(timeout_s, 0.0))
    in_time = not unfinished
    timed_out = in_flight() if unfinished else 0
    grace = cancel_grace_s(timeout_s) if grace_s is None else max(grace_s, 0.0)
    loop = asyncio.get_running_loop()
    give_up_at = loop.time() + grace
    while unfinished:
        for task in unfinished:
            task.cancel()
        left = give_up_at - loop.time()
        if left <= 0:
            break
        _, unfinished = await asyncio.wait(unfinished, timeout=min(CANCEL_ROUND_S, left))
    abandoned = tuple(task for task in tasks if task in unfinished)
    if abandoned:
        log.warning(
            "drain abandoned %d worker(s) still running after %.3gs of cancellation: %s",
            len(abandoned),
            grace,
            ", ".join(task.get_name() for task in abandoned),
        )
    return WorkersEnded(in_time, timed_out, abandoned)


async def finish_drain(
    *,
    began: float,
    completed: bool,
    timed_out: int,
    stats: Callable[[], RouterStats],
    workers: Collection[asyncio.Task[None]],
    watchdog: asyncio.Task[None] | None,
    what: str,
    abandoned: int = 0,
) -> DrainReport:
    """Stop the watchdog and build the report; raise if a worker crashed.

    ``completed`` holds only when every worker ended in time, nothing was given
    up on or abandoned, nothing is pending and the accounting identity balances.
    Abandoned workers (still running) are not examined for a crash.
    """
    if watchdog is not None:
        watchdog.cancel()
        await asyncio.gather(watchdog, return_exceptions=True)
    failures = [
        task.exception()
        for task in workers
        if task.done() and not task.cancelled() and task.exception()
    ]
    snapshot = stats()
    report = DrainReport(
        completed=completed
        and not timed_out
        and not abandoned
        and not snapshot.pending
        and not snapshot.identity_errors(),
        duration_s=time.monotonic() - began,
        timed_out=timed_out,
        stats=snapshot,
        abandoned_workers=abandoned,
    )
    if failures:
        raise RuntimeError(f"{len(failures)} {what} worker(s) crashed") from failures[0]
    return report
