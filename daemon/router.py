"""The centralised router (architecture B): one trie, one mailbox and worker pool per subscription.

``publish`` looks the subject up in a per-subject route cache (filled from the
subscription trie on a miss, cleared on subscribe), checks admission on every
``reject`` mailbox before writing any, appends the event to each target mailbox
and returns. It never awaits. Each subscription's workers drain its mailbox in a
loop, taking every delivery through the shared :class:`events.Pipeline`.

Before :meth:`CentralRouter.start` the router accepts and buffers: events wait
in their mailboxes (under the same bounds and policies) until the workers start.

:meth:`CentralRouter.unsubscribe_nowait` takes a subscription out of routing at
once and returns the task that drains it: its workers finish what its mailbox
holds for up to ``timeout_s``, the rest ends as ``drain_timeout``, and its
counters stay in the router's totals so the accounting identity still balances.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol, runtime_checkable

from daemon.mailbox import Mailbox
from daemon.router_config import RouterConfig
from daemon.trie import SubjectTrie
from events.delivery import (
    DL_DRAIN_TIMEOUT,
    DeadLetterStore,
    Handler,
    Pipeline,
    TimeoutWatchdog,
    WorkerSlot,
)
from events.errors import ConfigError, InvalidSubject
from events.lifecycle import CANCEL_ROUND_S, end_workers, finish_drain
from events.model import (
    PRIORITY_MAX,
    PRIORITY_MIN,
    REJECT_DRAINING,
    REJECT_INVALID,
    REJECT_OVERLOADED,
    Ack,
    DrainReport,
    Event,
    RouterStats,
    SubscriptionStats,
    add_counts,
)
from events.subjects import validate_subject
from events.subscription import Subscription

#: A compiled route: (mailboxes checked before any write, mailboxes that displace, queue groups).
Route = tuple[tuple[Mailbox, ...], tuple[Mailbox, ...], tuple[tuple[Mailbox, ...], ...]]

_INVALID: Route = ((), (), ())
_ACCEPTED = Ack.accepted()


@runtime_checkable
class Unsubscribing(Protocol):
    """A router that can remove a subscription (not part of ``events.Router``)."""

    def unsubscribe_nowait(
        self, service: str, pattern: str, *, timeout_s: float
    ) -> asyncio.Task[SubscriptionStats]: ...


class CentralRouter:
    """``events.Router``: a subject trie, bounded per-subscription mailboxes, worker pools."""

    def __init__(self, config: RouterConfig | None = None) -> None:
        self.config = config if config is not None else RouterConfig()
        self.dead_letters = DeadLetterStore(self.config.dead_letter_capacity)
        self.watchdog = TimeoutWatchdog(self.config.watchdog_tick_s)
        self._boxes: list[Mailbox] = []
        self._services: set[str] = set()
        self._trie: SubjectTrie[Mailbox] = SubjectTrie()
        self._cache: dict[str, Route] = {}
        #: Subjects whose route is only ``reject`` mailboxes: publish's inlined fast path.
        self._fast: dict[str, tuple[Mailbox, ...]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        #: Each mailbox's workers, so an unsubscribe can stop exactly those.
        self._workers: dict[Mailbox, list[WorkerSlot]] = {}
        #: Unsubscribed mailboxes still draining, with the task that drains each.
        self._leaving: dict[Mailbox, asyncio.Task[SubscriptionStats]] = {}
        #: Counters of subscriptions that are gone, kept so the totals still balance.
        self._retired = _Retired()
        #: Unsubscribed mailboxes whose workers outlived every cancellation: their
        #: counters may still move, so they stay live (their tasks stay in ``_tasks``).
        self._stranded: list[Mailbox] = []
        self._subscribed = 0
        self._watchdog_task: asyncio.Task[None] | None = None
        self._started = False
        self._closed = False
        self._drain_task: asyncio.Task[DrainReport] | None = None
        self._published = 0
        self._accepted = 0
        self._rejected: dict[str, int] = {}
        self._unrouted = 0
        self._unknown_targets = 0

    # -- configuration -------------------------------------------------------------

    def subscribe(self, sub: Subscription, handler: Handler) -> None:
        """Add a subscription; after start its workers start at once. Clears the route cache."""
        if self._closed:
            raise RuntimeError("router is draining: no new subscriptions")
        if any(box.sub.key == sub.key for box in self._boxes):
            raise ConfigError(f"subscription {sub.key!r} is already registered")
        seed = None if self.config.seed is None else self.config.seed + self._subscribed
        box = Mailbox(Pipeline(sub, handler, self.dead_letters, seed=seed))
        self._trie.insert(sub.pattern, box)
        self._subscribed += 1
        self._boxes.append(box)
        self._services.add(sub.service)
        self._cache.clear()
        self._fast.clear()
        if self._started:
            self._spawn_workers(box)

    def unsubscribe_nowait(
        self, service: str, pattern: str, *, timeout_s: float
    ) -> asyncio.Task[SubscriptionStats]:
        """Stop routing to a subscription now; answer the task that drains it.

        No event published after this call reaches it (queue groups go on with
        their other members). The task lets its workers finish what its mailbox
        holds for up to ``timeout_s``, ends the rest as ``drain_timeout``, stops
        its workers and answers its final counters, which stay in the router's
        totals. A subscription already leaving answers the same task. Needs a
        running event loop; raises ``ConfigError`` for an unknown subscription and
        ``RuntimeError`` once drain has begun (drain ends everything itself).
        """
        if self._closed:
            raise RuntimeError("router is draining: it ends every subscription itself")
        key = f"{service}|{pattern}"
        box = next((b for b in self._boxes if b.sub.key == key), None)
        if box is None:
            leaving = [task for b, task in self._leaving.items() if b.sub.key == key]
            if leaving:
                return leaving[-1]
            raise ConfigError(f"subscription {service!r} on {pattern!r} is not registered")
        self._boxes.remove(box)
        self._services = {b.sub.service for b in self._boxes}
        # The trie has no removal: rebuilding it keeps the insertion (routing) order.
        trie: SubjectTrie[Mailbox] = SubjectTrie()
        for kept in self._boxes:
            trie.insert(kept.sub.pattern, kept)
        self._trie = trie
        self._cache.clear()
        self._fast.clear()
        box.close_nowait()
        task = asyncio.create_task(self._leave(box, timeout_s), name=f"unsubscribe {key}")
        self._leaving[box] = task
        return task

    async def unsubscribe(
        self, service: str, pattern: str, *, timeout_s: float
    ) -> SubscriptionStats:
        """:meth:`unsubscribe_nowait`, awaited; a cancelled caller does not stop the drain."""
        return await asyncio.shield(self.unsubscribe_nowait(service, pattern, timeout_s=timeout_s))

    async def _leave(self, box: Mailbox, timeout_s: float) -> SubscriptionStats:
        slots = self._workers.pop(box, [])
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
            self._tasks = [task for task in self._tasks if task not in done]
            box.pipeline.deliveries = box.deliveries
            if len(done) == len(tasks):
                self._retired.add_nowait(box)
            else:
                # A worker was abandoned: what it holds is still pending, visibly.
                self._stranded.append(box)
            del self._leaving[box]
        failures = [task.exception() for task in done if not task.cancelled() and task.exception()]
        if failures:
            raise RuntimeError(f"{len(failures)} worker(s) of {box.sub.key} crashed") from failures[
                0
            ]
        return box.pipeline.stats(0, max(0, box.in_flight))

    async def start(self) -> None:
        """Start the watchdog and every subscription's workers (idempotent)."""
        if self._started:
            return
        self._started = True
        self._watchdog_task = asyncio.create_task(self.watchdog.run(), name="router-watchdog")
        for box in self._boxes:
            self._spawn_workers(box)

    # -- intake --------------------------------------------------------------------

    def publish(self, event: Event) -> Ack:
        """Route ``event`` to its mailboxes now; never awaits. Every outcome is counted."""
        self._published += 1
        # The common case, inlined: a cached subject whose mailboxes all use ``reject``,
        # no queue group, no explicit targets. Everything else takes the general path,
        # which also owns validation (the fast cache holds valid subjects only and is
        # emptied when drain starts).
        boxes = self._fast.get(event.subject)
        priority = event.priority
        if boxes is None or event.targets or not PRIORITY_MIN <= priority <= PRIORITY_MAX:
            return self._publish_general(event)
        size = len(event.payload)
        for box in boxes:
            if box.count >= box.capacity or box.nbytes + size > box.capacity_bytes:
                return self._reject(REJECT_OVERLOADED)
        level = PRIORITY_MAX - priority
        for box in boxes:
            box.deliveries += 1
            box.levels[level].append(event)
            box.count += 1
            box.nbytes += size
            if box.waiters:
                box.wake_one()
        self._accepted += 1
        return _ACCEPTED

    def _publish_general(self, event: Event) -> Ack:
        if self._closed:
            return self._reject(REJECT_DRAINING)
        route = self._cache.get(event.subject)
        if route is None:
            route = self._route_miss(event.subject)
        if route is _INVALID or not PRIORITY_MIN <= event.priority <= PRIORITY_MAX:
            return self._reject(REJECT_INVALID)
        if event.targets:
            route = self._targeted(route, event.targets)
        checked, offered, groups = route
        if groups:
            checked, offered = self._pick_members(checked, offered, groups)
        size = len(event.payload)
        for box in checked:
            if not box.admits_nowait(size):
                return self._reject(REJECT_OVERLOADED)
        for box in checked:
            box.push_nowait(event, size)
        for box in offered:
            box.offer_nowait(event, size)
        if not checked and not offered:
            self._unrouted += 1
        self._accepted += 1
        return _ACCEPTED

    def _reject(self, reason: str) -> Ack:
        self._rejected[reason] = self._rejected.get(reason, 0) + 1
        return Ack.rejected(reason)

    def _route_miss(self, subject: str) -> Route:
        try:
            tokens = validate_subject(subject)
        except InvalidSubject:
            route = _INVALID
        else:
            route = compile_route(self._trie.match(tokens))
        cache = self._cache
        if len(cache) >= self.config.match_cache_size:
            # FIFO eviction: a dict iterates in insertion order.
            self._fast.pop(next(iter(cache)), None)
            del cache[next(iter(cache))]
        cache[subject] = route
        checked, offered, groups = route
        if checked and not offered and not groups:
            self._fast[subject] = checked
        return route

    def _targeted(self, route: Route, targets: tuple[str, ...]) -> Route:
        wanted = set(targets)
        self._unknown_targets += len(wanted - self._services)
        checked, offered, groups = route
        return (
            tuple(box for box in checked if box.sub.service in wanted),
            tuple(box for box in offered if box.sub.service in wanted),
            tuple(
                kept
                for group in groups
                if (kept := tuple(box for box in group if box.sub.service in wanted))
            ),
        )

    @staticmethod
    def _pick_members(
        checked: tuple[Mailbox, ...],
        offered: tuple[Mailbox, ...],
        groups: tuple[tuple[Mailbox, ...], ...],
    ) -> tuple[tuple[Mailbox, ...], tuple[Mailbox, ...]]:
        # One member per group: the fewest pending; ties go to the earliest subscribed.
        chosen = [min(group, key=_pending) for group in groups]
        return (
            checked + tuple(box for box in chosen if box.policy == "reject"),
            offered + tuple(box for box in chosen if box.policy != "reject"),
        )

    # -- workers -------------------------------------------------------------------

    def _spawn_workers(self, box: Mailbox) -> None:
        for index in range(box.sub.concurrency):
            slot = WorkerSlot()
            task = asyncio.create_task(self._work(box, slot), name=f"worker {box.sub.key} #{index}")
            slot.task = task
            self.watchdog.slots.append(slot)
            self._workers.setdefault(box, []).append(slot)
            self._tasks.append(task)

    async def _work(self, box: Mailbox, slot: WorkerSlot) -> None:
        run = box.pipeline.run
        levels = box.levels
        batch = self.config.worker_batch
        slice_s = self.config.worker_slice_s
        clock = time.perf_counter
        while True:
            if not box.count:
                if box.closing:
                    return
                await box.wait()
                continue
            budget = batch
            until = clock() + slice_s
            while box.count and budget and clock() < until:
                # Mailbox.pop_nowait, inlined: this loop is the router's hot path.
                # (In-flight is derived from the counters, so it needs no bookkeeping here.)
                event = (levels[0] or levels[1] or levels[2] or levels[3]).popleft()
                box.count -= 1
                box.nbytes -= len(event.payload)
                await run(event, slot)
                budget -= 1
            if box.count:
                # Batch or time slice used up: a long backlog must not starve
                # publishers and other workers.
                await asyncio.sleep(0)

    # -- shutdown and stats ----------------------------------------------------------

    async def drain(self, timeout_s: float) -> DrainReport:
        """Stop intake, let workers finish for up to ``timeout_s``, dead-letter the rest.

        Drain runs once: a second call (concurrent or later) awaits the first one's
        report. It runs in its own task, so a caller cancelled while waiting does not
        leave the router half drained.
        """
        if self._drain_task is None:
            # Intake stops now, not when the drain task first runs.
            self._closed = True
            self._fast.clear()
            self._drain_task = asyncio.create_task(self._drain(timeout_s), name="router-drain")
        return await asyncio.shield(self._drain_task)

    async def _drain(self, timeout_s: float) -> DrainReport:
        began = time.monotonic()
        await self.start()
        for box in self._boxes:
            box.close_nowait()
        ended = await end_workers(
            self._tasks, timeout_s, lambda: sum(max(0, box.in_flight) for box in self._live())
        )
        timed_out = ended.timed_out
        for box in self._live():
            queued = box.take_all_nowait()
            timed_out += len(queued)
            for event in queued:
                box.pipeline.dead_letter_nowait(event, DL_DRAIN_TIMEOUT, 0, "queued at drain")
        leaving = list(self._leaving.values())
        if leaving:
            # Unsubscribes under way now find their workers ended and fold their counters.
            # One whose worker drain abandoned is not awaited (it ends on its own timeout):
            # its mailbox stays live, so what the worker holds shows as pending.
            await asyncio.wait(leaving, timeout=CANCEL_ROUND_S if ended.abandoned else None)
        return await finish_drain(
            began=began,
            completed=ended.in_time,
            timed_out=timed_out,
            stats=self.stats,
            workers=self._tasks,
            watchdog=self._watchdog_task,
            what="router",
            abandoned=len(ended.abandoned),
        )

    def _observed_pending(self) -> int:
        """Deliveries not yet ended, counted where they are rather than from the counters.

        Queued ones are counted in the mailboxes' queues. In-flight ones can only be
        derived from the counters, and only while a worker lives to hold one: once
        drain has ended every worker there is nothing in flight, so a counter that
        drifted shows up as an identity error instead of hiding in ``pending``.
        """
        boxes = self._live()
        queued = sum(len(level) for box in boxes for level in box.levels)
        if not any(not task.done() for task in self._tasks):
            return queued
        return queued + sum(max(0, box.in_flight) for box in boxes)

    def _live(self) -> list[Mailbox]:
        """Subscriptions with deliveries possibly under way: routed, leaving and stranded ones."""
        return [*self._boxes, *self._leaving, *self._stranded]

    def stats(self) -> RouterStats:
        """A snapshot of every counter, with each subscription's depth, in-flight and breaker."""
        retired = self._retired
        dead_lettered = dict(retired.dead_lettered)
        dropped = dict(retired.dropped)
        deliveries, delivered, retries = retired.deliveries, retired.delivered, retired.retries
        pending = self._observed_pending()
        subs = []
        for box in self._live():
            pipeline = box.pipeline
            deliveries += box.deliveries
            delivered += pipeline.delivered
            retries += pipeline.retries
            add_counts(dead_lettered, pipeline.dead_lettered)
            add_counts(dropped, pipeline.dropped)
            pipeline.deliveries = box.deliveries
            subs.append(pipeline.stats(box.count, box.in_flight))
        return RouterStats(
            published=self._published,
            accepted=self._accepted,
            rejected=dict(self._rejected),
            unrouted=self._unrouted,
            unknown_targets=self._unknown_targets,
            deliveries=deliveries,
            delivered=delivered,
            dead_lettered=dead_lettered,
            dropped=dropped,
            retries=retries,
            pending=pending,
            dead_letter_store=len(self.dead_letters),
            subscriptions=subs,
        )


class _Retired:
    """The summed final counters of unsubscribed (fully drained) subscriptions."""

    def __init__(self) -> None:
        self.subscriptions = 0
        self.deliveries = 0
        self.delivered = 0
        self.retries = 0
        self.dead_lettered: dict[str, int] = {}
        self.dropped: dict[str, int] = {}

    def add_nowait(self, box: Mailbox) -> None:
        pipeline = box.pipeline
        self.subscriptions += 1
        self.deliveries += box.deliveries
        self.delivered += pipeline.delivered
        self.retries += pipeline.retries
        add_counts(self.dead_lettered, pipeline.dead_lettered)
        add_counts(self.dropped, pipeline.dropped)


def compile_route(boxes: list[Mailbox]) -> Route:
    """Split matching mailboxes into reject-checked ones, displacing ones and queue groups."""
    groups: dict[str, list[Mailbox]] = {}
    checked: list[Mailbox] = []
    offered: list[Mailbox] = []
    for box in boxes:
        group = box.sub.queue_group
        if group is not None:
            groups.setdefault(group, []).append(box)
        elif box.policy == "reject":
            checked.append(box)
        else:
            offered.append(box)
    return tuple(checked), tuple(offered), tuple(tuple(members) for members in groups.values())


def _pending(box: Mailbox) -> int:
    return box.pending
