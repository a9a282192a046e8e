"""Subscriptions added and removed while a JetStream router runs (reload, stream hubs).

Joining after start (:func:`join_nowait`): the member routes at once, so every
event published from then on counts a delivery for it. Its consumer must exist
before any such event is stored (an interest stream drops a message nobody is
interested in) and must not hand it what was stored before (not routed to it).
So when a consumer is new, or a queue group's filter must widen, the outgoing
buffer is *held*: events offered from the join on stay unsent until the
consumer is declared; events offered before it are stored first. Then a new
consumer starts at the next message stored (JetStream ``DeliverPolicy.NEW``);
a widened one delivers older messages on the new pattern as well, so the new
member takes only messages stored after the stream's last sequence at the join
(``Member.since_seq``); older ones go to the members that were there or are
skipped. A member that rejoins a lane whose consumer exists (a reload changing
a subscription's settings) needs no hold: its consumer's backlog was routed to
that lane. Declarations run one at a time and retry until the server answers;
meanwhile publish stays bounded (a full buffer answers ``overloaded``).

Leaving (:func:`leave_nowait`), the protocol of
``daemon.router.central.Unsubscribing``: the member is out of routing at once
and takes no new message; its workers finish what it holds for up to
``timeout_s``, the rest is given back to the stream (NAK) for the lane's other
members, a member that rejoins, or another process. When a lane loses its last
member its pulling stops and it is retired; its durable consumer stays on the
server (processes sharing it go on), and what it still holds stays ``pending``
here, as after drain. The member's counters stay in the router's totals.
Before start nothing was declared: the deliveries a lane's last member still
has in the outgoing buffer are dead-lettered ``drain_timeout`` at once (as the
in-process router does with its mailbox), so none is left counting forever.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import nats.errors

from daemon.jetstream import wiring
from daemon.jetstream.errors import TransportError
from daemon.jetstream.lane import Lane, Member
from daemon.jetstream.streams import (
    delete_consumer,
    ensure_consumer,
    filter_subjects,
    last_sequence,
)
from events.codecs import msgpack_decoder
from events.delivery import DL_DRAIN_TIMEOUT
from events.errors import ConfigError
from events.lifecycle import end_workers
from events.model import SubscriptionStats

if TYPE_CHECKING:
    from daemon.jetstream.router import JetStreamRouter

log = logging.getLogger(__name__)

#: Backoff between tries of a declaration the server refused or did not answer (seconds).
RETRY_FIRST_S = 0.1
RETRY_CAP_S = 5.0


def join_nowait(router: JetStreamRouter, lane: Lane, member: Member, fresh: bool) -> None:
    """``member`` (already in ``lane``) joined after start: hold if needed, declare in a task."""
    patterns = {*lane.patterns, member.sub.pattern}
    new_consumer = fresh and lane.durable not in router.declared
    widen = not fresh and filter_subjects(router.config.subject_prefix, patterns) != lane.filters
    # A local lane is routed nothing at publish (it counts what arrives): no hold.
    needs_hold = (new_consumer or widen) and not lane.local
    hold = router.outgoing.hold_nowait() if needs_hold else None
    task = asyncio.create_task(
        _declare(router, lane, member, hold, widen), name=f"declare-{lane.durable}"
    )
    router.declaring.add(task)
    task.add_done_callback(router.declaring.discard)


async def _declare(
    router: JetStreamRouter, lane: Lane, member: Member, hold: int | None, widen: bool
) -> None:
    """Declare until the server takes it, then release the hold. Only drain cancels
    this: the hold then stays, and what it keeps ends as ``unpublished``."""
    await router.ready.wait()
    async with router.declare_lock:
        if hold is not None:
            await router.outgoing.stored_before(hold)
        delay = RETRY_FIRST_S
        while True:
            try:
                await _declare_once(router, lane, member, hold is not None, widen)
                break
            except (TransportError, nats.errors.Error, TimeoutError) as exc:
                log.warning("declaring %s: %r; trying again in %.1fs", lane.durable, exc, delay)
                await asyncio.sleep(delay)
                delay = min(RETRY_CAP_S, delay * 2)
    if hold is not None:
        router.outgoing.release_nowait(hold)


async def _declare_once(
    router: JetStreamRouter, lane: Lane, member: Member, held: bool, widen: bool
) -> None:
    config = router.config
    assert router.nc is not None
    js = router.nc.jetstream(timeout=config.connect_timeout_s)
    if widen:
        # Before the filter widens: older messages on the new pattern are not the member's.
        member.since_seq = await last_sequence(js, config)
        lane.refresh_nowait()
    patterns = {*lane.patterns, member.sub.pattern}
    filters = filter_subjects(config.subject_prefix, patterns)
    capacity = lane.capacity_per_prefetch * config.prefetch
    ack_wait_s = wiring.ack_wait_for(router, lane)
    await ensure_consumer(
        js,
        config,
        durable=lane.durable,
        filters=filters,
        ack_wait_s=ack_wait_s,
        max_ack_pending=capacity,
        deliver_new=held or lane.local,
        inactive_s=wiring.inactive_for(router, lane),
    )
    lane.patterns = patterns
    lane.filters = filters
    lane.ack_wait_s = ack_wait_s
    router.declared.add(lane.durable)
    if lane.closing:
        return  # every member left meanwhile: nothing to pull for
    if lane.puller is None:
        await wiring.open_puller(router, lane, capacity)
    else:
        lane.puller.resize_nowait(capacity)
        lane.puller.paused = False
        lane.puller.wake_nowait()
    if not member.leaving and not member.tasks:
        wiring.spawn_workers(router, lane, member)


def leave_nowait(
    router: JetStreamRouter, service: str, pattern: str, timeout_s: float
) -> asyncio.Task[SubscriptionStats]:
    """Take the subscription out of routing now; answer the task that ends it (see above)."""
    key = f"{service}|{pattern}"
    found = next(
        ((lane, m) for lane in router.lanes.values() for m in lane.active if m.sub.key == key),
        None,
    )
    if found is None:
        leaving = [task for m, task in router.leaving.items() if m.sub.key == key]
        if leaving:
            return leaving[-1]
        raise ConfigError(f"subscription {service!r} on {pattern!r} is not registered")
    lane, member = found
    member.leaving = True
    lane.refresh_nowait()
    router.forget_nowait(member.sub)
    if not lane.active and lane.puller is not None:
        lane.puller.paused = True
    if router.started or router.starting:
        leave = _leave(router, lane, member, timeout_s)
    else:
        if not lane.active:
            _unroute_buffered(router, lane, member)
        wiring.retire_nowait(router, lane, member)
        leave = _left(member)
    task = asyncio.create_task(leave, name=f"unsubscribe {key}")
    router.leaving[member] = task
    task.add_done_callback(lambda _: router.leaving.pop(member, None))
    return task


async def _delete_local(router: JetStreamRouter, lane: Lane) -> None:
    """A local lane's last member left: its consumer goes (the stream keeps nothing for it)."""
    nc = router.nc
    if nc is None or nc.is_closed:
        return
    try:
        await delete_consumer(
            nc.jetstream(timeout=router.config.connect_timeout_s), router.config, lane.durable
        )
    except (TransportError, nats.errors.Error, TimeoutError) as exc:
        log.warning("deleting local consumer %s: %r (the server expires it)", lane.durable, exc)


def _unroute_buffered(router: JetStreamRouter, lane: Lane, member: Member) -> None:
    """Before start: dead-letter the deliveries routed to ``lane`` still in the buffer."""
    for entry in router.outgoing.queue:
        if lane in entry.routes:
            entry.routes = tuple(other for other in entry.routes if other is not lane)
            event = msgpack_decoder.decode(entry.data)
            member.pipeline.dead_letter_nowait(
                event, DL_DRAIN_TIMEOUT, 0, "buffered at unsubscribe, before start"
            )


async def _left(member: Member) -> SubscriptionStats:
    return member.pipeline.stats(0, 0)


async def _leave(
    router: JetStreamRouter, lane: Lane, member: Member, timeout_s: float
) -> SubscriptionStats:
    await router.ready.wait()
    try:
        if not lane.active:
            # The last member: a member subscribing from now on gets a lane of its own.
            lane.closing = True
        member.closing = True
        member.wake_all()
        await end_workers(list(member.tasks), timeout_s, lambda: member.busy)
        await lane.give_back(member)
        if lane.closing and lane.puller is not None:
            # Under the declaration lock: a declaration may be opening this puller.
            async with router.declare_lock:
                await lane.puller.close()
        if lane.closing and lane.local:
            await _delete_local(router, lane)
    finally:
        wiring.retire_nowait(router, lane, member)
    return member.pipeline.stats(0, member.busy)
