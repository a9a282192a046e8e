"""The centralised router's subscriptions: each one's mailbox and workers, from subscribe to gone.

A subscription is *routed* (in the route table, its mailbox open) until it is
unsubscribed; it is then *leaving*: out of routing at once, its workers
finishing what its mailbox holds for up to a timeout, the rest ending as
``drain_timeout``. Once its workers have ended it is *retired*: its final
counters are folded into :class:`events.stats.DeliveryTotals`, so the router's
totals still balance. A subscription whose worker outlived every cancellation
(see ``events.lifecycle``) is *stranded* instead: it stays live, since what that
worker holds may still end, and its tasks stay referenced.

``boxes`` and ``services`` are updated in place, never rebound: the router
holds them directly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from daemon.router.mailbox import Mailbox
from daemon.router.routes import RouteTable
from events.delivery import (
    DL_DRAIN_TIMEOUT,
    DeadLetterStore,
    Handler,
    Pipeline,
    TimeoutWatchdog,
    WorkerSlot,
)
from events.errors import ConfigError
from events.lifecycle import end_workers
from events.model import SubscriptionStats
from events.stats import DeliveryTotals
from events.subscription import Subscription

#: A worker's body: what a worker task runs for one mailbox.
Work = Callable[[Mailbox, WorkerSlot], Coroutine[Any, Any, None]]


class Subscriptions:
    """Every subscription's mailbox and workers, and the route table kept in step with them."""

    def __init__(
        self,
        routes: RouteTable,
        dead_letters: DeadLetterStore,
        watchdog: TimeoutWatchdog,
        seed: int | None,
    ) -> None:
        self.routes = routes
        self.dead_letters = dead_letters
        self.watchdog = watchdog
        #: Seed of the backoff jitter: subscription i gets seed + i.
        self.seed = seed
        #: Routed mailboxes, in subscription (routing) order.
        self.boxes: list[Mailbox] = []
        #: Services of the routed subscriptions: what an explicit target may name.
        self.services: set[str] = set()
        #: Every worker task of the router (strong references; the stranded ones too).
        self.tasks: list[asyncio.Task[None]] = []
        #: Each mailbox's workers, so an unsubscribe can stop exactly those.
        self.workers: dict[Mailbox, list[WorkerSlot]] = {}
        #: Unsubscribed mailboxes still draining, with the task that drains each.
        self.leaving: dict[Mailbox, asyncio.Task[SubscriptionStats]] = {}
        #: Counters of subscriptions that are gone, kept so the totals still balance.
        self.retired = DeliveryTotals()
        #: Unsubscribed mailboxes whose workers outlived every cancellation.
        self.stranded: list[Mailbox] = []
        self._added = 0

    def live(self) -> list[Mailbox]:
        """Mailboxes with deliveries possibly under way: routed, leaving and stranded ones."""
        return [*self.boxes, *self.leaving, *self.stranded]

    def add_nowait(self, sub: Subscription, handler: Handler) -> Mailbox:
        """Route ``sub`` from now on, to a new mailbox; raise ``ConfigError`` for a duplicate."""
        if any(box.sub.key == sub.key for box in self.boxes):
            raise ConfigError(f"subscription {sub.key!r} is already registered")
        seed = None if self.seed is None else self.seed + self._added
        box = Mailbox(Pipeline(sub, handler, self.dead_letters, seed=seed))
        self.routes.add_nowait(box)
        self._added += 1
        self.boxes.append(box)
        self.services.add(sub.service)
        return box

    def spawn_nowait(self, box: Mailbox, work: Work) -> None:
        """Start ``box``'s ``concurrency`` workers, each with a slot at the watchdog."""
        for index in range(box.sub.concurrency):
            slot = WorkerSlot()
            task = asyncio.create_task(work(box, slot), name=f"worker {box.sub.key} #{index}")
            slot.task = task
            self.watchdog.slots.append(slot)
            self.workers.setdefault(box, []).append(slot)
            box.slots.append(slot)
            self.tasks.append(task)

    def remove_nowait(
        self, service: str, pattern: str, *, timeout_s: float
    ) -> asyncio.Task[SubscriptionStats]:
        """Stop routing to a subscription now; answer the task that drains it.

        See ``CentralRouter.unsubscribe_nowait``. A subscription already leaving
        answers the same task; an unknown one is a ``ConfigError``.
        """
        key = f"{service}|{pattern}"
        box = next((b for b in self.boxes if b.sub.key == key), None)
        if box is None:
            leaving = [task for b, task in self.leaving.items() if b.sub.key == key]
            if leaving:
                return leaving[-1]
            raise ConfigError(f"subscription {service!r} on {pattern!r} is not registered")
        self.boxes.remove(box)
        self.services.clear()
        self.services.update(b.sub.service for b in self.boxes)
        self.routes.rebuild_nowait(self.boxes)
        box.close_nowait()
        task = asyncio.create_task(self._leave(box, timeout_s), name=f"unsubscribe {key}")
        self.leaving[box] = task
        return task

    async def _leave(self, box: Mailbox, timeout_s: float) -> SubscriptionStats:
        slots = self.workers.pop(box, [])
        tasks = [slot.task for slot in slots if slot.task is not None]
        try:
            # Before start there are no workers: what is queued cannot be handled.
            await end_workers(tasks, timeout_s, lambda: max(0, box.in_flight))
        finally:
            for event in box.take_all_nowait():
                box.pipeline.dead_letter_nowait(event, DL_DRAIN_TIMEOUT, 0, "queued at unsubscribe")
            for slot in slots:
                self.watchdog.slots.remove(slot)
            done = {task for task in tasks if task.done()}
            self.tasks = [task for task in self.tasks if task not in done]
            box.pipeline.deliveries = box.deliveries
            if len(done) == len(tasks):
                self.retired.add_nowait(box.pipeline)
            else:
                # A worker was abandoned: what it holds is still pending, visibly.
                self.stranded.append(box)
            del self.leaving[box]
        failures = [task.exception() for task in done if not task.cancelled() and task.exception()]
        if failures:
            raise RuntimeError(f"{len(failures)} worker(s) of {box.sub.key} crashed") from failures[
                0
            ]
        return box.pipeline.stats(0, max(0, box.in_flight))
