"""``CoordinatorRouter`` (architecture A): six ``DataCoordinator`` modules behind one Router.

``publish`` hands an event to the coordinator of ``event.category`` and
nothing else: the module decides routing, admission and queueing. An event
whose category's module cannot match its subject still goes there (and is
unrouted if nothing matches). ``subscribe`` registers a subscription in every
module whose subjects its pattern can match (``events.CATEGORY_PATTERNS``), so a
subscription on ``>`` lives six times, with six pipelines, breakers and
counters.

Like the daemon, the router accepts and buffers before :meth:`start`: events
wait in their module queues, under the same bounds, until the workers start.
"""

from __future__ import annotations

import asyncio
import time

from coordinator.config import CoordinatorConfig
from coordinator.module import DataCoordinator
from coordinator.registration import Registration
from events.delivery import Handler, TimeoutWatchdog
from events.errors import ConfigError
from events.lifecycle import end_workers, finish_drain
from events.model import (
    CATEGORY_PATTERNS,
    PRIORITY_MAX,
    PRIORITY_MIN,
    REJECT_DRAINING,
    REJECT_INVALID,
    Ack,
    Category,
    DrainReport,
    Event,
    RouterStats,
    add_counts,
    header_bytes,
)
from events.stats import router_stats
from events.subjects import patterns_overlap
from events.subscription import Subscription

_ACCEPTED = Ack.accepted()


class CoordinatorRouter:
    """``events.Router`` made of one :class:`DataCoordinator` per module."""

    def __init__(self, config: CoordinatorConfig | None = None) -> None:
        self.config = config if config is not None else CoordinatorConfig()
        config = self.config
        self.watchdog = TimeoutWatchdog(config.watchdog_tick_s)
        #: Every subscribed service: what an explicit target may name.
        self._services: set[str] = set()
        self._keys: set[str] = set()
        self.modules: dict[Category, DataCoordinator] = {
            category: DataCoordinator(
                category,
                queue_size=config.queue_size_of(category),
                workers=config.workers_of(category),
                watchdog=self.watchdog,
                services=self._services,
                dead_letter_capacity=config.dead_letter_capacity,
                match_cache_size=config.match_cache_size,
                match_cache_bytes=config.match_cache_bytes,
                worker_batch=config.worker_batch,
                worker_slice_s=config.worker_slice_s,
            )
            for category in Category
        }
        self._n_copies = 0
        self._watchdog_task: asyncio.Task[None] | None = None
        self._started = False
        self._closed = False
        self._drain_task: asyncio.Task[DrainReport] | None = None
        self._published = 0
        self._rejected: dict[str, int] = {}

    # -- configuration -------------------------------------------------------------

    def modules_for(self, pattern: str) -> list[DataCoordinator]:
        """The modules an event matching ``pattern`` can be handed to.

        Those whose subjects ``pattern`` can match; a pattern that matches no
        module's subjects (``a.b``, ``*``) can only match subjects outside every
        module's namespace, and such an event may carry any category: all modules.
        """
        modules = [
            module
            for category, module in self.modules.items()
            if any(patterns_overlap(pattern, p) for p in CATEGORY_PATTERNS[category])
        ]
        return modules or list(self.modules.values())

    def subscribe(self, sub: Subscription, handler: Handler) -> None:
        """Register ``sub`` in every module it can match (:meth:`modules_for`)."""
        if self._closed:
            raise RuntimeError("router is draining: no new subscriptions")
        if sub.key in self._keys:
            raise ConfigError(f"subscription {sub.key!r} is already registered")
        for module in self.modules_for(sub.pattern):
            seed = None if self.config.seed is None else self.config.seed + self._n_copies
            module.register(sub, handler, seed)
            self._n_copies += 1
        self._keys.add(sub.key)
        self._services.add(sub.service)

    async def start(self) -> None:
        """Start the watchdog and every module's workers (idempotent)."""
        if self._started:
            return
        self._started = True
        self._watchdog_task = asyncio.create_task(self.watchdog.run(), name="router-watchdog")
        for module in self.modules.values():
            module.start_nowait()

    # -- intake --------------------------------------------------------------------

    def publish(self, event: Event) -> Ack:
        """Hand ``event`` to its module now; never awaits. Every outcome is counted."""
        self._published += 1
        try:
            module = self.modules[event.category]
        except (KeyError, TypeError):
            return self._hand_over(event, None)
        # The module's intake in its common case, inlined: a cached subject whose copies
        # all use ``reject``, no queue group, no explicit targets, room in the module and
        # in every copy. Anything else (validation, refusals included) is the module's
        # own ``offer_nowait``, which decides it the same way from the same state. Drain
        # empties the fast dicts, so this path needs no check of its own that intake is
        # still open (``_hand_over`` makes it, and a closed router refills nothing).
        priority = event.priority
        if (
            event.targets
            or not PRIORITY_MIN <= priority <= PRIORITY_MAX
            or module.depth >= module.queue_size
        ):
            return self._hand_over(event, module)
        # events.event_size, inlined (the equivalence tests hold it to it).
        subject = event.subject
        size = len(subject) + len(event.payload)
        if event.headers:
            size += header_bytes(event.headers)
        copy = module.single.get(subject)
        if copy is not None:
            # One copy (fan-out 1): no loop, and the copy itself is the queue tag.
            if copy.depth >= copy.capacity or copy.nbytes + size > copy.capacity_bytes:
                return self._hand_over(event, module)
            copy.deliveries += 1
            copy.depth += 1
            copy.nbytes += size
            tag: Registration | tuple[Registration, ...] = copy
        else:
            copies = module.fast.get(subject)
            if not copies:
                return self._hand_over(event, module)
            for copy in copies:
                if copy.depth >= copy.capacity or copy.nbytes + size > copy.capacity_bytes:
                    return self._hand_over(event, module)
            for copy in copies:
                copy.deliveries += 1
                copy.depth += 1
                copy.nbytes += size
            tag = copies
        level = module.levels[PRIORITY_MAX - priority]
        level.append(event)
        level.append(tag)
        level.append(size)
        module.depth += 1
        module.accepted += 1
        if module.idle:
            module.wake_one()
        return _ACCEPTED

    def _hand_over(self, event: Event, module: DataCoordinator | None) -> Ack:
        """Everything but publish's inlined case: refused while draining, by category, or
        decided by the module's own intake."""
        if self._closed:
            return self._reject(REJECT_DRAINING)
        if module is None:
            return self._reject(REJECT_INVALID)
        return module.offer_nowait(event)

    def _reject(self, reason: str) -> Ack:
        self._rejected[reason] = self._rejected.get(reason, 0) + 1
        return Ack.rejected(reason)

    # -- shutdown and stats ----------------------------------------------------------

    async def drain(self, timeout_s: float) -> DrainReport:
        """Stop intake, let workers finish for up to ``timeout_s``, dead-letter the rest.

        Drain runs once: a second call (concurrent or later) awaits the first one's
        report. It runs in its own task, so a caller cancelled while waiting does not
        leave the router half drained (as in the centralised router).
        """
        if self._drain_task is None:
            # Intake stops now, not when the drain task first runs (publish's inlined
            # case reads only the fast dicts, which nothing refills once closed).
            self._closed = True
            for module in self.modules.values():
                module.single.clear()
                module.fast.clear()
            self._drain_task = asyncio.create_task(self._drain(timeout_s), name="router-drain")
        return await asyncio.shield(self._drain_task)

    async def _drain(self, timeout_s: float) -> DrainReport:
        began = time.monotonic()
        await self.start()
        modules = list(self.modules.values())
        for module in modules:
            module.close_nowait()
        workers = [task for module in modules for task in module.tasks]
        ended = await end_workers(workers, timeout_s, lambda: sum(m.in_flight for m in modules))
        timed_out = ended.timed_out
        for module in modules:
            timed_out += module.abandon_queued_nowait()
        return await finish_drain(
            began=began,
            completed=ended.in_time,
            timed_out=timed_out,
            stats=self.stats,
            workers=workers,
            watchdog=self._watchdog_task,
            what="coordinator",
            abandoned=len(ended.abandoned),
        )

    def stats(self) -> RouterStats:
        """A snapshot of every counter, with each (subscription, module) copy's state."""
        rejected = dict(self._rejected)
        accepted = unrouted = unknown = store = 0
        copies = []
        for module in self.modules.values():
            accepted += module.accepted
            unrouted += module.unrouted
            unknown += module.unknown_targets
            store += len(module.dead_letters)
            add_counts(rejected, module.rejected)
            for copy in module.copies:
                pipeline = copy.pipeline
                pipeline.deliveries = copy.deliveries
                copies.append((pipeline, copy.depth, copy.in_flight))
        return router_stats(
            published=self._published,
            accepted=accepted,
            rejected=rejected,
            unrouted=unrouted,
            unknown_targets=unknown,
            pending=sum(module.observed_pending() for module in self.modules.values()),
            dead_letter_store=store,
            copies=copies,
        )
