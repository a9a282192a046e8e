"""``DataCoordinator``: one module's queue, workers, routing rules, policies and counters.

A coordinator owns everything of its module and shares nothing with the
others: its bounded inbound queue (one FIFO per priority, higher first), its
worker task(s), its registrations (one :class:`Registration` per subscription
that can match the module, each with its own ``events.Pipeline``: breaker,
retries, counters), its match cache, its dead-letter store. Only the timeout
watchdog (one per router, by contract) and the router's service directory
(to tell an unknown target from one that merely does not match) come from
outside.

A worker takes one event at a time and calls its handlers in turn: a slow
handler holds up every later event of the module (head-of-line blocking), the
defining property of this design. A module runs the configured number of
workers, raised to the largest ``concurrency`` of its subscriptions; with more
than one, that many events run at once and a subscription's events may end out
of order (FIFO per subscription holds only with one worker).
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import deque
from collections.abc import Set
from typing import Any

from coordinator.registration import LEVELS, Entry, Registration
from events.delivery import (
    DL_DRAIN_TIMEOUT,
    DeadLetterStore,
    Handler,
    Pipeline,
    TimeoutWatchdog,
    WorkerSlot,
)
from events.errors import InvalidSubject
from events.model import (
    PRIORITY_MAX,
    PRIORITY_MIN,
    REJECT_INVALID,
    REJECT_OVERLOADED,
    Ack,
    Category,
    Event,
    SubscriptionStats,
)
from events.subjects import tokens_match, validate_pattern, validate_subject
from events.subscription import Subscription

#: A compiled route: every plain copy (in registration order), those of them checked
#: for ``reject`` admission, and the queue groups (one member of each gets the event).
Route = tuple[
    tuple[Registration, ...], tuple[Registration, ...], tuple[tuple[Registration, ...], ...]
]

_INVALID: Route = ((), (), ())
_ACCEPTED = Ack.accepted()


class DataCoordinator:
    """The coordinator of one module (``category``)."""

    __slots__ = (
        "_cache",
        "_fast",
        "_idle",
        "_slots",
        "accepted",
        "category",
        "closing",
        "copies",
        "dead_letters",
        "depth",
        "levels",
        "match_cache_size",
        "min_workers",
        "name",
        "queue_size",
        "queue_size_config",
        "rejected",
        "services",
        "started",
        "tasks",
        "unknown_targets",
        "unrouted",
        "watchdog",
        "worker_batch",
        "worker_slice_s",
    )

    def __init__(
        self,
        category: Category,
        *,
        queue_size: int | None,
        workers: int,
        watchdog: TimeoutWatchdog,
        services: Set[str],
        dead_letter_capacity: int = 10_000,
        match_cache_size: int = 4096,
        worker_batch: int = 512,
        worker_slice_s: float = 0.001,
    ) -> None:
        self.category = category
        self.name = category.value
        #: The configured bound, or None to follow the registrations' mailboxes.
        self.queue_size_config = queue_size
        #: Unconfigured, the bound is structural: every queued event holds a slot in some
        #: copy's mailbox, so the queue never exceeds the sum of them (:attr:`queue_bound`)
        #: and needs no check of its own (which would refuse before drop_oldest could displace).
        self.queue_size = queue_size if queue_size is not None else sys.maxsize
        #: The configured floor; the module runs :attr:`n_workers` (see there).
        self.min_workers = workers
        self.started = False
        self.watchdog = watchdog
        self.services = services
        self.dead_letters = DeadLetterStore(dead_letter_capacity)
        self.match_cache_size = match_cache_size
        self.worker_batch = worker_batch
        self.worker_slice_s = worker_slice_s
        self.copies: list[Registration] = []
        #: Queued events, one FIFO per priority (index 0 is priority 3). Each event takes
        #: two slots: the event, then its copies: the route's tuple when all are ``reject``
        #: (nothing to allocate per event), else an :class:`Entry` that can record
        #: displaced deliveries.
        self.levels: tuple[deque[Any], ...] = tuple(deque() for _ in range(LEVELS))
        self.depth = 0
        self.accepted = 0
        self.rejected: dict[str, int] = {}
        self.unrouted = 0
        self.unknown_targets = 0
        self.closing = False
        self.tasks: list[asyncio.Task[None]] = []
        self._slots: list[WorkerSlot] = []
        self._idle: deque[asyncio.Future[None]] = deque()
        self._cache: dict[str, Route] = {}
        #: Subjects whose copies all use ``reject`` and form no queue group.
        self._fast: dict[str, tuple[Registration, ...]] = {}

    # -- registrations ---------------------------------------------------------------

    def register(self, sub: Subscription, handler: Handler, seed: int | None = None) -> None:
        """Add this module's copy of ``sub``; the match cache starts over."""
        pipeline = Pipeline(sub, handler, self.dead_letters, module=self.name, seed=seed)
        self.copies.append(Registration(pipeline, validate_pattern(sub.pattern)))
        self._cache.clear()
        self._fast.clear()
        if self.started:
            self._spawn_nowait()

    # -- intake ----------------------------------------------------------------------

    def offer_nowait(self, event: Event) -> Ack:
        """Queue ``event`` for its matching copies, or refuse it whole; never awaits."""
        # The common case, inlined: a cached subject whose copies all use ``reject``, no
        # queue group, no explicit targets. Everything else, validation included, takes
        # the general path (the fast cache holds valid subjects only).
        copies = self._fast.get(event.subject)
        priority = event.priority
        if copies is None or event.targets or not PRIORITY_MIN <= priority <= PRIORITY_MAX:
            return self._offer_general(event)
        if not copies:
            self.accepted += 1
            self.unrouted += 1
            return _ACCEPTED
        if self.depth >= self.queue_size:
            return self._reject(REJECT_OVERLOADED)
        size = len(event.payload)
        for copy in copies:
            if copy.depth >= copy.capacity or copy.nbytes + size > copy.capacity_bytes:
                return self._reject(REJECT_OVERLOADED)
        for copy in copies:
            copy.deliveries += 1
            copy.depth += 1
            copy.nbytes += size
        level = self.levels[PRIORITY_MAX - priority]
        level.append(event)
        level.append(copies)
        self.depth += 1
        self.accepted += 1
        if self._idle:
            self._wake_one()
        return _ACCEPTED

    def _offer_general(self, event: Event) -> Ack:
        route = self._cache.get(event.subject)
        if route is None:
            route = self._route_miss(event.subject)
        priority = event.priority
        if route is _INVALID or not PRIORITY_MIN <= priority <= PRIORITY_MAX:
            return self._reject(REJECT_INVALID)
        copies, checked, groups = route
        if event.targets:
            copies, checked, groups = self._targeted(route, event.targets)
        if groups:
            chosen = tuple(min(group, key=_pending) for group in groups)
            copies = copies + chosen
            checked = checked + tuple(c for c in chosen if c.reject)
        if not copies:
            self.accepted += 1
            self.unrouted += 1
            return _ACCEPTED
        if self.depth >= self.queue_size:
            return self._reject(REJECT_OVERLOADED)
        size = len(event.payload)
        for copy in checked:
            if copy.depth >= copy.capacity or copy.nbytes + size > copy.capacity_bytes:
                return self._reject(REJECT_OVERLOADED)
        entry = Entry(event, copies, len(copies))
        for copy in copies:
            if copy.reject or copy.fits_nowait(size):
                copy.push_nowait(entry, priority)
            else:
                self._displace_nowait(copy, entry, priority, size)
        self.accepted += 1
        if entry.live:
            level = self.levels[PRIORITY_MAX - priority]
            level.append(event)
            level.append(entry)
            self.depth += 1
            if self._idle:
                self._wake_one()
        return _ACCEPTED

    def _reject(self, reason: str) -> Ack:
        self.rejected[reason] = self.rejected.get(reason, 0) + 1
        return Ack.rejected(reason)

    def _route_miss(self, subject: str) -> Route:
        try:
            tokens = validate_subject(subject)
        except InvalidSubject:
            route = _INVALID
        else:
            route = compile_route([c for c in self.copies if tokens_match(c.tokens, tokens)])
        for cache in (self._cache, self._fast):
            if len(cache) >= self.match_cache_size:
                # FIFO eviction: a dict iterates in insertion order.
                del cache[next(iter(cache))]
        self._cache[subject] = route
        copies, checked, groups = route
        if route is not _INVALID and not groups and len(checked) == len(copies):
            self._fast[subject] = copies
        return route

    def _targeted(self, route: Route, targets: tuple[str, ...]) -> Route:
        wanted = set(targets)
        self.unknown_targets += len(wanted - self.services)
        copies, _, groups = route
        kept = tuple(c for c in copies if c.service in wanted)
        return (
            kept,
            tuple(c for c in kept if c.reject),
            tuple(g for group in groups if (g := tuple(c for c in group if c.service in wanted))),
        )

    def _displace_nowait(self, copy: Registration, entry: Entry, priority: int, size: int) -> None:
        """Make room in ``copy`` for ``entry`` by its overflow policy, then queue it."""
        if size > copy.capacity_bytes:
            # It can never fit: its own delivery ends as overflow rather than
            # emptying the copy's share for nothing.
            copy.deliveries += 1
            entry.cancel_nowait(copy)
            copy.displaced_nowait(entry.event)
            return
        while not copy.fits_nowait(size):
            victim = copy.evict_nowait()
            copy.displaced_nowait(victim.event)
            if not victim.live:
                level = self.levels[PRIORITY_MAX - victim.event.priority]
                index = level.index(victim)
                del level[index]
                del level[index - 1]
                self.depth -= 1
        copy.push_nowait(entry, priority)

    # -- workers ---------------------------------------------------------------------

    @property
    def n_workers(self) -> int:
        """The configured floor, raised to the largest ``concurrency`` a registration asks.

        The subscription's ``concurrency`` says how many handler calls must run
        at once to keep up; a module provisioned for its most demanding
        subscriber honours it. The workers stay the module's: each takes the
        next event of the module and calls its handlers in turn.
        """
        return max([self.min_workers, *(copy.pipeline.sub.concurrency for copy in self.copies)])

    def start_nowait(self) -> None:
        """Create this module's worker tasks, each with a slot in the watchdog."""
        self.started = True
        self._spawn_nowait()

    def _spawn_nowait(self) -> None:
        for index in range(len(self._slots), self.n_workers):
            slot = WorkerSlot()
            task = asyncio.create_task(self._work(slot), name=f"{self.name} worker #{index}")
            slot.task = task
            self.watchdog.slots.append(slot)
            self._slots.append(slot)
            self.tasks.append(task)

    async def _work(self, slot: WorkerSlot) -> None:
        batch = self.worker_batch
        slice_s = self.worker_slice_s
        clock = time.perf_counter
        levels = self.levels
        loop = asyncio.get_running_loop()
        while True:
            if not self.depth:
                if self.closing:
                    return
                waiter: asyncio.Future[None] = loop.create_future()
                self._idle.append(waiter)
                await waiter
                continue
            budget = batch
            until = clock() + slice_s
            while budget and self.depth and clock() < until:
                budget -= 1
                # Highest priority first; depth > 0, so some level has an event.
                level = levels[0] or levels[1] or levels[2] or levels[3]
                event = level.popleft()
                tag = level.popleft()
                self.depth -= 1
                size = len(event.payload)
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
                    self._abandon_nowait(event, copies[index + 1 :], cancelled)
                    raise
            if self.depth:
                # Batch or time slice used up: a long backlog must not starve
                # publishers and the other modules.
                await asyncio.sleep(0)

    @staticmethod
    def _abandon_nowait(
        event: Event, copies: tuple[Registration, ...], cancelled: set[Registration] | None
    ) -> None:
        for copy in copies:
            if cancelled is None or copy not in cancelled:
                copy.pipeline.dead_letter_nowait(
                    event, DL_DRAIN_TIMEOUT, 0, "behind a handler at drain"
                )

    def _wake_one(self) -> None:
        while self._idle:
            waiter = self._idle.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    # -- shutdown and stats ----------------------------------------------------------

    def close_nowait(self) -> None:
        """Stop parking: idle workers wake, find the queue empty, and exit."""
        self.closing = True
        while self._idle:
            self._wake_one()

    def abandon_queued_nowait(self) -> int:
        """Dead-letter every queued delivery as ``drain_timeout``; return how many."""
        abandoned = 0
        for level in self.levels:
            while level:
                event = level.popleft()
                tag = level.popleft()
                copies, cancelled = (
                    (tag, None) if isinstance(tag, tuple) else (tag.copies, tag.cancelled)
                )
                for copy in copies:
                    if cancelled is None or copy not in cancelled:
                        copy.pipeline.dead_letter_nowait(
                            event, DL_DRAIN_TIMEOUT, 0, "queued at drain"
                        )
                        abandoned += 1
        self.depth = 0
        for copy in self.copies:
            copy.clear_nowait()
        return abandoned

    @property
    def queue_bound(self) -> int:
        """The most events this module's queue can hold."""
        structural = sum(copy.capacity for copy in self.copies)
        configured = self.queue_size_config
        return structural if configured is None else min(configured, structural)

    def observed_pending(self) -> int:
        """Deliveries not yet ended, counted where they are rather than from the counters.

        Queued ones are counted in the module queue itself (each entry with its live
        copies). In-flight ones can only be derived from the counters, and only while
        a worker lives to hold one: after drain a counter that drifted shows up as an
        identity error instead of hiding in ``pending``.
        """
        queued = 0
        for level in self.levels:
            # A level alternates event, tag; a tag is the copies tuple or an Entry.
            for index in range(1, len(level), 2):
                tag = level[index]
                queued += len(tag) if tag.__class__ is tuple else tag.live
        if not any(not task.done() for task in self.tasks):
            return queued
        return queued + max(0, self.in_flight)

    @property
    def in_flight(self) -> int:
        return sum(copy.in_flight for copy in self.copies)

    @property
    def pending(self) -> int:
        """Deliveries of this module not yet ended."""
        return sum(copy.pending for copy in self.copies)

    def subscription_stats(self) -> list[SubscriptionStats]:
        return [copy.stats() for copy in self.copies]


def compile_route(copies: list[Registration]) -> Route:
    """Split matching copies into plain ones (and which are reject-checked) and queue groups."""
    groups: dict[str, list[Registration]] = {}
    plain: list[Registration] = []
    for copy in copies:
        if copy.group is not None:
            groups.setdefault(copy.group, []).append(copy)
        else:
            plain.append(copy)
    return (
        tuple(plain),
        tuple(c for c in plain if c.reject),
        tuple(tuple(members) for members in groups.values()),
    )


def _pending(copy: Registration) -> int:
    return copy.pending
