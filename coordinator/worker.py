"""A module's worker: one event at a time, its handlers in turn (head-of-line blocking).

The defining property of the per-module design: a worker takes the next event
of its module's queue (highest priority first, FIFO within one) and runs each
of that event's copies through its pipeline, one after the other, so a slow
handler holds up every later event of the module. A worker runs up to
``worker_batch`` events or ``worker_slice_s`` seconds before yielding the loop,
and parks on a future (in ``DataCoordinator.idle``) when the queue is empty; a
publish wakes one parked worker. The loop is the coordinator's hot path: it
reads the module's fields directly, and for an event with one copy (the queue
tag is then the copy itself) it runs the first attempt and its success inline,
handing any failure to ``Pipeline.run`` (``first=failed_attempt(exc)``), which
judges it by the shared rules: a ``Pipeline.run`` coroutine per delivery cost
about as much as the rest of the worker's work on it (docs/benchmarks.md,
"Routing hot path"). tests/conformance/test_inline_attempt.py holds the copy to
``Pipeline.run``.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from coordinator.backlog import abandon_behind_nowait
from coordinator.registration import Registration
from events.delivery import Pipeline, WorkerSlot, failed_attempt

if TYPE_CHECKING:
    from coordinator.module import DataCoordinator


async def run_worker(module: DataCoordinator, slot: WorkerSlot) -> None:
    """Run ``module``'s events until drain closes the module and its queue is empty."""
    batch = module.worker_batch
    slice_s = module.worker_slice_s
    # The pipelines' clock times the slice.
    clock = module.clock
    # The four priority levels as locals, highest first: the pop tests each in turn.
    top, high, normal, low = module.levels
    loop = asyncio.get_running_loop()
    last: Registration | None = None
    while True:
        if not module.depth:
            if module.closing:
                return
            waiter: asyncio.Future[None] = loop.create_future()
            module.idle.append(waiter)
            await waiter
            continue
        budget = batch
        check = batch - 8 if batch > 8 else 0
        until = clock() + slice_s
        while True:
            budget -= 1
            # Highest priority first; depth > 0, so some level has an event.
            level = top or high or normal or low
            event = level.popleft()
            tag = level.popleft()
            size = level.popleft()  # its charge, measured once at publish
            module.depth -= 1
            if tag.__class__ is Registration:
                # One copy, nothing behind it to account for if cancelled: the common
                # case, with Pipeline.run's first attempt and its success inlined; a
                # failure goes back to run(), which judges it and retries.
                if tag is not last:
                    # Consecutive events of a module mostly go to the same copy: its
                    # fields as locals, read once per run of events (~30 ns a delivery
                    # less at fan-out 1: python -m bench micro --arch coordinator
                    # --breakdown, worker side 472-489 ns before, 442-455 after).
                    last = tag
                    breaker = tag.breaker
                    handler = tag.handler
                    # A deadline the watchdog stamps when it first sees the delivery.
                    unstamped = -tag.timeout_s
                    pipeline = tag.pipeline
                    run = tag.run
                tag.depth -= 1
                tag.nbytes -= size
                if breaker.state == "closed":
                    # No clock read: the watchdog starts the timeout when it first
                    # sees this delivery in flight, never before it began.
                    slot.deadline = unstamped
                    try:
                        await handler(event)
                    except BaseException as exc:
                        await run(event, slot, failed_attempt(exc))
                    else:
                        # The deadline stays until the next stamp or the end of the run
                        # (nothing awaits in between, so the watchdog cannot see it).
                        if slot.timed_out:
                            # The handler swallowed the watchdog's cancellation: it counts.
                            Pipeline.forgive_timeout(slot)
                        if breaker.state == "closed":
                            # Counts it delivered too (Pipeline.delivered).
                            breaker.closed_successes += 1
                        else:
                            breaker.on_success()
                            pipeline.other_delivered += 1
                else:
                    slot.deadline = 0.0  # run() may wait for the breaker first
                    await run(event, slot)
                if not module.depth:
                    break
                # The batch ends at 0, and the slice is checked every 8th delivery: a
                # clock read each time cost ~45 ns a delivery, and a CPU-heavy backlog
                # overruns the slice by at most 7. (Compares, not ``budget & 7``: the
                # interpreter specializes int compares and subtraction, not ``&``.)
                if budget <= check:
                    if budget <= 0 or clock() >= until:
                        break
                    check = budget - 8 if budget > 8 else 0
                continue
            slot.deadline = 0.0  # Pipeline.run may wait for a breaker first
            cancelled: set[Registration] | None = None
            if tag.__class__ is tuple:
                copies = tag
                for copy in copies:
                    copy.depth -= 1
                    copy.nbytes -= size
            else:
                copies = tag.copies
                cancelled = tag.cancelled
                for copy in copies:
                    if cancelled is None or copy not in cancelled:
                        copy.take_nowait(tag, event.priority)
            index = 0
            try:
                for index, copy in enumerate(copies):  # noqa: B007 (read by except)
                    if cancelled is None or copy not in cancelled:
                        await copy.run(event, slot)
            except asyncio.CancelledError:
                # Drain gave up: the delivery at ``index`` ended in Pipeline.run
                # (as drain_timeout); the ones behind it end here.
                abandon_behind_nowait(event, copies[index + 1 :], cancelled)
                raise
            if not budget or not module.depth:
                break
            if clock() >= until:
                break
        slot.deadline = 0.0
        if module.depth:
            # Batch or time slice used up: a long backlog must not starve
            # publishers and the other modules.
            await asyncio.sleep(0)
