"""One subscription's bounded mailbox: events waiting for its workers, by priority.

A mailbox is bounded twice, by events (``Subscription.mailbox``) and by bytes
(``Subscription.mailbox_bytes``): subject, headers and payload, ``events.event_size``,
so no field a client fills escapes the bound. When an event does not fit, the
subscription's overflow policy decides: ``reject`` refuses it (the router checks
:meth:`Mailbox.admits_nowait` on every target before writing any), while
``drop_oldest`` and ``dead_letter`` accept it and displace queued deliveries,
counting each as dropped or dead-lettered with reason ``overflow``.

Priorities 0 (low) .. 3 (critical) each get a FIFO deque; workers take from the
highest non-empty one, so order is FIFO within a priority. A level holds each
event followed by its charge against the byte bound (the size publish computed),
so what leaves is charged back exactly what entered without measuring the event
again: two ``len`` calls a delivery less on the worker's side (docs/benchmarks.md,
"Routing hot path", second pass). :meth:`Mailbox.queued` counts events, not items.
Displacement takes the oldest event of the lowest non-empty priority: under
pressure the least important, longest-waiting work goes first.

All state changes are synchronous (``*_nowait``); the only await is
:meth:`wait`, where an idle worker parks until a push wakes it. A push wakes one
parked worker, and only when one is parked, so a batch of publishes into a busy
mailbox costs no wake-ups at all.
"""

from __future__ import annotations

import asyncio
from collections import deque
from itertools import islice
from typing import Any

from events.delivery import DL_OVERFLOW, DROP_OVERFLOW, Pipeline, WorkerSlot
from events.model import PRIORITY_MAX, Event
from events.subscription import Subscription

LEVELS = PRIORITY_MAX + 1


class Mailbox:
    """The queue, bounds, policy, workers' wake-ups and in-flight count of one subscription."""

    __slots__ = (
        "capacity",
        "capacity_bytes",
        "closing",
        "levels",
        "pipeline",
        "policy",
        "pushed",
        "room",
        "room_bytes",
        "slots",
        "sub",
        "unqueued",
        "waiters",
    )

    def __init__(self, pipeline: Pipeline) -> None:
        sub: Subscription = pipeline.sub
        self.sub = sub
        self.pipeline = pipeline
        self.policy = sub.overflow
        self.capacity = sub.mailbox
        self.capacity_bytes = sub.mailbox_bytes
        #: One deque per priority, highest first (index 0 is priority 3): each event
        #: followed by its charge (``event_size`` at publish), so twice its length.
        #: Typed ``Any``: the worker's inlined pop cannot afford a ``cast`` call.
        self.levels: tuple[deque[Any], ...] = tuple(deque() for _ in range(LEVELS))
        #: What the bounds still admit, in events and in bytes (``event_size``): the
        #: capacities minus what is queued. Kept as what is left rather than what is
        #: used, so admission compares one field with the event's size instead of
        #: adding first (:attr:`count` and :attr:`nbytes` derive from them).
        self.room = self.capacity
        self.room_bytes = self.capacity_bytes
        #: Deliveries ever queued at each level (index as ``levels``): with the
        #: level's length it tells how many have left it, which is what proves,
        #: off the hot path, that every delivery queued before a moment has started
        #: (``daemon.router.progress``). Bumped instead of one total per event.
        self.pushed = [0] * LEVELS
        #: Deliveries created that never entered a level (too big to ever fit).
        self.unqueued = 0
        #: The slots of this mailbox's workers: what each holds in flight.
        self.slots: list[WorkerSlot] = []
        #: Set by drain: idle workers exit instead of parking.
        self.closing = False
        self.waiters: deque[asyncio.Future[None]] = deque()

    @property
    def count(self) -> int:
        """Events queued."""
        return self.capacity - self.room

    @property
    def nbytes(self) -> int:
        """Bytes queued (``event_size`` of each queued event, added up)."""
        return self.capacity_bytes - self.room_bytes

    @property
    def deliveries(self) -> int:
        """Deliveries created for this subscription (the router copies it into stats)."""
        return sum(self.pushed) + self.unqueued

    @property
    def pending(self) -> int:
        """Deliveries not yet ended: queued plus in flight."""
        return self.deliveries - self.pipeline.ended

    @property
    def in_flight(self) -> int:
        """Deliveries a worker holds: derived from the counters, so workers need not count."""
        return self.deliveries - self.pipeline.ended - self.count

    def queued(self, level: int) -> int:
        """Events waiting at ``level`` (index as :attr:`levels`)."""
        return len(self.levels[level]) >> 1

    def admits_nowait(self, size: int) -> bool:
        """Would an event of ``size`` bytes (``event_size``) fit without displacing anything?"""
        return self.room > 0 and size <= self.room_bytes

    def push_nowait(self, event: Event, size: int) -> None:
        """Queue a new delivery that fits (the caller checked :meth:`admits_nowait`)."""
        level = PRIORITY_MAX - event.priority
        self.pushed[level] += 1
        queue = self.levels[level]
        queue.append(event)
        queue.append(size)
        self.room -= 1
        self.room_bytes -= size
        if self.waiters:
            self.wake_one()

    def offer_nowait(self, event: Event, size: int) -> None:
        """Queue a new delivery, displacing queued ones by policy until it fits.

        Only for ``drop_oldest`` and ``dead_letter``. An event larger than the
        whole byte bound can never fit: its own delivery ends as overflow at once
        rather than emptying the mailbox for nothing.
        """
        if size > self.capacity_bytes:
            self.unqueued += 1
            self._displaced_nowait(event)
            return
        while not self.admits_nowait(size):
            self._displaced_nowait(self._evict_nowait())
        self.push_nowait(event, size)

    def pop_nowait(self) -> Event:
        """The next delivery: the oldest of the highest non-empty priority."""
        for level in self.levels:
            if level:
                return self._take_nowait(level)
        raise IndexError("pop from an empty mailbox")

    def take_all_nowait(self) -> list[Event]:
        """Remove and return every queued event (drain gives them up), in delivery order."""
        taken: list[Event] = []
        for level in self.levels:
            taken.extend(islice(level, 0, None, 2))
            level.clear()
        self.room = self.capacity
        self.room_bytes = self.capacity_bytes
        return taken

    async def wait(self) -> None:
        """Park an idle worker until a push (or close) wakes it."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiters.append(waiter)
        try:
            await waiter
        finally:
            if not waiter.done():
                self.waiters.remove(waiter)

    def close_nowait(self) -> None:
        """Stop parking: every idle worker wakes, finds the mailbox empty, and exits."""
        self.closing = True
        while self.waiters:
            self.wake_one()

    def wake_one(self) -> None:
        """Wake one parked worker, if any."""
        # A cancelled waiter is skipped so the wake-up reaches a live worker.
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _evict_nowait(self) -> Event:
        for level in reversed(self.levels):
            if level:
                return self._take_nowait(level)
        raise IndexError("evict from an empty mailbox")

    def _take_nowait(self, level: deque[Any]) -> Event:
        event: Event = level.popleft()
        self.room_bytes += level.popleft()
        self.room += 1
        return event

    def _displaced_nowait(self, event: Event) -> None:
        if self.policy == "dead_letter":
            self.pipeline.dead_letter_nowait(event, DL_OVERFLOW, 0, "mailbox full")
        else:
            self.pipeline.drop_nowait(DROP_OVERFLOW)
