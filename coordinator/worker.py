"""A module's worker: one event at a time, its handlers in turn (head-of-line blocking).

The defining property of the per-module design: a worker takes the next event
of its module's queue (highest priority first, FIFO within one) and runs each
of that event's copies through its pipeline, one after the other, so a slow
handler holds up every later event of the module. A worker runs up to
``worker_batch`` events or ``worker_slice_s`` seconds before yielding the loop,
and parks on a future (in ``DataCoordinator.idle``) when the queue is empty; a
publish wakes one parked worker. The loop is the coordinator's hot path: it
reads the module's fields directly.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from coordinator.backlog import abandon_behind_nowait
from coordinator.registration import Registration
from events.delivery import WorkerSlot
from events.model import header_bytes

if TYPE_CHECKING:
    from coordinator.module import DataCoordinator


async def run_worker(module: DataCoordinator, slot: WorkerSlot) -> None:
    """Run ``module``'s events until drain closes the module and its queue is empty."""
    batch = module.worker_batch
    slice_s = module.worker_slice_s
    clock = time.perf_counter
    levels = module.levels
    loop = asyncio.get_running_loop()
    while True:
        if not module.depth:
            if module.closing:
                return
            waiter: asyncio.Future[None] = loop.create_future()
            module.idle.append(waiter)
            await waiter
            continue
        budget = batch
        until = clock() + slice_s
        while budget and module.depth and clock() < until:
            budget -= 1
            # Highest priority first; depth > 0, so some level has an event.
            level = levels[0] or levels[1] or levels[2] or levels[3]
            event = level.popleft()
            tag = level.popleft()
            module.depth -= 1
            # events.event_size, inlined: the same sum the intake added.
            size = len(event.subject) + len(event.payload)
            if event.headers:
                size += header_bytes(event.headers)
            cancelled: set[Registration] | None = None
            if tag.__class__ is tuple:
                copies = tag
                if len(copies) == 1:
                    # One copy, nothing behind it to account for if cancelled.
                    copy = copies[0]
                    copy.depth -= 1
                    copy.nbytes -= size
                    await copy.run(event, slot)
                    continue
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
        if module.depth:
            # Batch or time slice used up: a long backlog must not starve
            # publishers and the other modules.
            await asyncio.sleep(0)
