"""A lane: one durable consumer, the subscriptions that share it, and their workers.

An ungrouped subscription has a lane of its own; the members of a queue group
share one (each message goes to one member: a matching one with the fewest
messages waiting or running). Every process with the same config has the same
lanes, so the processes share each consumer's messages as well.

Messages arrive from the lane's :class:`Puller` into the chosen member's local
queue; the member's ``concurrency`` workers (long-lived tasks, none per
message) take them through :func:`run_attempt`. A member's queue holds at
most what the pull credit let in (``concurrency * prefetch`` for the lane).
A message that waited long in the queue gets an in-progress ack before its
handler starts, so a busy lane does not see it redelivered behind its back.

A *local* lane (:meth:`JetStreamRouter.subscribe_local`, the daemon's stream
hubs) has a consumer of this process alone, ephemeral on the server: it sees
every event stored on its pattern, whichever process accepted it. Publishers do
not route to it; each message it takes counts as a delivery when it arrives
(``received``), and what it still holds at drain is acked and counted
``dropped`` (nobody else will take it: the consumer goes with the process).

Members can join and leave while the router runs (``membership``): a leaving
member takes no new message (its workers finish what it holds), and a member
that joined late takes only messages stored after it joined (``since_seq``,
compared with the message's stream sequence), the ones routed to it; earlier
ones go to the members that were there, or are skipped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable

import msgspec
import nats.errors
from nats.aio.msg import Msg

from daemon.jetstream.attempt import (
    Transport,
    run_attempt,
    stream_sequence,
    succeeded_nowait,
)
from daemon.jetstream.puller import Puller
from events.codecs import msgpack_decoder
from events.delivery import Handler, Pipeline, WorkerSlot, failed_attempt
from events.model import Event
from events.subjects import subject_matches
from events.subscription import Subscription

log = logging.getLogger(__name__)

#: ack_wait exceeds the longest handler timeout of a lane by at least this (seconds).
ACK_WAIT_MARGIN_S = 1.0
#: Deliveries a worker runs back to back, and for how long, before yielding the loop.
WORKER_BATCH = 256
WORKER_SLICE_S = 0.001

Item = tuple[Msg, Event, float]


class Member:
    """One subscription of a lane: its pipeline (counters, breaker), queue and workers."""

    def __init__(self, sub: Subscription, handler: Handler, pipeline: Pipeline) -> None:
        self.sub = sub
        self.handler = handler
        self.pipeline = pipeline
        self.queue: deque[Item] = deque()
        self.busy = 0
        self.closing = False
        #: Unsubscribed: routed nothing new, given no new message; its workers finish.
        self.leaving = False
        #: Joined after start: takes only messages stored after this stream sequence.
        self.since_seq = 0
        self.tasks: list[asyncio.Task[None]] = []
        self.slots: list[WorkerSlot] = []
        self.idle: deque[asyncio.Future[None]] = deque()
        #: Workers woken and not yet running: while one is, a new message wakes no other.
        self.waking = 0

    async def wait(self) -> None:
        future = asyncio.get_running_loop().create_future()
        self.idle.append(future)
        try:
            await future
        finally:
            if not future.done():
                future.cancel()
            elif not future.cancelled():
                self.waking -= 1  # woken by ``wake_one``: running now

    def wake_one(self) -> None:
        while self.idle:
            future = self.idle.popleft()
            if not future.done():
                future.set_result(None)
                self.waking += 1
                return

    def wake_more_nowait(self) -> None:
        """Wake an idle worker if messages wait and no woken worker is yet to run.

        Called when a worker starts a turn with messages still queued (``on_message``
        makes the same check inline): a burst wakes workers one after another, each
        as the previous one starts, rather than one per message up front. A worker whose handlers do
        not suspend empties the queue in its turn, so the rest would wake to nothing
        (measured: one wasted task step per five deliveries); handlers that suspend
        still get the next worker one loop step later, up to ``concurrency``.
        """
        if not self.waking and self.idle and self.queue:
            self.wake_one()

    def wake_all(self) -> None:
        while self.idle:
            self.wake_one()


class Lane:
    """The members of one durable consumer and the loop that feeds them."""

    def __init__(
        self, key: str, label: str, durable: str, group: bool, *, local: bool = False
    ) -> None:
        self.key = key
        #: A consumer of this process alone (see the module docstring).
        self.local = local
        #: Local lane: messages taken (each a delivery), and those dropped at drain.
        self.received = 0
        self.dropped = 0
        #: A service name (or the queue group's), used on dead letters of unpublished events.
        self.label = label
        self.durable = durable
        self.group = group
        self.members: list[Member] = []
        #: The members not leaving (routing and new messages go to these only).
        self.active: tuple[Member, ...] = ()
        #: Every pattern a member of this lane had, and the consumer's filter subjects
        #: as last declared from them (they only widen: a message routed here must
        #: stay within the filter until it ends).
        self.patterns: set[str] = set()
        self.filters: list[str] = []
        #: The task running ``puller.run``.
        self.pull_task: asyncio.Task[None] | None = None
        self.puller: Puller | None = None
        self.transport: Transport | None = None
        self.ack_wait_s = 0.0
        self.skipped = 0
        self.undecodable = 0
        #: The highest stream sequence of an event this process stored for this lane (its
        #: PubAck's): the consumer has not seen them all while it has not delivered past it.
        self.stored_seq = 0
        #: Some member joined late: messages are matched against ``since_seq``.
        self.late = False
        #: Every member left and the puller is stopping: a new member needs a new lane.
        self.closing = False
        self._matches: dict[tuple[str, tuple[str, ...]], tuple[Member, ...]] = {}

    def refresh_nowait(self) -> None:
        """Membership changed: recompute the active members and forget cached matches."""
        self.active = tuple(member for member in self.members if not member.leaving)
        self.late = any(member.since_seq for member in self.active)
        self._matches.clear()

    @property
    def capacity_per_prefetch(self) -> int:
        return max(1, sum(member.sub.concurrency for member in self.active))

    def eligible(self, subject: str, targets: tuple[str, ...]) -> tuple[Member, ...]:
        """Members that may take an event on ``subject`` with ``targets`` (cached)."""
        key = (subject, targets)
        found = self._matches.get(key)
        if found is None:
            found = tuple(
                member
                for member in self.active
                if (not self.group or subject_matches(member.sub.pattern, subject))
                and (not targets or member.sub.service in targets)
            )
            if len(self._matches) >= 4096:
                self._matches.clear()
            self._matches[key] = found
        return found

    def routes(self, subject: str, targets: tuple[str, ...]) -> bool:
        """Does an event on ``subject`` make a delivery on this lane? (publisher's view)"""
        if not self.active or self.local:
            return False
        if not self.group and not subject_matches(self.active[0].sub.pattern, subject):
            return False
        return bool(self.eligible(subject, targets))

    def on_message(self, msg: Msg) -> Awaitable[None] | None:
        """Put a pulled message in a member's queue; answer None, or (when none may take
        it) the settling the puller must await.

        Synchronous on the path every delivered message takes: a coroutine per
        message only where the message is settled at once (undecodable, skipped,
        given back).
        """
        try:
            event = msgpack_decoder.decode(msg.data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            self.undecodable += 1
            log.error("undecodable message on %s (%s): terminated", msg.subject, exc)
            return self._settle_now(msg, "term")
        if not self.active:
            # Every member left: give it back at once (another process, or a member
            # that joins later, takes it); this lane's puller is stopping.
            return self._settle_now(msg, "nak")
        members = self._matches.get((event.subject, event.targets))
        if members is None:
            members = self.eligible(event.subject, event.targets)
        if members and self.late:
            seq = stream_sequence(msg)
            members = tuple(member for member in members if member.since_seq < seq)
        if not members:
            # Routed here by the filter but meant for none of the members (or stored
            # before the member it matches joined): not a delivery.
            self.skipped += 1
            return self._settle_now(msg, "ack")
        if self.local:
            self.received += 1
        member = members[0]
        if len(members) > 1:
            member = min(members, key=lambda m: len(m.queue) + m.busy)
        member.queue.append((msg, event, time.monotonic()))
        if not member.waking and member.idle:
            member.wake_one()
        return None

    async def _settle_now(self, msg: Msg, verb: str) -> None:
        """Settle a message no member takes (``nak``: counted returned); release its credit."""
        transport = self.transport
        assert transport is not None and self.puller is not None
        if await transport.settle(msg, verb) and verb == "nak":
            transport.returned += 1
        self.puller.released_nowait()

    async def work(self, member: Member, slot: WorkerSlot) -> None:
        """One worker of ``member``: take queued messages through an attempt each.

        With the breaker closed the attempt's success path runs here, inlined (see
        :func:`succeeded_nowait`): a coroutine less per delivery. Any failure goes to
        :func:`run_attempt` as its already-failed first attempt, the one copy of the
        rules; an open breaker sends the message there from the start.
        """
        transport = self.transport
        puller = self.puller
        assert transport is not None and puller is not None
        queue = member.queue
        pipeline = member.pipeline
        breaker = pipeline.breaker
        handler = pipeline.handler
        # A deadline the watchdog stamps when it first sees the delivery (TimeoutWatchdog).
        unstamped = -pipeline.timeout_s
        stale_s = self.ack_wait_s / 2
        clock = time.monotonic
        while True:
            if not queue:
                if member.closing:
                    return
                await member.wait()
                continue
            member.wake_more_nowait()
            budget = WORKER_BATCH
            now = clock()
            until = now + WORKER_SLICE_S
            while True:
                msg, event, received = queue.popleft()
                member.busy += 1
                try:
                    if now - received > stale_s:
                        await transport.settle(msg, "progress")
                    if breaker.state == "closed":
                        slot.deadline = unstamped
                        try:
                            await handler(event)
                        except BaseException as exc:
                            failed = failed_attempt(exc)
                            await run_attempt(pipeline, msg, event, slot, transport, failed)
                        else:
                            succeeded_nowait(pipeline, msg, slot, transport)
                            try:
                                await msg.ack()
                            except nats.errors.Error as exc:
                                if transport.ack_failed_nowait(msg, exc):
                                    pipeline.other_delivered += 1
                            except asyncio.CancelledError:
                                # Drain gave up on this worker: redelivered at once, as
                                # ``run_attempt`` does with a cancelled attempt.
                                if await transport.settle(msg, "nak"):
                                    transport.returned += 1
                                raise
                            else:
                                pipeline.other_delivered += 1
                    else:
                        await run_attempt(pipeline, msg, event, slot, transport)
                finally:
                    member.busy -= 1
                    puller.released_nowait()
                budget -= 1
                if not queue or not budget:
                    break
                # One clock read per delivery: the slice's end and the next one's staleness.
                now = clock()
                if now >= until:
                    break
            if queue:
                await asyncio.sleep(0)

    async def give_back_queued(self) -> int:
        """NAK every message still queued (drain), for redelivery at once; answer how many."""
        count = 0
        for member in self.members:
            count += await self.give_back(member)
        return count

    async def give_back(self, member: Member) -> int:
        """NAK what ``member`` still has queued, for redelivery at once; answer how many.

        A local lane acks it instead and counts it dropped (see the module docstring).
        """
        transport = self.transport
        puller = self.puller
        count = 0
        while member.queue:
            msg, _, _ = member.queue.popleft()
            if self.local:
                # Nobody else takes a local consumer's messages: settle them here.
                self.dropped += 1
                if transport is not None:
                    await transport.settle(msg, "ack")
            elif transport is not None and await transport.settle(msg, "nak"):
                transport.returned += 1
            if puller is not None:
                puller.released_nowait()
            count += 1
        return count

    @property
    def held(self) -> int:
        return sum(len(member.queue) + member.busy for member in self.members)

    def breaker_blocks(self) -> bool:
        """True while every member's breaker is open and still cooling (pulling pauses).

        Reads ``retry_after`` rather than the state: a breaker moves to half-open
        only when asked, so an idle lane must pull again once ``open_s`` is over.
        """
        return all(
            member.pipeline.breaker.state == "open"
            and member.sub.breaker.on_open == "wait"
            and member.pipeline.breaker.retry_after() > 0
            for member in self.active
        )
