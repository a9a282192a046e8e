"""The ceiling: the least a router can do, measured beside the real ones.

``CeilingRouter`` keeps what any in-process router must do per delivery — a
dict lookup of the subject, a deque append, one worker loop per subscription
awaiting the handler — and nothing else: no bounds, no priorities, no retries,
timeouts, breaker or dead letters. Its throughput is the ceiling the
micro-benchmark divides by, so ``router / ceiling`` says what the features cost.

It satisfies ``events.Router`` so the bench drives it like any architecture:
``bench.architectures.make("bench.routers.ceiling:CeilingRouter")``. It is not a router
to deploy: it never rejects for overload, so it can grow without bound.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any

from events import (
    Ack,
    DrainReport,
    Event,
    Handler,
    RouterStats,
    Subscription,
    is_valid_subject,
    subject_matches,
)

_ACCEPTED = Ack.accepted()
#: Same yield budget as the daemon's default ``worker_batch``, so neither starves the loop.
YIELD_EVERY = 512


class _Box:
    __slots__ = ("delivered", "failed", "handler", "in_flight", "queue", "sub", "waiter")

    def __init__(self, sub: Subscription, handler: Handler) -> None:
        self.sub = sub
        self.handler = handler
        self.queue: deque[Event] = deque()
        self.waiter: asyncio.Future[None] | None = None
        self.in_flight = 0
        self.delivered = 0
        self.failed = 0


class CeilingRouter:
    """A dict lookup, a deque and one worker loop per subscription; no features."""

    def __init__(self, config: Any = None) -> None:
        self._boxes: list[_Box] = []
        self._routes: dict[str, tuple[_Box, ...]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False
        self._published = 0
        self._rejected: dict[str, int] = {}
        self._unrouted = 0
        self._deliveries = 0

    def subscribe(self, sub: Subscription, handler: Handler) -> None:
        self._boxes.append(_Box(sub, handler))
        self._routes.clear()

    async def start(self) -> None:
        if self._tasks:
            return
        for box in self._boxes:
            self._tasks.append(asyncio.create_task(self._work(box)))

    def publish(self, event: Event) -> Ack:
        self._published += 1
        if self._closing:
            return self._reject("draining")
        boxes = self._routes.get(event.subject)
        if boxes is None:
            if not is_valid_subject(event.subject):
                return self._reject("invalid")
            boxes = self._routes[event.subject] = tuple(
                box for box in self._boxes if subject_matches(box.sub.pattern, event.subject)
            )
        if not boxes:
            self._unrouted += 1
        for box in boxes:
            box.queue.append(event)
            if box.waiter is not None:
                box.waiter.set_result(None)
                box.waiter = None
        self._deliveries += len(boxes)
        return _ACCEPTED

    def _reject(self, reason: str) -> Ack:
        self._rejected[reason] = self._rejected.get(reason, 0) + 1
        return Ack.rejected(reason)

    async def _work(self, box: _Box) -> None:
        queue = box.queue
        handler = box.handler
        loop = asyncio.get_running_loop()
        while True:
            budget = YIELD_EVERY
            while queue and budget:
                event = queue.popleft()
                box.in_flight = 1
                try:
                    await handler(event)
                    box.delivered += 1
                except Exception:
                    box.failed += 1
                box.in_flight = 0
                budget -= 1
            if not budget:
                await asyncio.sleep(0)
                continue
            if self._closing:
                return
            box.waiter = loop.create_future()
            await box.waiter

    async def drain(self, timeout_s: float) -> DrainReport:
        began = time.monotonic()
        self._closing = True
        await self.start()
        for box in self._boxes:
            if box.waiter is not None:
                box.waiter.set_result(None)
                box.waiter = None
        pending: set[asyncio.Task[None]] = set()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=timeout_s)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        lost = 0
        for box in self._boxes:
            lost += len(box.queue) + box.in_flight
            box.failed += len(box.queue) + box.in_flight
            box.queue.clear()
            box.in_flight = 0
        return DrainReport(
            completed=not pending,
            duration_s=time.monotonic() - began,
            timed_out=lost,
            stats=self.stats(),
        )

    def stats(self) -> RouterStats:
        delivered = sum(box.delivered for box in self._boxes)
        failed = sum(box.failed for box in self._boxes)
        pending = sum(len(box.queue) + box.in_flight for box in self._boxes)
        return RouterStats(
            published=self._published,
            accepted=self._published - sum(self._rejected.values()),
            rejected=dict(self._rejected),
            unrouted=self._unrouted,
            unknown_targets=0,
            deliveries=self._deliveries,
            delivered=delivered,
            dead_lettered={"failed": failed} if failed else {},
            dropped={},
            retries=0,
            pending=pending,
            dead_letter_store=0,
        )
