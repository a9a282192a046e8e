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
defining property of this design. With ``workers > 1`` a module runs that many
events at once, and a subscription's events may then end out of order.
"""

from __future__ import annotations

import asyncio
import sys
from collections import deque
from collections.abc import Set

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


class _Worker:
    """A worker task's slot and the entry it is working through (for drain's accounting)."""

    __slots__ = ("entry", "index", "slot")

    def __init__(self) -> None:
        self.slot = WorkerSlot()
        self.entry: Entry | None = None
        self.index = 0


class DataCoordinator:
    """The coordinator of one module (``category``)."""

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
        self.copies: list[Registration] = []
        #: Queued events, one FIFO per priority (index 0 is priority 3).
        self.levels: tuple[deque[Entry], ...] = tuple(deque() for _ in range(LEVELS))
        self.depth = 0
        self.accepted = 0
        self.rejected: dict[str, int] = {}
        self.unrouted = 0
        self.unknown_targets = 0
        self.closing = False
        self.tasks: list[asyncio.Task[None]] = []
        self._workers: list[_Worker] = []
        self._idle: deque[asyncio.Future[None]] = deque()
        self._cache: dict[str, Route] = {}

    # -- registrations ---------------------------------------------------------------

    def register(self, sub: Subscription, handler: Handler, seed: int | None = None) -> None:
        """Add this module's copy of ``sub``; the match cache starts over."""
        pipeline = Pipeline(sub, handler, self.dead_letters, module=self.name, seed=seed)
        self.copies.append(Registration(pipeline, validate_pattern(sub.pattern)))
        self._cache.clear()
        if self.started:
            self._spawn_nowait()

    # -- intake ----------------------------------------------------------------------

    def offer_nowait(self, event: Event) -> Ack:
        """Queue ``event`` for its matching copies, or refuse it whole; never awaits."""
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
            if copy.reject:
                # Admission was checked above; push_nowait inlined (the hot path).
                copy.pipeline.deliveries += 1
                copy.depth += 1
                copy.nbytes += size
            elif copy.fits_nowait(size):
                copy.push_nowait(entry, priority)
            else:
                self._displace_nowait(copy, entry, priority, size)
        self.accepted += 1
        if entry.live:
            self.levels[PRIORITY_MAX - priority].append(entry)
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
        cache = self._cache
        if len(cache) >= self.match_cache_size:
            # FIFO eviction: a dict iterates in insertion order.
            del cache[next(iter(cache))]
        cache[subject] = route
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
            copy.pipeline.deliveries += 1
            entry.cancel_nowait(copy)
            copy.displaced_nowait(entry.event)
            return
        while not copy.fits_nowait(size):
            victim = copy.evict_nowait()
            copy.displaced_nowait(victim.event)
            if not victim.live:
                self.levels[PRIORITY_MAX - victim.event.priority].remove(victim)
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
        for index in range(len(self._workers), self.n_workers):
            worker = _Worker()
            task = asyncio.create_task(self._work(worker), name=f"{self.name} worker #{index}")
            worker.slot.task = task
            self.watchdog.slots.append(worker.slot)
            self._workers.append(worker)
            self.tasks.append(task)

    async def _work(self, worker: _Worker) -> None:
        slot = worker.slot
        batch = self.worker_batch
        levels = self.levels
        loop = asyncio.get_running_loop()
        try:
            while True:
                if not self.depth:
                    if self.closing:
                        return
                    waiter: asyncio.Future[None] = loop.create_future()
                    self._idle.append(waiter)
                    await waiter
                    continue
                budget = batch
                while budget and self.depth:
                    budget -= 1
                    # Highest priority first; depth > 0, so some level has an entry.
                    for level in levels:
                        if level:
                            entry = level.popleft()
                            break
                    self.depth -= 1
                    event = entry.event
                    priority = event.priority
                    size = len(event.payload)
                    cancelled = entry.cancelled
                    copies = entry.copies
                    for copy in copies:
                        if copy.levels is None:
                            # take_nowait inlined: a reject copy is never cancelled.
                            copy.depth -= 1
                            copy.nbytes -= size
                            copy.in_flight += 1
                        elif cancelled is None or copy not in cancelled:
                            copy.take_nowait(entry, priority)
                    worker.entry = entry
                    for index, copy in enumerate(copies):
                        if cancelled is not None and copy in cancelled:
                            continue
                        worker.index = index
                        await copy.pipeline.run(event, slot)
                        copy.in_flight -= 1
                    worker.entry = None
                if not budget:
                    # A long backlog must not starve publishers and the other modules.
                    await asyncio.sleep(0)
        except asyncio.CancelledError:
            self._abandon_current_nowait(worker)
            raise

    def _abandon_current_nowait(self, worker: _Worker) -> None:
        """Drain gave up on this worker: account the rest of the event it was on."""
        entry = worker.entry
        if entry is None:
            return
        worker.entry = None
        cancelled = entry.cancelled
        # The delivery at ``index`` ended in Pipeline.run (as drain_timeout).
        entry.copies[worker.index].in_flight -= 1
        for copy in entry.copies[worker.index + 1 :]:
            if cancelled is not None and copy in cancelled:
                continue
            copy.in_flight -= 1
            copy.pipeline.dead_letter_nowait(
                entry.event, DL_DRAIN_TIMEOUT, 0, "behind a handler at drain"
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
            for entry in level:
                cancelled = entry.cancelled
                for copy in entry.copies:
                    if cancelled is None or copy not in cancelled:
                        copy.pipeline.dead_letter_nowait(
                            entry.event, DL_DRAIN_TIMEOUT, 0, "queued at drain"
                        )
                        abandoned += 1
            level.clear()
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

    @property
    def in_flight(self) -> int:
        return sum(copy.in_flight for copy in self.copies)

    @property
    def pending(self) -> int:
        """Deliveries of this module not yet ended."""
        return sum(copy.depth + copy.in_flight for copy in self.copies)

    def subscription_stats(self) -> list[SubscriptionStats]:
        return [copy.pipeline.stats(copy.depth, copy.in_flight) for copy in self.copies]


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
    return copy.depth + copy.in_flight
