"""Keeps pull requests outstanding on one durable consumer and hands its messages on.

This is the same pull protocol ``PullSubscription.fetch`` speaks (a request on
``$JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>`` naming a batch and an expiry,
answered on an inbox), sent through nats-py's client. ``fetch`` itself is not
used because it creates a task and a UUID for every message it returns
(``Subscription.next_msg``): measured on this machine it consumed about 20,000
messages/s where a callback inbox consumes about 65,000. Everything done with
a message (ack, nak with delay, term, in-progress, metadata) is nats-py's.

Credit: at most ``capacity`` messages are requested or held at once. When half
of it is free (or nothing is outstanding) a new request asks for the room; a
request that ends with a status (expired 408, refused 409, or any other but the
100 heartbeat) returns its unfilled count. A request that vanished (server
restart) is forgotten ``VANISHED_GRACE_S`` past its expiry, checked on time, so
the consumer never stalls for good.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable

import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

log = logging.getLogger(__name__)

#: JetStream status codes a pull request can be answered with.
HEARTBEAT = "100"
REQUEST_EXPIRED = "408"
CONFLICT = "409"
NO_MESSAGES = "404"
#: The header carrying how many messages of a request went unfilled.
PENDING_MESSAGES = "Nats-Pending-Messages"
#: How often a loop paused by open breakers looks again (seconds).
BLOCKED_POLL_S = 0.01
#: A request still counted this long past its expiry was lost (server restart, seconds).
VANISHED_GRACE_S = 1.0
#: Bytes of pulled messages nats-py may hold for this inbox before it drops (slow consumer).
INBOX_BYTES = 256 * 1024 * 1024


class Puller:
    """The pull loop of one consumer (``run`` is one task); ``held`` is kept by the lane."""

    def __init__(
        self,
        nc: Client,
        *,
        api_prefix: str,
        stream: str,
        durable: str,
        capacity: int,
        expires_s: float,
        on_message: Callable[[Msg], Awaitable[None] | None],
        blocked: Callable[[], bool] = lambda: False,
    ) -> None:
        self.nc = nc
        self.next_subject = f"{api_prefix}.CONSUMER.MSG.NEXT.{stream}.{durable}"
        self.durable = durable
        self.capacity = capacity
        self.threshold = max(1, capacity // 2)
        self.expires_s = expires_s
        self.on_message = on_message
        #: While true (every member's breaker open) no new request is made.
        self.blocked = blocked
        #: Messages requested and not yet received (nor expired).
        self.outstanding = 0
        #: Messages received and not yet finished (acked, nak'd, terminated).
        self.held = 0
        self.paused = False
        self.requests = 0
        self.conflicts = 0
        self._deadline = 0.0
        self._wake = asyncio.Event()
        self._inbox = ""
        self._sub: Subscription | None = None

    async def open(self) -> None:
        """Subscribe the inbox the consumer answers on."""
        self._inbox = self.nc.new_inbox()
        # The credit bounds what the server sends, far below INBOX_BYTES; the byte bound
        # is for anyone else publishing to the inbox. Past it nats-py drops the message
        # (slow consumer) and the consumer redelivers it after ack_wait: nothing is lost.
        # No count bound: an unbounded asyncio.Queue skips a check per message.
        self._sub = await self.nc.subscribe(
            self._inbox, cb=self._on_msg, pending_msgs_limit=-1, pending_bytes_limit=INBOX_BYTES
        )

    async def run(self) -> None:
        """Ask for messages whenever there is room; renew requests as they expire."""
        request_ns = int(self.expires_s * 1e9)
        while True:
            # Cleared before the state is read: a wake-up during this turn's publish
            # (statuses, releases) makes the next turn start at once instead of being lost.
            self._wake.clear()
            now = time.monotonic()
            batch = self.plan_nowait(now)
            if batch:
                body = json.dumps({"batch": batch, "expires": request_ns}).encode()
                try:
                    await self.nc.publish(self.next_subject, body, reply=self._inbox)
                except nats.errors.Error as exc:
                    log.warning("pull request on %s failed: %r", self.durable, exc)
                else:
                    self.requested_nowait(now, batch)
            try:
                async with asyncio.timeout(self.wait_nowait(now)):
                    await self._wake.wait()
            except TimeoutError:
                pass

    def plan_nowait(self, now: float) -> int:
        """How many messages to request at ``now`` (0: none); forgets lost requests first."""
        if self.outstanding and now > self._deadline + VANISHED_GRACE_S:
            # Requests past their expiry that never answered were lost (server restart).
            self.outstanding = 0
        room = self.capacity - self.held - self.outstanding
        if (
            not self.paused
            and not self.blocked()
            and room > 0
            and (room >= self.threshold or not self.outstanding)
        ):
            return room
        return 0

    def requested_nowait(self, now: float, batch: int) -> None:
        """A request for ``batch`` messages went out at ``now``."""
        self.outstanding += batch
        self.requests += 1
        self._deadline = now + self.expires_s

    def wait_nowait(self, now: float) -> float:
        """How long the loop may sleep at ``now`` unless woken.

        Never past the moment outstanding requests count as lost: a request the
        server ended without a word is forgotten then, not up to half an expiry later.
        """
        if self.blocked():
            return BLOCKED_POLL_S
        wait = self.expires_s / 2
        if self.outstanding:
            lost_at = self._deadline + VANISHED_GRACE_S
            wait = min(wait, max(lost_at - now, 0.0) + BLOCKED_POLL_S)
        return wait

    def resize_nowait(self, capacity: int) -> None:
        """Hold up to ``capacity`` messages from now on (members joined or left)."""
        self.capacity = capacity
        self.threshold = max(1, capacity // 2)
        self._wake.set()

    def wake_nowait(self) -> None:
        """Look again (room freed, breaker closed, reconnected)."""
        self._wake.set()

    def released_nowait(self) -> None:
        """One held message finished; wake the loop once enough room is free."""
        self.held -= 1
        if self.capacity - self.held - self.outstanding >= self.threshold:
            self._wake.set()

    def reset_nowait(self) -> None:
        """Forget outstanding requests (after a reconnect the server no longer has them)."""
        self.outstanding = 0
        self._wake.set()

    def describe(self) -> str:
        """The credit state, for a log line when a drain runs out of time."""
        since = time.monotonic() - (self._deadline - self.expires_s)
        return (
            f"{self.outstanding} requested, {self.held} held, capacity {self.capacity},"
            f" {self.requests} requests (last {since:.2f}s ago), {self.conflicts} refused,"
            f" paused={self.paused}, blocked={self.blocked()}"
        )

    async def _on_msg(self, msg: Msg) -> None:
        headers = msg.headers
        status = headers.get("Status") if headers else None
        if status is None:
            if self.outstanding:
                self.outstanding -= 1
            self.held += 1
            settling = self.on_message(msg)
            if settling is not None:
                await settling
            return
        if status == HEARTBEAT:
            return
        # Every other status ends a request: expired (408), refused (409), none (404), and
        # the rest (no responders 503, bad request 400, ...). Ignoring one would count a
        # request the server no longer has, and pulling would stall until it counts as lost.
        unfilled = headers.get(PENDING_MESSAGES) if headers else None
        if unfilled is not None and unfilled.isdigit():
            self.outstanding = max(0, self.outstanding - int(unfilled))
        else:
            self.outstanding = 0
        if status not in (REQUEST_EXPIRED, NO_MESSAGES):
            self.conflicts += 1
            log.warning(
                "consumer %s refused a pull: %s %s",
                self.durable,
                status,
                headers.get("Description", "") if headers else "",
            )
        self._wake.set()

    async def close(self) -> None:
        """Stop asking and drain the inbox: unsubscribe, then hand on what the server sent
        before it saw that (a round trip), so no message waits out ``ack_wait`` unseen.

        Plain unsubscribing would drop what nats-py had received but not yet handed
        on; the server stops offering the consumer's messages to requests whose
        inbox has no subscriber, so what is given back afterwards goes to the
        consumer's next puller.
        """
        self.paused = True
        sub, self._sub = self._sub, None
        if sub is not None and not self.nc.is_closed:
            try:
                await sub.drain()  # type: ignore[no-untyped-call]  # nats-py leaves it untyped
            except nats.errors.Error as exc:
                log.debug("draining the inbox of %s: %r", self.durable, exc)
