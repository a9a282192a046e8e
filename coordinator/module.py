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

Beside it: the routes and their cache in ``coordinator.routes``, the worker
loop in ``coordinator.worker``, what drain does with the queue in
``coordinator.backlog``.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import deque
from collections.abc import Set
from typing import Any

from coordinator.backlog import abandon_queued_nowait, queued_deliveries
from coordinator.registration import LEVELS, Entry, Registration
from coordinator.routes import INVALID, RouteCache, narrow_route, pending_of
from coordinator.worker import run_worker
from events.delivery import DeadLetterStore, Handler, Pipeline, TimeoutWatchdog, WorkerSlot
from events.model import (
    PRIORITY_MAX,
    PRIORITY_MIN,
    REJECT_INVALID,
    REJECT_OVERLOADED,
    Ack,
    Category,
    Event,
    event_size,
)
from events.subjects import validate_pattern
from events.subscription import Subscription

_ACCEPTED = Ack.accepted()


class DataCoordinator:
    """The coordinator of one module (``category``)."""

    __slots__ = (
        "_cache",
        "_routes",
        "_slots",
        "accepted",
        "category",
        "clock",
        "closing",
        "copies",
        "dead_letters",
        "depth",
        "fast",
        "idle",
        "levels",
        "min_workers",
        "name",
        "queue_size",
        "queue_size_config",
        "rejected",
        "services",
        "single",
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
        match_cache_bytes: int = 1024 * 1024,
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
        self.worker_batch = worker_batch
        self.worker_slice_s = worker_slice_s
        #: Every pipeline's clock (their deadlines), which also times the workers' slices:
        #: one clock read per delivery serves both.
        self.clock = time.monotonic
        self.copies: list[Registration] = []
        #: Queued events, one FIFO per priority (index 0 is priority 3). Each event takes
        #: three slots: the event, then its copies: the one copy itself, or the route's tuple,
        #: when all are ``reject`` (nothing to allocate per event; only
        #: ``CoordinatorRouter.publish`` queues these), else an :class:`Entry` that can record
        #: displaced deliveries; then its charge against the copies' byte bounds (its
        #: ``event_size``, computed once at publish, so the worker need not measure it).
        #:
        #: Two slots read by position, not one named record, because a record costs
        #: memory: with a ``gc=False`` Struct (event, copies) per ``reject``-only event in
        #: place of the second slot, ``python -m bench micro --arch coordinator --scenario
        #: fanout1 --reps 1 --deliveries 20000`` measured the router's own bytes per
        #: buffered event at 40.3 with the record, 16.5 without (100,000 buffered;
        #: tracemalloc). Time did not move beyond noise: ``python -m bench micro --arch
        #: coordinator --breakdown``, five runs interleaved, best of each: publish 484
        #: ns/event with, 471 without; worker 767 ns/delivery with, 782 without; and
        #: ``--no-memory --reps 9`` ratios to the ceiling stayed within their spread.
        #: ``worker.run_worker`` and ``backlog`` read the slots in pairs.
        self.levels: tuple[deque[Any], ...] = tuple(deque() for _ in range(LEVELS))
        self.depth = 0
        self.accepted = 0
        self.rejected: dict[str, int] = {}
        self.unrouted = 0
        self.unknown_targets = 0
        self.closing = False
        self.tasks: list[asyncio.Task[None]] = []
        self._slots: list[WorkerSlot] = []
        #: Futures of parked workers; a publish wakes one.
        self.idle: deque[asyncio.Future[None]] = deque()
        self._routes = RouteCache(match_cache_size, match_cache_bytes)
        # Held directly (never rebound by the cache): intake reads them per event.
        self._cache = self._routes.cache
        #: Subjects whose copies all use ``reject`` and form no group: the routes of
        #: ``CoordinatorRouter.publish``'s inlined intake (one copy, several copies).
        self.single = self._routes.single
        self.fast = self._routes.fast

    # -- registrations ---------------------------------------------------------------

    def register(self, sub: Subscription, handler: Handler, seed: int | None = None) -> None:
        """Add this module's copy of ``sub``; the match cache starts over."""
        pipeline = Pipeline(
            sub, handler, self.dead_letters, module=self.name, seed=seed, clock=self.clock
        )
        self.copies.append(Registration(pipeline, validate_pattern(sub.pattern)))
        self._routes.clear_nowait()
        if self.started:
            self._spawn_nowait()

    # -- intake ----------------------------------------------------------------------

    def offer_nowait(self, event: Event) -> Ack:
        """Queue ``event`` for its matching copies, or refuse it whole; never awaits.

        The common case (a subject in :attr:`fast`, no targets, a valid priority,
        room everywhere) is inlined in ``CoordinatorRouter.publish``, which hands
        every other event here.
        """
        route = self._cache.get(event.subject)
        if route is None:
            route = self._routes.miss(self.copies, event.subject)
        priority = event.priority
        if route is INVALID or not PRIORITY_MIN <= priority <= PRIORITY_MAX:
            return self._reject(REJECT_INVALID)
        if event.targets:
            wanted = set(event.targets)
            self.unknown_targets += len(wanted - self.services)
            route = narrow_route(route, wanted)
        copies = route.plain
        checked = route.checked
        groups = route.groups
        if groups:
            chosen = tuple(min(group, key=pending_of) for group in groups)
            copies = copies + chosen
            checked = checked + tuple(c for c in chosen if c.reject)
        if not copies:
            self.accepted += 1
            self.unrouted += 1
            return _ACCEPTED
        if self.depth >= self.queue_size:
            return self._reject(REJECT_OVERLOADED)
        size = event_size(event)
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
            level.append(size)
            self.depth += 1
            if self.idle:
                self.wake_one()
        return _ACCEPTED

    def _reject(self, reason: str) -> Ack:
        self.rejected[reason] = self.rejected.get(reason, 0) + 1
        return Ack.rejected(reason)

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
                del level[index + 1]  # its charge
                del level[index]
                del level[index - 1]  # its event
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
            task = asyncio.create_task(run_worker(self, slot), name=f"{self.name} worker #{index}")
            slot.task = task
            self.watchdog.slots.append(slot)
            self._slots.append(slot)
            self.tasks.append(task)

    def wake_one(self) -> None:
        """Wake one parked worker, if any."""
        while self.idle:
            waiter = self.idle.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    # -- shutdown and stats ----------------------------------------------------------

    def close_nowait(self) -> None:
        """Stop parking: idle workers wake, find the queue empty, and exit."""
        self.closing = True
        while self.idle:
            self.wake_one()

    def abandon_queued_nowait(self) -> int:
        """Dead-letter every queued delivery as ``drain_timeout``; return how many."""
        abandoned = abandon_queued_nowait(self.levels)
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
        queued = queued_deliveries(self.levels)
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
