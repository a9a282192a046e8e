"""How a JetStream router drains: publish, let consumers finish, give the rest back, report.

1. Intake is already closed (``publish`` answers ``draining``). Consumers of
   subscriptions added after start are declared first (their holds released);
   one the server never took by the deadline leaves its events held, and they
   end as ``unpublished`` in step 5.
2. Every buffered event is published and its PubAck awaited.
3. With ``drain_backlog = true`` the workers keep consuming until this router's
   consumers hold nothing on the server (nothing queued, nothing un-acked: NAK'd
   retries included) and nothing is held locally. With ``drain_backlog = false``
   (the daemon's default: its consumers are shared and durable) pulling stops at
   once, what is queued here unstarted is NAK'd for immediate redelivery, and
   only the handlers already running are waited for: the stream keeps the rest
   for the other processes sharing the consumers, or for this service's restart.
4. Then pulling stops (the inboxes are unsubscribed, so nothing given back
   comes back here); workers still busy are cancelled (``events.lifecycle``),
   and what they held or still had queued is NAK'd without delay: the server
   redelivers it at once to another process sharing the consumer, or to this
   service when it restarts. It stays ``pending`` (in the stream), never lost.
5. Events that never got a PubAck are dead-lettered here as ``unpublished``
   (with the event, in the in-memory dead-letter store): the stream may not
   hold them, so they must end somewhere visible.
6. The consumers' backlog is read once more (``last_server_pending``); an
   ``ephemeral`` router then deletes its streams, and since nobody will ever
   handle what they still hold, those deliveries end here as ``drain_timeout``
   dead letters (counted per subscription; the events go with the stream), as
   the in-process routers end what their mailboxes hold. So a run in a
   namespace of its own (the bench, the tests) balances exactly: nothing is
   left pending. The connection closes.

The report is ``completed`` only if all of that happened within ``timeout_s``
and nothing is left pending; for a shared (not ephemeral) router, whose own
``pending`` is not zero when processes share the work, if step 3 settled in
time with nothing unconfirmed or abandoned.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

import msgspec
import nats.errors
from nats.js import JetStreamContext

from daemon.jetstream.errors import TransportError
from daemon.jetstream.outgoing import Entry
from daemon.jetstream.streams import delete_consumer
from events.codecs import msgpack_decoder
from events.delivery import DL_DRAIN_TIMEOUT
from events.lifecycle import end_workers, finish_drain
from events.model import DeadLetter, DrainReport

if TYPE_CHECKING:
    from daemon.jetstream.router import JetStreamRouter

log = logging.getLogger(__name__)

#: How often drain asks the server whether the consumers are done (seconds).
SETTLE_POLL_S = 0.01
#: Time allowed to flush the last acks and close the connection (seconds).
CLOSE_TIMEOUT_S = 2.0
#: Dead-letter reason of an accepted event whose publish was never confirmed.
DL_UNPUBLISHED = "unpublished"


async def drain_router(router: JetStreamRouter, timeout_s: float) -> DrainReport:
    """The drain of ``router`` (``JetStreamRouter.drain`` runs it once, in a task)."""
    began = time.monotonic()
    deadline = began + max(timeout_s, 0.0)

    def left() -> float:
        return max(0.0, deadline - time.monotonic())

    connected = True
    try:
        await router.start()
    except TransportError as exc:
        log.error("drain: %s; buffered events are dead-lettered", exc)
        connected = False
    declared = await _declarations(router, left())
    flushed = connected and declared and await router.outgoing.flush(left())
    if flushed and not router.config.drain_backlog:
        await _hand_back(router)
    settled = flushed and await _settle(router, deadline)
    for lane in router.lanes.values():
        if lane.puller is not None:
            # Unsubscribe first: what is given back below must not be redelivered to our
            # own pull requests, still open on the server, and sit here unseen.
            await lane.puller.close()
    members = router.members()
    for member in members:
        member.closing = True
        member.wake_all()
    ended = await end_workers(router.workers, left(), lambda: sum(m.busy for m in members))
    for lane in router.lanes.values():
        await lane.give_back_queued()
    lost = _dead_letter_unconfirmed(router, router.outgoing.stop_nowait())
    for task in router.tasks:
        task.cancel()
    await asyncio.gather(*router.tasks, *router.leaving.values(), return_exceptions=True)
    discarded = await _close(router)
    pending = router.stats().pending
    in_time = settled and ended.in_time
    report = await finish_drain(
        began=began,
        completed=in_time,
        timed_out=0 if in_time else max(pending, 0) + lost + discarded,
        stats=router.stats,
        workers=router.workers,
        watchdog=router.watchdog_task,
        what="jetstream",
        abandoned=len(ended.abandoned),
    )
    if not router.config.ephemeral and in_time and not lost and not ended.abandoned:
        # Shared consumers: this process's own pending is what it routed less what it
        # ended, and the other processes end part of it (or it ends theirs), so it is
        # not zero when all is done. Done here means settled as step 3 says.
        report = msgspec.structs.replace(report, completed=True)
    return report


async def _declarations(router: JetStreamRouter, timeout_s: float) -> bool:
    """Wait for pending declarations; cancel what is left at the deadline. True if none was."""
    pending = set(router.declaring)
    if pending:
        _, pending = await asyncio.wait(pending, timeout=max(timeout_s, 0.0))
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    return not pending


async def _hand_back(router: JetStreamRouter) -> None:
    """Stop pulling and NAK what is queued unstarted: the backlog is the other processes'."""
    for lane in router.lanes.values():
        if lane.puller is not None:
            await lane.puller.close()
    for lane in router.lanes.values():
        await lane.give_back_queued()


async def _settle(router: JetStreamRouter, deadline: float) -> bool:
    """Wait until nothing is held here or on the server for our consumers; False at the deadline."""
    while True:
        left = deadline - time.monotonic()
        if not any(lane.held for lane in router.lanes.values()) and not router.outgoing.count:
            if not router.config.drain_backlog:
                return True
            try:
                async with asyncio.timeout(max(left, 0.0)):
                    if await router.server_pending() == 0:
                        return True
            except (TimeoutError, TransportError):
                pass
        if time.monotonic() >= deadline:
            await _log_unsettled(router)
            return False
        await asyncio.sleep(SETTLE_POLL_S)


async def _log_unsettled(router: JetStreamRouter) -> None:
    """Say what each lane still held when step 3 ran out of time (why a drain timed out)."""
    nc = router.nc
    for lane in router.lanes.values():
        queued = [len(member.queue) for member in lane.members]
        busy = sum(member.busy for member in lane.members)
        puller = lane.puller.describe() if lane.puller is not None else "none"
        server = "unknown"
        if nc is not None and not nc.is_closed and not lane.local:
            try:
                js = nc.jetstream(timeout=CLOSE_TIMEOUT_S)
                info = await js.consumer_info(router.config.stream, lane.durable)
            except (TimeoutError, nats.errors.Error) as exc:
                server = repr(exc)
            else:
                server = (
                    f"{info.num_pending} unsent, {info.num_ack_pending} un-acked,"
                    f" {info.num_waiting} pull requests waiting"
                )
        log.warning(
            "drain: %s unsettled at the deadline: queued %s, %d running; puller: %s; server: %s",
            lane.durable,
            queued,
            busy,
            puller,
            server,
        )


def _dead_letter_unconfirmed(router: JetStreamRouter, entries: list[Entry]) -> int:
    """Dead-letter each delivery of events never confirmed stored; answer how many."""
    count = 0
    for entry in entries:
        try:
            event = msgpack_decoder.decode(entry.data)
        except (msgspec.DecodeError, msgspec.ValidationError):  # pragma: no cover - we encoded it
            continue
        for lane in entry.routes:
            router.dead_letters.add(
                DeadLetter(event, lane.label, DL_UNPUBLISHED, 0, "no PubAck before drain ended")
            )
        count += len(entry.routes)
    if count:
        router.unpublished[DL_UNPUBLISHED] = router.unpublished.get(DL_UNPUBLISHED, 0) + count
        log.warning("drain: %d deliveries of unconfirmed events dead-lettered", count)
    return count


async def _discard_backlog(router: JetStreamRouter, js: JetStreamContext) -> int:
    """Ephemeral streams are deleted next: end what the consumers hold as ``drain_timeout``.

    Counted per lane from the server's backlog (queued plus un-acked), at most
    what is still pending here: a consumer may also hold messages that were
    never routed to it (a queue group's catch-all filter, targeted events),
    which are not deliveries. What an abandoned worker still holds stays
    pending (it may yet finish). Lanes retired by unsubscribe count in the
    totals of retired members. Answers how many deliveries ended so.
    """
    left = router.stats().pending - sum(m.busy for m in router.members())
    seen: set[str] = set()
    ended = 0
    for lane in [*router.lanes.values(), *reversed(router.retired_lanes)]:
        if left <= 0 or lane.durable in seen or lane.local:
            continue
        seen.add(lane.durable)
        try:
            info = await js.consumer_info(router.config.stream, lane.durable)
        except (TimeoutError, nats.errors.Error) as exc:
            log.warning("drain: reading the backlog of %s: %r", lane.durable, exc)
            continue
        busy = sum(member.busy for member in lane.members)
        count = min(left, info.num_pending + info.num_ack_pending - busy)
        if count <= 0:
            continue
        counts = lane.members[0].pipeline.dead_lettered if lane.members else None
        if counts is None:
            counts = router.retired.dead_lettered
        counts[DL_DRAIN_TIMEOUT] = counts.get(DL_DRAIN_TIMEOUT, 0) + count
        left -= count
        ended += count
    if ended:
        log.warning("drain: %d deliveries left in the ephemeral stream end as drain_timeout", ended)
    return ended


async def _close(router: JetStreamRouter) -> int:
    """Flush the last acks and NAKs, read the server's backlog once more, close.

    Answers the deliveries an ephemeral router ended as ``drain_timeout``.
    """
    nc = router.nc
    discarded = 0
    if nc is None or nc.is_closed:
        return discarded
    try:
        async with asyncio.timeout(CLOSE_TIMEOUT_S):
            await nc.flush()
            await router.server_pending()
            js_local = nc.jetstream(timeout=CLOSE_TIMEOUT_S)
            for lane in router.lanes.values():
                if lane.local:
                    # Ours alone: the interest stream must not keep messages for it.
                    await delete_consumer(js_local, router.config, lane.durable)
    except (TimeoutError, TransportError, nats.errors.Error) as exc:
        log.warning("drain: could not read the consumers' backlog: %r", exc)
    if router.config.ephemeral:
        js = nc.jetstream(timeout=CLOSE_TIMEOUT_S)
        discarded = await _discard_backlog(router, js)
        if router.transport is not None:
            router.transport.streams_deleted = True
        for stream in (router.config.stream, router.config.dead_letter_stream):
            try:
                await js.delete_stream(stream)
            except (TimeoutError, nats.errors.Error) as exc:
                log.warning("drain: deleting ephemeral stream %s: %r", stream, exc)
    try:
        async with asyncio.timeout(CLOSE_TIMEOUT_S):
            await nc.close()
    except (TimeoutError, nats.errors.Error, RuntimeError) as exc:
        # RuntimeError: nats-py writes its pending buffer to a transport the lost
        # server already closed (uvloop refuses); the connection is gone either way.
        log.warning("drain: closing the NATS connection: %r", exc)
    return discarded
