"""The harness's own floor: a router with no queues and no topology at all.

Each matching delivery starts at once, inside ``publish``: the handler's
coroutine is stepped eagerly, and one that returns without awaiting is
delivered there and then (breaker success, ``delivered`` counted), which is
all a no-op handler needs. Only if the handler raises or suspends (awaits I/O)
does the rest go through the shared :class:`events.Pipeline` (retries, timeout,
backoff, dead letters) with that first attempt already begun, in a task of its
own kept in a set so it is never garbage-collected mid-flight. A task, or even a
pipeline coroutine, per delivery would cost more than everything else the
harness does per event, and the floor is meant to show the harness's cost
(Python 3.12's eager task factory does the same). The accounting is as
complete as the real routers'; the only thing missing is what the bench
compares: queues, workers and routing topology. There is no admission control
either, so it never rejects for overload.

Like the real routers it accepts before :meth:`NullRouter.start`: such an event
is validated, routed and counted at once (queue-group member chosen, deliveries
counted), and its deliveries are held, unbounded, and begun in publish order
when ``start`` runs; ``drain`` starts the router first, so it delivers them too.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections import deque
from collections.abc import Coroutine
from typing import Any

from events import Ack, DeadLetterStore, DrainReport, Event, RouterStats, Subscription
from events.delivery import Handler, Pipeline, TimeoutWatchdog, WorkerSlot
from events.errors import ConfigError
from events.model import REJECT_DRAINING, REJECT_INVALID
from events.subjects import is_valid_subject, subject_matches

_ACCEPTED = Ack.accepted()


def _as_coroutine_function(handler: Handler) -> Handler:
    """``handler`` as an ``async def``, so that every call returns a coroutine to step."""

    async def adapted(event: Event) -> None:
        await handler(event)

    return adapted


async def _failed(exc: BaseException) -> None:
    """An attempt that already raised ``exc``, for :meth:`Pipeline.run` to account."""
    raise exc


async def _resume(coro: Coroutine[Any, Any, None], waiting: Any) -> None:
    """Run the rest of ``coro``, which suspended on ``waiting``, as a Task would have.

    It returns what ``coro`` returns and raises what ``coro`` raises. A
    cancellation of the task awaiting this (the watchdog's or drain's) cancels
    the awaited future, and is thrown into ``coro`` at its suspension point,
    exactly where a Task running ``coro`` directly would have raised it.
    """
    while True:
        try:
            if waiting is None:
                await asyncio.sleep(0)  # a bare yield asks for one turn of the loop
            elif not asyncio.isfuture(waiting):
                # What Task does with a bad yield: tell the coroutine, don't wait on it.
                bad = RuntimeError(f"bad yield in a delivery: {waiting!r}")
                try:
                    waiting = coro.throw(bad)
                except StopIteration:
                    return
                continue
            else:
                # A Task clears this flag on the future its coroutine yields; the
                # C future refuses to be awaited again while it is still set.
                waiting._asyncio_future_blocking = False
                await waiting
        except asyncio.CancelledError as exc:
            try:
                waiting = coro.throw(exc)
            except StopIteration:
                return
            continue
        except Exception:
            pass  # coro sees the future's exception itself when it resumes
        try:
            waiting = coro.send(None)
        except StopIteration:
            return


class NullRouter:
    """Delivers every event at once; a delivery that suspends finishes in its own task."""

    def __init__(self, config: object = None) -> None:
        self._pipelines: list[Pipeline] = []
        self._groups: dict[str, list[Pipeline]] = {}
        self._group_next: dict[str, int] = {}
        self._members: dict[tuple[str, str], list[Pipeline]] = {}
        self._routes: dict[str, tuple[Pipeline, ...]] = {}
        self._dead_letters = DeadLetterStore()
        self._watchdog = TimeoutWatchdog()
        self._free_slots: list[WorkerSlot] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._watchdog_task: asyncio.Task[None] | None = None
        #: Deliveries of events accepted before start, in publish order.
        self._held: deque[tuple[Pipeline, Event]] = deque()
        self._started = False
        self._open = False
        self._draining = False
        self._spare = self._new_slot()
        self.published = 0
        self.accepted = 0
        self.rejected: dict[str, int] = {}
        self.unrouted = 0
        self.unknown_targets = 0

    def subscribe(self, sub: Subscription, handler: Handler) -> None:
        """Add a subscription, refused as both routers refuse it: while draining, or twice."""
        if self._draining:
            raise RuntimeError("router is draining: no new subscriptions")
        if any(p.sub.key == sub.key for p in self._pipelines):
            raise ConfigError(f"subscription {sub.key!r} is already registered")
        if not inspect.iscoroutinefunction(handler):
            handler = _as_coroutine_function(handler)
        pipeline = Pipeline(sub, handler, self._dead_letters, seed=len(self._pipelines))
        self._pipelines.append(pipeline)
        if sub.queue_group is not None:
            self._groups.setdefault(sub.queue_group, []).append(pipeline)
        self._routes.clear()
        self._members.clear()

    async def start(self) -> None:
        """Open intake and begin the deliveries held since before start (idempotent)."""
        if self._started:
            return
        self._started = True
        self._watchdog_task = asyncio.create_task(self._watchdog.run())
        # Intake opens only after: an event a handler publishes meanwhile is held
        # behind the others, so publish order holds, and pending stays exact.
        held = self._held
        while held:
            pipeline, event = held.popleft()
            self._begin(pipeline, event)
        self._open = not self._draining

    def _route(self, subject: str) -> tuple[Pipeline, ...]:
        """Matching pipelines of ``subject``; a queue group appears once, as its first member."""
        seen: set[str] = set()
        matched: list[Pipeline] = []
        for pipeline in self._pipelines:
            group = pipeline.sub.queue_group
            if group is not None and group in seen:
                continue
            if subject_matches(pipeline.sub.pattern, subject):
                if group is not None:
                    seen.add(group)
                matched.append(pipeline)
        return tuple(matched)

    def publish(self, event: Event) -> Ack:
        # The hot path of the harness floor: kept flat on purpose.
        self.published += 1
        if not self._open:
            return self._closed(event)
        routes = self._routes.get(event.subject)
        if routes is None:
            routes = self._route_miss(event.subject)
            if routes is None:
                return self._reject(REJECT_INVALID)
        if event.targets:
            routes = self._targeted(routes, event)
        self.accepted += 1
        if not routes:
            self.unrouted += 1
            return _ACCEPTED
        for pipeline in routes:
            group = pipeline.sub.queue_group
            if group is not None:
                pipeline = self._next_member(group, event)
            pipeline.deliveries += 1
            breaker = pipeline.breaker
            if breaker.state != "closed":
                self._begin(pipeline, event)
                continue
            # Start the handler itself: most return without awaiting, and
            # then the attempt is over before any deadline could matter.
            # subscribe() made every handler a coroutine function.
            call: Coroutine[Any, Any, None] = pipeline.handler(event)  # type: ignore[assignment]
            try:
                waiting = call.send(None)
            except StopIteration:
                breaker.on_success()
                pipeline.other_delivered += 1
            except (Exception, asyncio.CancelledError) as exc:
                self._begin(pipeline, event, _failed(exc))
            else:
                self._begin(pipeline, event, _resume(call, waiting))
        return _ACCEPTED

    def _route_miss(self, subject: str) -> tuple[Pipeline, ...] | None:
        """Route ``subject`` and cache it; None for an invalid subject (never cached)."""
        if not is_valid_subject(subject):
            return None
        routes = self._routes[subject] = self._route(subject)
        return routes

    def _closed(self, event: Event) -> Ack:
        """Intake before start (accept, route, hold) and after drain began (reject)."""
        if self._draining:
            return self._reject(REJECT_DRAINING)
        routes = self._routes.get(event.subject)
        if routes is None:
            routes = self._route_miss(event.subject)
            if routes is None:
                return self._reject(REJECT_INVALID)
        if event.targets:
            routes = self._targeted(routes, event)
        self.accepted += 1
        if not routes:
            self.unrouted += 1
        for pipeline in routes:
            group = pipeline.sub.queue_group
            if group is not None:
                pipeline = self._next_member(group, event)
            pipeline.deliveries += 1
            self._held.append((pipeline, event))
        return _ACCEPTED

    def _begin(
        self, pipeline: Pipeline, event: Event, first: Coroutine[Any, Any, None] | None = None
    ) -> None:
        """Take one counted delivery through the pipeline (``first``: an attempt already
        begun); a task finishes it if it suspends."""
        slot = self._spare
        coro = pipeline.run(event, slot, first)
        try:
            waiting = coro.send(None)
        except StopIteration:
            return
        self._suspended(coro, waiting, slot)

    def _targeted(self, routes: tuple[Pipeline, ...], event: Event) -> tuple[Pipeline, ...]:
        """Keep the routes of the named services; count names nobody subscribed as.

        A queue group stays (as its first member, which stands for the group)
        when any of its matching members is named: :meth:`_next_member` then
        picks among the named ones, as the daemon's ``_targeted`` does.
        """
        targets = event.targets
        known = {p.sub.service for p in self._pipelines}
        self.unknown_targets += sum(1 for t in targets if t not in known)
        kept: list[Pipeline] = []
        for pipeline in routes:
            group = pipeline.sub.queue_group
            if group is None:
                if pipeline.sub.service in targets:
                    kept.append(pipeline)
            elif any(p.sub.service in targets for p in self._group_members(group, event.subject)):
                kept.append(pipeline)
        return tuple(kept)

    def _group_members(self, group: str, subject: str) -> list[Pipeline]:
        """The members of ``group`` whose pattern matches ``subject``, in subscription order."""
        members = self._members.get((group, subject))
        if members is None:
            members = [p for p in self._groups[group] if subject_matches(p.sub.pattern, subject)]
            self._members[(group, subject)] = members
        return members

    def _next_member(self, group: str, event: Event) -> Pipeline:
        """Round robin over the members of ``group`` matching the event (and named, if targeted)."""
        members = self._group_members(group, event.subject)
        if event.targets:
            # _targeted kept this group only if one of these is named: never empty.
            members = [p for p in members if p.sub.service in event.targets]
        index = self._group_next.get(group, 0)
        self._group_next[group] = index + 1
        return members[index % len(members)]

    def _suspended(self, coro: Coroutine[Any, Any, None], waiting: Any, slot: WorkerSlot) -> None:
        """The delivery awaits something: its slot and the rest of it go to a task."""
        self._spare = self._free_slots.pop() if self._free_slots else self._new_slot()
        task = asyncio.create_task(_resume(coro, waiting))
        slot.task = task
        self._tasks.add(task)
        task.add_done_callback(lambda done: self._release(done, slot))

    def _new_slot(self) -> WorkerSlot:
        slot = WorkerSlot()
        self._watchdog.slots.append(slot)
        return slot

    def _release(self, task: asyncio.Task[None], slot: WorkerSlot) -> None:
        self._tasks.discard(task)
        slot.task = None
        slot.deadline = 0.0
        slot.timed_out = False
        self._free_slots.append(slot)

    def _reject(self, reason: str) -> Ack:
        self.rejected[reason] = self.rejected.get(reason, 0) + 1
        return Ack.rejected(reason)

    async def drain(self, timeout_s: float) -> DrainReport:
        """Stop intake, wait for every delivery task; cancel (and dead-letter) the late ones."""
        began = time.monotonic()
        self._draining = True
        self._open = False
        # As both real routers do: drain starts the router, so held events are delivered.
        await self.start()
        timed_out = 0
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=timeout_s)
            for task in pending:
                task.cancel()
            if pending:
                # Pipeline.run dead-letters a cancelled delivery as drain_timeout.
                await asyncio.gather(*pending, return_exceptions=True)
            timed_out = len(pending)
        if self._watchdog_task is not None:
            self._watchdog_task.cancel()
            await asyncio.gather(self._watchdog_task, return_exceptions=True)
            self._watchdog_task = None
        return DrainReport(
            completed=timed_out == 0,
            duration_s=time.monotonic() - began,
            timed_out=timed_out,
            stats=self.stats(),
        )

    def stats(self) -> RouterStats:
        dead: dict[str, int] = {}
        dropped: dict[str, int] = {}
        deliveries = delivered = retries = 0
        for pipeline in self._pipelines:
            deliveries += pipeline.deliveries
            delivered += pipeline.delivered
            retries += pipeline.retries
            for reason, count in pipeline.dead_lettered.items():
                dead[reason] = dead.get(reason, 0) + count
            for reason, count in pipeline.dropped.items():
                dropped[reason] = dropped.get(reason, 0) + count
        return RouterStats(
            published=self.published,
            accepted=self.accepted,
            rejected=dict(self.rejected),
            unrouted=self.unrouted,
            unknown_targets=self.unknown_targets,
            deliveries=deliveries,
            delivered=delivered,
            dead_lettered=dead,
            dropped=dropped,
            retries=retries,
            pending=len(self._tasks) + len(self._held),
            dead_letter_store=len(self._dead_letters),
            subscriptions=[p.stats(depth=0, in_flight=0) for p in self._pipelines],
        )
