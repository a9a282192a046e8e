"""The router on NATS JetStream: ``events.Router`` over one stream and durable pull consumers.

``publish`` validates the event, counts the deliveries it makes here (one per
lane whose consumer will take it: the same routing every process with this
config does), encodes it (msgspec) and offers it to the bounded outgoing
buffer; it never awaits. The stream stores it once per event id (the
duplicate window), and each lane's consumer hands it to one member's workers,
in this process or another one sharing the consumer. See ``attempt`` for how
retries, backoff, the breaker and dead letters map onto NAK and redelivery.

Accounting: ``deliveries`` counts what this process published and routed (a
duplicate PubAck takes its deliveries back: the stream stored the event once);
``delivered`` and ``dead_lettered`` count what this process's workers ended.
``pending = deliveries - ended`` is derived, because undelivered events live
on the server, not here: summed over every process sharing the stream it is
the cluster's backlog, and :meth:`JetStreamRouter.server_pending` reads the
same backlog from the consumers, so a test (or an operator) can check one
against the other. Redeliveries are counted apart (``transport_stats``).
"""

from __future__ import annotations

import asyncio
import logging
import secrets

import nats.errors
from nats.aio.client import Client
from nats.js import api as js_api
from nats.js.errors import APIError

from daemon.jetstream import membership, wiring
from daemon.jetstream.attempt import Transport
from daemon.jetstream.config import JetStreamConfig
from daemon.jetstream.connect import connect
from daemon.jetstream.errors import TransportError
from daemon.jetstream.lane import Lane, Member
from daemon.jetstream.outgoing import Entry, Outgoing, make_entry
from daemon.jetstream.shutdown import drain_router
from daemon.jetstream.stats import Intake, JetStreamStats, router_stats, transport_stats
from daemon.jetstream.streams import durable_name, ensure_streams
from events.codecs import msgpack_encoder
from events.delivery import DeadLetterStore, Handler, Pipeline, TimeoutWatchdog
from events.errors import ConfigError
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
)
from events.stats import DeliveryTotals
from events.subjects import is_valid_subject
from events.subscription import Subscription

log = logging.getLogger(__name__)

_ACCEPTED = Ack.accepted()
#: Subjects whose routing is cached (cleared when full).
ROUTE_CACHE_SIZE = 4096


class JetStreamRouter:
    """``events.Router`` on JetStream; ``config.url`` names the NATS server."""

    def __init__(self, config: JetStreamConfig | None = None) -> None:
        self.config = config if config is not None else JetStreamConfig()
        if not self.config.url:
            raise ConfigError("transport.url is required: the NATS server to route through")
        self.dead_letters = DeadLetterStore(self.config.dead_letter_capacity)
        self.watchdog = TimeoutWatchdog(self.config.watchdog_tick_s)
        self.outgoing = Outgoing(self.config, self._on_duplicate)
        self.lanes: dict[str, Lane] = {}
        self.nc: Client | None = None
        self.transport: Transport | None = None
        #: Consumers' backlog as last read from the server (None until read).
        self.last_server_pending: int | None = None
        self._keys: set[str] = set()
        self._subscribed = 0
        self._services: set[str] = set()
        #: Per subject (events without targets): its lanes and its stream subject.
        self._routes: dict[str, tuple[tuple[Lane, ...], str]] = {}
        self._prefix = self.config.subject_prefix
        #: Names this process's local (ephemeral) consumers apart from every other's.
        self.instance = secrets.token_hex(4)
        self.tasks: list[asyncio.Task[None]] = []
        self.workers: list[asyncio.Task[None]] = []
        self.watchdog_task: asyncio.Task[None] | None = None
        self._started = False
        self._start_lock = asyncio.Lock()
        #: Set once start has finished: what joined meanwhile is declared after it.
        self.ready = asyncio.Event()
        #: Durable consumers this router declared (they exist on the server).
        self.declared: set[str] = set()
        #: Declarations of subscriptions added after start run one at a time.
        self.declare_lock = asyncio.Lock()
        self.declaring: set[asyncio.Task[None]] = set()
        self.leaving: dict[Member, asyncio.Task[SubscriptionStats]] = {}
        #: Counters of members that left, and the lanes they left behind.
        self.retired = DeliveryTotals()
        self.retired_lanes: list[Lane] = []
        self.closed = False
        self._drain_task: asyncio.Task[DrainReport] | None = None
        self.intake = Intake()
        #: Deliveries of events that never reached the stream, by reason (dead-lettered here).
        self.unpublished: dict[str, int] = {}

    # -- configuration -------------------------------------------------------------

    def subscribe(self, sub: Subscription, handler: Handler) -> None:
        """Add a subscription; after start it joins at once (see ``membership``)."""
        self._subscribe(sub, handler, local=False)

    def subscribe_local(self, sub: Subscription, handler: Handler) -> None:
        """Add a subscription on a consumer of this process alone (ephemeral on the server).

        It sees every event stored on its pattern, whichever process published it
        (the daemon's WebSocket hubs); see ``lane`` for how it is counted.
        """
        self._subscribe(sub, handler, local=True)

    def _subscribe(self, sub: Subscription, handler: Handler, *, local: bool) -> None:
        if self.closed:
            raise RuntimeError("router is draining: no new subscriptions")
        if sub.key in self._keys:
            raise ConfigError(f"subscription {sub.key!r} is already registered")
        late = self._started or self.starting
        group = None if local else sub.queue_group
        key = f"group:{group}" if group is not None else f"sub:{sub.key}"
        if local:
            key = f"local:{sub.key}"
        lane = self.lanes.get(key)
        fresh = lane is None or lane.closing
        if lane is None or lane.closing:
            prefix = self.config.durable_prefix
            durable = durable_name(f"{prefix}-{self.instance}" if local else prefix, key)
            lane = Lane(key, group or sub.service, durable, group is not None, local=local)
            self.lanes[key] = lane
        seed = None if self.config.seed is None else self.config.seed + self._subscribed
        self._subscribed += 1
        pipeline = Pipeline(sub, handler, self.dead_letters, module=lane.durable, seed=seed)
        member = Member(sub, handler, pipeline)
        lane.members.append(member)
        lane.refresh_nowait()
        self._keys.add(sub.key)
        self._services.add(sub.service)
        self._routes.clear()
        if late:
            membership.join_nowait(self, lane, member, fresh)
        else:
            lane.patterns.add(sub.pattern)

    def unsubscribe_nowait(
        self, service: str, pattern: str, *, timeout_s: float
    ) -> asyncio.Task[SubscriptionStats]:
        """Stop routing to a subscription now; answer the task that ends it.

        ``daemon.router.central.Unsubscribing``'s protocol (see ``membership``):
        its workers finish what it holds for up to ``timeout_s``, the rest goes
        back to the stream; its counters stay in the totals. Raises
        ``ConfigError`` for an unknown subscription and ``RuntimeError`` once
        drain has begun.
        """
        if self.closed:
            raise RuntimeError("router is draining: it ends every subscription itself")
        return membership.leave_nowait(self, service, pattern, timeout_s)

    async def unsubscribe(
        self, service: str, pattern: str, *, timeout_s: float
    ) -> SubscriptionStats:
        """:meth:`unsubscribe_nowait`, awaited; a cancelled caller does not stop it."""
        return await asyncio.shield(self.unsubscribe_nowait(service, pattern, timeout_s=timeout_s))

    def forget_nowait(self, sub: Subscription) -> None:
        """``sub`` left: route nothing more to it."""
        self._keys.discard(sub.key)
        self._services.clear()
        self._services.update(m.sub.service for lane in self.lanes.values() for m in lane.active)
        self._routes.clear()

    async def start(self) -> None:
        """Connect, declare streams and consumers, start pullers, workers and the publisher.

        Idempotent. Raise :class:`TransportError` (naming the server) when the
        server cannot be reached or refuses a stream or consumer.
        """
        async with self._start_lock:  # drain may call start while a start is under way
            if not self._started:
                await self._start()

    async def _start(self) -> None:
        config = self.config
        # Lanes and members as they are now: whatever joins while this runs is late.
        lanes = [(lane, list(lane.members)) for lane in self.lanes.values()]
        nc = await connect(config, self._on_error, self._on_reconnected)
        try:
            js = nc.jetstream(
                timeout=config.connect_timeout_s, publish_async_max_pending=config.acks_in_flight
            )
            await ensure_streams(js, config)
            await self.outgoing.open(nc)
            transport = Transport(js, config.dead_letter_prefix, config.publish_timeout_s)
            self.nc = nc
            self.transport = transport
            for lane, _ in lanes:
                await wiring.open_lane(self, lane)
        except BaseException:
            self.nc = self.transport = None
            await nc.close()
            raise
        self._started = True
        self.watchdog_task = asyncio.create_task(self.watchdog.run(), name="jetstream-watchdog")
        self.tasks.append(asyncio.create_task(self.outgoing.run(nc), name="jetstream-publisher"))
        for lane, members in lanes:
            wiring.run_puller(self, lane)
            for member in members:
                if not member.leaving:
                    wiring.spawn_workers(self, lane, member)
        self.ready.set()

    async def _on_error(self, exc: Exception) -> None:
        log.warning("nats (%s): %r", self.config.redacted_url(), exc)

    async def _on_reconnected(self) -> None:
        # Pull requests do not survive a reconnect: ask again at once.
        for lane in self.lanes.values():
            if lane.puller is not None:
                lane.puller.reset_nowait()

    # -- intake --------------------------------------------------------------------

    def publish(self, event: Event) -> Ack:
        """Route, encode and buffer ``event`` now; never awaits. Every outcome is counted."""
        intake = self.intake
        intake.published += 1
        if self.closed:
            return self._reject(REJECT_DRAINING)
        subject = event.subject
        targets = event.targets
        known = None if targets else self._routes.get(subject)
        if known is None:
            if not is_valid_subject(subject):
                return self._reject(REJECT_INVALID)
            routes = tuple(lane for lane in self.lanes.values() if lane.routes(subject, targets))
            stream_subject = f"{self._prefix}.{subject}"
            if not targets:
                if len(self._routes) >= ROUTE_CACHE_SIZE:
                    self._routes.clear()
                self._routes[subject] = (routes, stream_subject)
        else:
            routes, stream_subject = known
        if not PRIORITY_MIN <= event.priority <= PRIORITY_MAX:
            return self._reject(REJECT_INVALID)
        entry = make_entry(stream_subject, event.id, msgpack_encoder.encode(event), routes)
        if not self.outgoing.offer_nowait(entry):
            return self._reject(REJECT_OVERLOADED)
        if targets:
            intake.unknown_targets += len(set(targets) - self._services)
        intake.accepted += 1
        if routes:
            intake.deliveries += len(routes)
        else:
            intake.unrouted += 1
        return _ACCEPTED

    def _reject(self, reason: str) -> Ack:
        rejected = self.intake.rejected
        rejected[reason] = rejected.get(reason, 0) + 1
        return Ack.rejected(reason)

    def stored_nowait(self, count: int) -> asyncio.Future[None]:
        """A future set once the last ``count`` events accepted have their PubAck.

        Call it right after the ``publish`` calls that accepted them, with no await
        in between (the daemon's ingress: 202 only once stored). The future fails
        with ``daemon.jetstream.outgoing.NotStored`` if drain gives one of them up.
        """
        return self.outgoing.watch_nowait(count)

    def _on_duplicate(self, entry: Entry) -> None:
        # The stream already held this id: it is delivered once, for the first copy.
        self.intake.deliveries -= len(entry.routes)

    # -- shutdown and stats ----------------------------------------------------------

    async def drain(self, timeout_s: float) -> DrainReport:
        """Stop intake; publish what is buffered, let consumers finish, give back the rest.

        Runs once (later and concurrent calls await the first one's report) in a
        task of its own, so a cancelled caller does not leave it half done. See
        ``shutdown`` for the steps.
        """
        if self._drain_task is None:
            self.closed = True
            self._drain_task = asyncio.create_task(
                drain_router(self, timeout_s), name="jetstream-drain"
            )
        return await asyncio.shield(self._drain_task)

    async def server_pending(self) -> int:
        """Messages the server still holds for this router's shared consumers (queued or
        un-acked); local consumers are left out."""
        if self.nc is None or self.nc.is_closed:
            raise TransportError("not connected: server_pending needs a started router")
        js = self.nc.jetstream(timeout=self.config.connect_timeout_s)
        total = 0
        for lane in self.lanes.values():
            if lane.local:
                continue  # fed by every process's events: never settles while they publish
            try:
                info = await js.consumer_info(self.config.stream, lane.durable)
            except (APIError, nats.errors.Error) as exc:
                raise TransportError(f"consumer {lane.durable!r}: {exc!r}") from exc
            total += consumer_backlog(info, lane.stored_seq)
        self.last_server_pending = total
        return total

    def members(self) -> list[Member]:
        return [member for lane in self.lanes.values() for member in lane.members]

    def stats(self) -> RouterStats:
        """A snapshot of every counter; ``pending`` is derived (see the module docstring)."""
        return router_stats(self)

    def transport_stats(self) -> JetStreamStats:
        """What the stream and the consumers did, beside the contract's counters."""
        return transport_stats(self)

    @property
    def started(self) -> bool:
        return self._started

    @property
    def starting(self) -> bool:
        """``start`` is under way (what joins or leaves now is handled after it)."""
        return self._start_lock.locked() and not self._started


def consumer_backlog(info: js_api.ConsumerInfo, stored_seq: int) -> int:
    """What a consumer still holds (queued plus un-acked), at least 1 while it has not yet
    delivered ``stored_seq``, the last event stored for it here.

    The server counts a stored message in the consumer's ``num_pending`` only once its
    stream has signalled the consumer, a step it takes after the PubAck is sent: read in
    between, a consumer with one event still to deliver looks empty, and a drain that
    trusted it stopped pulling before the event was handled.
    """
    backlog = (info.num_pending or 0) + (info.num_ack_pending or 0)
    delivered = info.delivered.stream_seq if info.delivered is not None else 0
    if backlog == 0 and delivered < stored_seq:
        return 1
    return backlog
