"""The bounded outgoing buffer and the task that publishes it with many PubAcks in flight.

``offer_nowait`` admits an encoded event if the buffer (queued plus awaiting
their PubAck) stays within its bounds in events and bytes; the router answers
``overloaded`` otherwise, so ``publish`` never blocks and never drops. The
publisher task sends each event with the event id as ``Nats-Msg-Id`` and keeps
up to ``acks_in_flight`` PubAcks outstanding. A failed or lost publish (no
PubAck within ``publish_timeout_s``) goes back to the front of the buffer and
is sent again after a backoff: the stream's duplicate window makes the retry
safe. A PubAck flagged ``duplicate`` means the stream already holds that id;
the router is told, so it is counted once, not delivered twice.

Holds (for a consumer declared after start, see ``membership``): a hold taken
at some moment keeps every event offered from then on in the buffer, unsent,
until it is released, and :meth:`Outgoing.stored_before` waits until every
event offered before it has its PubAck. So a consumer created in between sees
exactly the events offered after the hold, and none is stored before the
consumer exists (an interest stream would drop what nobody was interested in).

This is what ``JetStreamContext.publish_async`` does (a publish with a reply
inbox, the PubAck answered there), through nats-py's client, without its
per-message costs: ``publish_async`` draws a NUID and random bytes, a future,
a semaphore slot and a JSON parse into a dataclass for every message, which
held it near 28,000 publishes/s here against about 54,000 this way. PubAcks
are decoded with msgspec into :class:`PubAckReply`.

Watches (the daemon's "202 means stored"): :meth:`Outgoing.watch_nowait` answers a
future that is set once the last ``count`` events offered have their PubAck, and
fails with :class:`NotStored` if any of them is given up (drain ended first).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

import msgspec
import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg

from daemon.jetstream.config import JetStreamConfig

log = logging.getLogger(__name__)

#: Backoff after a failed publish: doubles per consecutive failure, up to the cap.
RETRY_BASE_S = 0.01
#: Bytes of PubAcks nats-py may hold for the inbox before it drops (slow consumer).
PUBACK_INBOX_BYTES = 16 * 1024 * 1024
RETRY_CAP_S = 1.0
#: Publishes sent back to back before the publisher yields to the event loop.
SEND_BATCH = 128


class PubAckError(msgspec.Struct):
    """The error a stream answered a publish with."""

    code: int = 0
    err_code: int = 0
    description: str = ""


class PubAckReply(msgspec.Struct):
    """A PubAck (``stream``, ``seq``, ``duplicate``) or an ``error``."""

    stream: str = ""
    seq: int = 0
    duplicate: bool = False
    error: PubAckError | None = None


_decode_reply = msgspec.json.Decoder(PubAckReply).decode
#: The status a publish gets when no stream listens on its subject (or the server is busy).
NO_RESPONDERS = "503"


class Route(Protocol):
    """Where an entry's deliveries go (a lane): named on its dead letters."""

    label: str
    #: The highest stream sequence of an event stored for this route (from its PubAck).
    stored_seq: int


class NotStored(Exception):
    """Set on a watch's future when drain gave up an event before its PubAck arrived."""


class Watch:
    """Events of one request awaiting their PubAck; ``future`` is set when none is left."""

    __slots__ = ("future", "left")

    def __init__(self, left: int, future: asyncio.Future[None]) -> None:
        self.left = left
        self.future = future

    def stored_nowait(self) -> None:
        self.left -= 1
        if not self.left and not self.future.done():
            self.future.set_result(None)

    def given_up_nowait(self) -> None:
        if not self.future.done():
            self.future.set_exception(NotStored("the event was not confirmed stored before drain"))


class Entry(msgspec.Struct, gc=False):
    """One accepted event on its way to the stream.

    Untracked by the garbage collector (``gc=False``, as ``events.Event``): it holds
    no reference back to anything that holds it, so it never closes a cycle, and an
    accepted backlog (tens of thousands while a burst waits for its PubAcks) is not
    traversed by every collection its allocations trigger.
    """

    subject: str
    #: ``{"Nats-Msg-Id": <event id>}``: the stream's dedupe key.
    headers: dict[str, str]
    data: bytes
    #: The lanes it was routed to (one delivery each), for dead letters.
    routes: tuple[Route, ...]
    size: int
    #: Offer order (set by ``offer_nowait``): holds compare it.
    index: int = 0
    #: The request awaiting this event's PubAck, if one does.
    watch: Watch | None = None
    #: When it was last sent (the publish timeout counts from it).
    sent_at: float = 0.0


def make_entry(subject: str, msg_id: str, data: bytes, routes: tuple[Route, ...]) -> Entry:
    """The entry of an event stored as ``subject`` with id ``msg_id``, encoded as ``data``."""
    return Entry(subject, {"Nats-Msg-Id": msg_id}, data, routes, len(data))


class Outgoing:
    """The buffer, its counters and the publisher loop (:meth:`run`, one task)."""

    def __init__(
        self,
        config: JetStreamConfig,
        on_duplicate: Callable[[Entry], None],
    ) -> None:
        self.max_events = config.outgoing_max_events
        self.max_bytes = config.outgoing_max_bytes
        self.max_in_flight = config.acks_in_flight
        self.timeout_s = config.publish_timeout_s
        self.on_duplicate = on_duplicate
        self.queue: deque[Entry] = deque()
        #: Publishes awaiting their PubAck by reply subject, in send order (a PubAck
        #: comes back on that subject: found without parsing it).
        self.in_flight: dict[str, Entry] = {}
        #: Events held (queued or awaiting their PubAck) and their bytes.
        self.count = 0
        self.nbytes = 0
        self.stored = 0
        self.duplicates = 0
        self.retried = 0
        self.errors: dict[str, int] = {}
        self._failures = 0
        self._pause_until = 0.0
        self._stopped = False
        self._token = 0
        self._inbox = ""
        self._wake = asyncio.Event()
        #: Set when ``count`` falls to 0; cleared by ``flush`` before it waits (not per offer).
        self._empty = asyncio.Event()
        #: Entries offered so far (the next one gets this plus one as its index).
        self.offered = 0
        #: Active holds (each the index of the first entry it keeps), in order.
        self._holds: list[int] = []
        #: Per hold: entries offered before it not yet stored, and an event set at 0.
        self._before: dict[int, list[int]] = {}
        self._stored_before: dict[int, asyncio.Event] = {}

    # -- intake (synchronous) ------------------------------------------------------

    def offer_nowait(self, entry: Entry) -> bool:
        """Take ``entry`` if the bounds allow; False means the caller must reject it."""
        if self.count >= self.max_events or self.nbytes + entry.size > self.max_bytes:
            return False
        self.offered += 1
        entry.index = self.offered
        self.queue.append(entry)
        self.count += 1
        self.nbytes += entry.size
        self._wake.set()
        return True

    def watch_nowait(self, count: int) -> asyncio.Future[None]:
        """A future set once the last ``count`` entries offered have their PubAck.

        Called right after offering them, with no await in between: they are then
        still the last ``count`` entries of the queue (the publisher task has not run).
        Raise ``ValueError`` when they are not (a caller that awaited in between).
        """
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if count <= 0:
            future.set_result(None)
            return future
        queue = self.queue
        if count > len(queue) or queue[-count].index != self.offered - count + 1:
            raise ValueError(f"the last {count} entries offered are no longer all queued")
        watch = Watch(count, future)
        for i in range(1, count + 1):
            queue[-i].watch = watch
        return future

    # -- the publisher ---------------------------------------------------------------

    async def open(self, nc: Client) -> None:
        """Subscribe the inbox PubAcks come back on."""
        self._inbox = nc.new_inbox()
        # ``acks_in_flight`` bounds the PubAcks owed, far below PUBACK_INBOX_BYTES; the
        # byte bound is for anyone else publishing to the inbox. A PubAck dropped past it
        # times its publish out, which is retried (the stream dedupes the id).
        await nc.subscribe(
            f"{self._inbox}.*",
            cb=self._on_reply,
            pending_msgs_limit=-1,
            pending_bytes_limit=PUBACK_INBOX_BYTES,
        )

    async def run(self, nc: Client) -> None:
        """Publish until cancelled; never raises on a failed publish (it is retried).

        Sends in bursts of up to ``SEND_BATCH`` (bounded by the PubAcks allowed in
        flight and the first hold), the clock read once per burst, then yields.
        """
        queue = self.queue
        in_flight = self.in_flight
        reply_prefix = f"{self._inbox}."
        sweep_every = self.timeout_s / 4
        next_sweep = time.monotonic() + sweep_every
        publish = nc.publish
        holds = self._holds  # changed in place, so a hold taken mid-burst is seen
        while True:
            now = time.monotonic()
            if now >= next_sweep:
                self._sweep_nowait(now)
                next_sweep = now + sweep_every
            room = min(self.max_in_flight - len(in_flight), len(queue), SEND_BATCH)
            if room <= 0 or now < self._pause_until or (holds and queue[0].index >= holds[0]):
                self._wake.clear()
                wait_s = min(sweep_every, max(self._pause_until - now, 0.0) or sweep_every)
                try:
                    async with asyncio.timeout(wait_s):
                        await self._wake.wait()
                except TimeoutError:
                    pass
                continue
            token = self._token
            while room and queue:
                entry = queue[0]
                # Read each time: ``publish`` may yield, and a hold taken meanwhile keeps
                # every entry offered after it.
                if holds and entry.index >= holds[0]:
                    break
                queue.popleft()
                token += 1
                reply = f"{reply_prefix}{token}"
                entry.sent_at = now
                in_flight[reply] = entry
                try:
                    await publish(entry.subject, entry.data, reply=reply, headers=entry.headers)
                except (nats.errors.Error, OSError) as exc:
                    del in_flight[reply]
                    queue.appendleft(entry)
                    self._failed_nowait(type(exc).__name__)
                    break
                room -= 1
            self._token = token
            await asyncio.sleep(0)

    async def _on_reply(self, msg: Msg) -> None:
        entry = self.in_flight.pop(msg.subject, None)
        if entry is None or self._stopped:
            return  # late (already retried) or after stop
        if msg.headers and msg.headers.get("Status") == NO_RESPONDERS:
            self._retry_nowait(entry, "no_responders")
            return
        try:
            reply = _decode_reply(msg.data)
        except msgspec.DecodeError:
            self._retry_nowait(entry, "bad_reply")
            return
        if reply.error is not None:
            self._retry_nowait(entry, f"error_{reply.error.err_code or reply.error.code}")
            return
        self._failures = 0
        self.count -= 1
        self.nbytes -= entry.size
        if self._before:
            self._settled_nowait(entry.index)
        if entry.watch is not None:
            entry.watch.stored_nowait()
        seq = reply.seq
        for route in entry.routes:
            if seq > route.stored_seq:
                route.stored_seq = seq
        if reply.duplicate:
            self.duplicates += 1
            self.on_duplicate(entry)
        else:
            self.stored += 1
        if not self.count:
            self._empty.set()
        if self.queue:
            # Room for one more in flight. With nothing queued the publisher sleeps on:
            # ``offer_nowait`` wakes it (a wake per PubAck would cost a task step each).
            self._wake.set()

    def _retry_nowait(self, entry: Entry, kind: str) -> None:
        self.retried += 1
        self.queue.appendleft(entry)
        self._failed_nowait(kind)

    def _failed_nowait(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1
        self._failures += 1
        backoff = min(RETRY_CAP_S, RETRY_BASE_S * 2.0 ** min(self._failures - 1, 20))
        self._pause_until = time.monotonic() + backoff
        if self._failures in (1, 10, 100) or self._failures % 1000 == 0:
            log.warning("publish failed (%s), %d in a row; retrying", kind, self._failures)
        self._wake.set()

    def _sweep_nowait(self, now: float) -> None:
        """Retry publishes whose PubAck is older than the timeout (a late one is ignored)."""
        cutoff = now - self.timeout_s
        stale = []
        for reply, entry in self.in_flight.items():
            if entry.sent_at > cutoff:
                break  # in send order: the rest are younger
            stale.append(reply)
        for reply in stale:
            self._retry_nowait(self.in_flight.pop(reply), "timeout")

    # -- holds -------------------------------------------------------------------------

    def hold_nowait(self) -> int:
        """Keep every entry offered from now on unsent until :meth:`release_nowait`.

        Answers the hold's index (the first entry it keeps). Entries held now
        all came before it; :meth:`stored_before` waits for them.
        """
        index = self.offered + 1
        self._holds.append(index)
        self._before[index] = [self.count]
        ready = asyncio.Event()
        if not self.count:
            ready.set()
        self._stored_before[index] = ready
        return index

    async def stored_before(self, hold: int) -> None:
        """Wait until every entry offered before ``hold`` has its PubAck (or was given up)."""
        ready = self._stored_before.get(hold)
        if ready is not None:
            await ready.wait()

    def release_nowait(self, hold: int) -> None:
        """End ``hold``: what it kept is sent (in offer order)."""
        if hold in self._holds:
            self._holds.remove(hold)
        self._before.pop(hold, None)
        ready = self._stored_before.pop(hold, None)
        if ready is not None:
            ready.set()
        self._wake.set()

    def _settled_nowait(self, index: int) -> None:
        for hold, left in self._before.items():
            if index < hold:
                left[0] -= 1
                if not left[0]:
                    self._stored_before[hold].set()

    # -- shutdown ----------------------------------------------------------------------

    async def flush(self, timeout_s: float) -> bool:
        """Wait until every held event has its PubAck; False if ``timeout_s`` ran out first."""
        if not self.count:
            return True
        self._empty.clear()
        try:
            async with asyncio.timeout(max(timeout_s, 0.0)):
                await self._empty.wait()
        except TimeoutError:
            return False
        return True

    def stop_nowait(self) -> list[Entry]:
        """Stop counting PubAcks; answer every event still held (never confirmed stored)."""
        self._stopped = True
        for hold in list(self._holds):
            self.release_nowait(hold)
        held = list(self.queue) + list(self.in_flight.values())
        for entry in held:
            if entry.watch is not None:
                entry.watch.given_up_nowait()
        self.queue.clear()
        self.in_flight.clear()
        self.count = 0
        self.nbytes = 0
        return held
