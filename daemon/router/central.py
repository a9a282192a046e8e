"""The centralised router (architecture B): one trie, one mailbox and worker pool per subscription.

``publish`` looks the subject up in a per-subject route cache (filled from the
subscription trie on a miss, cleared on subscribe), checks admission on every
``reject`` mailbox before writing any, appends the event to each target mailbox
and returns. It never awaits. Each subscription's workers drain its mailbox in a
loop, each delivery by the shared :class:`events.Pipeline`'s rules: the worker
runs the first attempt and its success inline and hands any failure to
``Pipeline.run`` (``first=failed_attempt(exc)``), because a ``Pipeline.run``
coroutine per delivery cost about as much as the rest of the worker's work on
it (docs/benchmarks.md, "Routing hot path"; tests/conformance/test_inline_attempt.py
holds the copy to ``Pipeline.run``).

Before :meth:`CentralRouter.start` the router accepts and buffers: events wait
in their mailboxes (under the same bounds and policies) until the workers start.

:meth:`CentralRouter.unsubscribe_nowait` takes a subscription out of routing at
once and returns the task that drains it: its workers finish what its mailbox
holds for up to ``timeout_s``, the rest ends as ``drain_timeout``, and its
counters stay in the router's totals so the accounting identity still balances.

What lives beside it: the route table and compiled routes in ``daemon.router.routes``,
the subscriptions' mailboxes and workers (subscribe, unsubscribe, retire) in
``daemon.router.subscriptions``, the snapshot's assembly in ``events.stats``. Publish
and the worker loop stay here, reading what they need from ``self`` directly.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol, runtime_checkable

from daemon.router.config import RouterConfig
from daemon.router.mailbox import Mailbox
from daemon.router.progress import Mark
from daemon.router.routes import INVALID, RouteTable, narrow_route, pick_members
from daemon.router.subscriptions import Subscriptions
from events.delivery import (
    DL_DRAIN_TIMEOUT,
    DeadLetterStore,
    Handler,
    TimeoutWatchdog,
    WorkerSlot,
    failed_attempt,
)
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
    event_size,
    header_bytes,
)
from events.stats import router_stats
from events.subscription import Subscription

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
        self._routes = RouteTable(self.config.match_cache_size, self.config.match_cache_bytes)
        self._subs = Subscriptions(self._routes, self.dead_letters, self.watchdog, self.config.seed)
        # Held directly (never rebound by their owners): publish reads them per event.
        self._cache = self._routes.cache
        self._fast = self._routes.fast
        self._single = self._routes.single
        self._services = self._subs.services
        #: The routed mailboxes, in routing order.
        self._boxes = self._subs.boxes
        self._watchdog_task: asyncio.Task[None] | None = None
        self._started = False
        self._closed = False
        self._drain_task: asyncio.Task[DrainReport] | None = None
        self._published = 0
        #: Events accepted by every path but the one-mailbox fast path, and the
        #: deliveries those paths created: an event that path accepts is exactly one
        #: delivery of its mailbox, so it is counted there alone (see :meth:`stats`).
        self._accepted = 0
        self._created = 0
        self._rejected: dict[str, int] = {}
        self._unrouted = 0
        self._unknown_targets = 0

    # -- configuration -------------------------------------------------------------

    def subscribe(self, sub: Subscription, handler: Handler) -> None:
        """Add a subscription; after start its workers start at once. Clears the route cache."""
        if self._closed:
            raise RuntimeError("router is draining: no new subscriptions")
        box = self._subs.add_nowait(sub, handler)
        if self._started:
            self._subs.spawn_nowait(box, self._work)

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
        return self._subs.remove_nowait(service, pattern, timeout_s=timeout_s)

    async def unsubscribe(
        self, service: str, pattern: str, *, timeout_s: float
    ) -> SubscriptionStats:
        """:meth:`unsubscribe_nowait`, awaited; a cancelled caller does not stop the drain."""
        return await asyncio.shield(self.unsubscribe_nowait(service, pattern, timeout_s=timeout_s))

    async def start(self) -> None:
        """Start the watchdog and every subscription's workers (idempotent)."""
        if self._started:
            return
        self._started = True
        self._watchdog_task = asyncio.create_task(self.watchdog.run(), name="router-watchdog")
        for box in self._boxes:
            self._subs.spawn_nowait(box, self._work)

    # -- intake --------------------------------------------------------------------

    def publish(self, event: Event) -> Ack:
        """Route ``event`` to its mailboxes now; never awaits. Every outcome is counted."""
        self._published += 1
        # The common case, inlined: a cached subject whose mailboxes all use ``reject``,
        # no queue group, no explicit targets. Everything else takes the general path,
        # which also owns validation (the fast dicts hold valid subjects only and are
        # emptied when drain starts).
        priority = event.priority
        # Two plain compares: a chained one costs the interpreter stack shuffles.
        if event.targets or priority < PRIORITY_MIN or priority > PRIORITY_MAX:
            return self._publish_general(event)
        # events.event_size, inlined (the equivalence tests hold it to it).
        subject = event.subject
        size = len(subject) + len(event.payload)
        if event.headers:
            size += header_bytes(event.headers)
        box = self._single.get(subject)
        if box is not None:
            # One mailbox (fan-out 1): the loops below, unrolled.
            if not box.room or size > box.room_bytes:
                return self._reject(REJECT_OVERLOADED)
            level = PRIORITY_MAX - priority
            box.pushed[level] += 1
            queue = box.levels[level]
            queue.append(event)
            queue.append(size)  # what the worker charges back (Mailbox.levels)
            box.room -= 1
            box.room_bytes -= size
            if box.waiters:
                box.wake_one()
            # Accepted: counted as this delivery of its mailbox (stats derives it).
            return _ACCEPTED
        boxes = self._fast.get(subject)
        if boxes is None:
            return self._publish_general(event)
        for box in boxes:
            if not box.room or size > box.room_bytes:
                return self._reject(REJECT_OVERLOADED)
        level = PRIORITY_MAX - priority
        for box in boxes:
            box.pushed[level] += 1
            queue = box.levels[level]
            queue.append(event)
            queue.append(size)
            box.room -= 1
            box.room_bytes -= size
            if box.waiters:
                box.wake_one()
        self._accepted += 1
        self._created += len(boxes)
        return _ACCEPTED

    def _publish_general(self, event: Event) -> Ack:
        if self._closed:
            return self._reject(REJECT_DRAINING)
        route = self._cache.get(event.subject)
        if route is None:
            route = self._routes.miss(event.subject)
        if route is INVALID or not PRIORITY_MIN <= event.priority <= PRIORITY_MAX:
            return self._reject(REJECT_INVALID)
        if event.targets:
            wanted = set(event.targets)
            self._unknown_targets += len(wanted - self._services)
            route = narrow_route(route, wanted)
        checked = route.checked
        offered = route.offered
        if route.groups:
            checked, offered = pick_members(checked, offered, route.groups)
        size = event_size(event)
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
        self._created += len(checked) + len(offered)  # offer_nowait creates one each
        return _ACCEPTED

    def _reject(self, reason: str) -> Ack:
        self._rejected[reason] = self._rejected.get(reason, 0) + 1
        return Ack.rejected(reason)

    # -- workers -------------------------------------------------------------------

    async def _work(self, box: Mailbox, slot: WorkerSlot) -> None:
        pipeline = box.pipeline
        run = pipeline.run
        handler = pipeline.handler
        breaker = pipeline.breaker
        # A deadline the watchdog stamps when it first sees the delivery (TimeoutWatchdog).
        unstamped = -pipeline.timeout_s
        clock = pipeline.clock
        # The four priority levels as locals, highest first: the pop tests each in turn.
        top, high, normal, low = box.levels
        # The mailbox is empty when all of its room is left.
        empty = box.capacity
        batch = self.config.worker_batch
        slice_s = self.config.worker_slice_s
        runs = 0
        while True:
            if box.room == empty:
                slot.run = 0  # holds nothing: what it held has ended
                if box.closing:
                    return
                await box.wait()
                continue
            # A new run: every delivery of the last one has ended (daemon.router.progress).
            runs += 1
            slot.run = runs
            budget = batch
            check = batch - 8 if batch > 8 else 0
            until = clock() + slice_s
            while True:
                # Mailbox.pop_nowait, inlined: this loop is the router's hot path.
                # (In-flight is derived from the counters, so it needs no bookkeeping here.)
                level = top or high or normal or low
                if not level:
                    break  # every level is empty
                event = level.popleft()
                box.room_bytes += level.popleft()  # the charge publish put behind it
                box.room += 1
                if breaker.state == "closed":
                    # Pipeline.run's first attempt and its success, inlined; any
                    # failure goes back to run(), which judges it and retries.
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
                            pipeline.forgive_timeout(slot)
                        if breaker.state == "closed":
                            # Counts it delivered too (Pipeline.delivered).
                            breaker.closed_successes += 1
                        else:
                            breaker.on_success()
                            pipeline.other_delivered += 1
                else:
                    slot.deadline = 0.0  # run() may wait for the breaker first
                    await run(event, slot)
                # The batch ends at 0, and the slice is checked every 8th delivery: a
                # clock read each time cost ~45 ns a delivery, and a CPU-heavy backlog
                # overruns the slice by at most 7. (Compares, not ``budget & 7``: the
                # interpreter specializes int compares and subtraction, not ``&``.)
                budget -= 1
                if budget <= check:
                    if budget <= 0 or clock() >= until:
                        break
                    check = budget - 8 if budget > 8 else 0
            slot.deadline = 0.0
            if box.room != empty:
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
            self._single.clear()
            self._drain_task = asyncio.create_task(self._drain(timeout_s), name="router-drain")
        return await asyncio.shield(self._drain_task)

    async def _drain(self, timeout_s: float) -> DrainReport:
        began = time.monotonic()
        subs = self._subs
        await self.start()
        for box in self._boxes:
            box.close_nowait()
        ended = await end_workers(
            subs.tasks, timeout_s, lambda: sum(max(0, box.in_flight) for box in subs.live())
        )
        timed_out = ended.timed_out
        for box in subs.live():
            queued = box.take_all_nowait()
            timed_out += len(queued)
            for event in queued:
                box.pipeline.dead_letter_nowait(event, DL_DRAIN_TIMEOUT, 0, "queued at drain")
        leaving = list(subs.leaving.values())
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
            workers=subs.tasks,
            watchdog=self._watchdog_task,
            what="router",
            abandoned=len(ended.abandoned),
        )

    def progress_mark_nowait(self) -> Mark:
        """A mark of every delivery not ended now; its ``passed_nowait`` says when they have."""
        subs = self._subs
        return Mark(subs.live(), subs.live)

    def _observed_pending(self) -> int:
        """Deliveries not yet ended, counted where they are rather than from the counters.

        Queued ones are counted in the mailboxes' queues. In-flight ones can only be
        derived from the counters, and only while a worker lives to hold one: once
        drain has ended every worker there is nothing in flight, so a counter that
        drifted shows up as an identity error instead of hiding in ``pending``.
        """
        boxes = self._subs.live()
        queued = sum(box.queued(level) for box in boxes for level in range(len(box.levels)))
        if not any(not task.done() for task in self._subs.tasks):
            return queued
        return queued + sum(max(0, box.in_flight) for box in boxes)

    def stats(self) -> RouterStats:
        """A snapshot of every counter, with each subscription's depth, in-flight and breaker."""
        copies = []
        created = self._subs.retired.deliveries
        for box in self._subs.live():
            pipeline = box.pipeline
            pipeline.deliveries = box.deliveries
            created += pipeline.deliveries
            copies.append((pipeline, box.count, box.in_flight))
        return router_stats(
            published=self._published,
            # Every delivery not created by a counted path is one event the one-mailbox
            # fast path accepted. Still checked against ``published``, which is counted
            # on its own: an accept without its delivery (or one too many) shows there.
            accepted=self._accepted + created - self._created,
            rejected=self._rejected,
            unrouted=self._unrouted,
            unknown_targets=self._unknown_targets,
            pending=self._observed_pending(),
            dead_letter_store=len(self.dead_letters),
            copies=copies,
            retired=self._subs.retired,
        )
