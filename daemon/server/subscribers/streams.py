"""WebSocket stream subscribers: one router subscription (a hub) per distinct pattern.

Sockets share a subscription per pattern: the first socket on a pattern
registers a hub, later ones join it, and when the last one leaves the hub is
unsubscribed (with a router that can: ``daemon.router.central.Unsubscribing``;
otherwise it stays registered). On a router shared by several daemon processes
(JetStream) a hub subscribes for its process alone (``LocalSubscribing``), so
each socket sees every event on its pattern whichever process accepted it.
Deliveries a hub gets while it has no socket are counted as ``unheard``. Each
socket has a send buffer bounded in messages (``streams.send_buffer``) and in
bytes (``streams.send_buffer_bytes``: a client that never reads cannot make the
daemon hold more); the hub's handler never waits on a socket: a socket whose
buffer overflows is a slow consumer, as NATS calls it, and is disconnected
(close code 1008) and counted, and every message
lost that way, or offered to a closed socket, or left in its buffer when it
closed, is counted as ``dropped``.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Protocol, runtime_checkable

from daemon.router.central import Unsubscribing
from daemon.server.config import StreamsConfig
from daemon.server.logs import get_logger
from daemon.server.metrics import ServerMetrics
from events.codecs import encode_json
from events.delivery import Handler
from events.errors import SwitchyardError
from events.model import Event, RouterStats, SubscriptionStats
from events.router import Router
from events.subscription import BreakerPolicy, RetryPolicy, Subscription

log = get_logger("daemon.streams")

#: How long a leaving hub's queued deliveries may take (they end unheard, at once).
LEAVE_TIMEOUT_S = 1.0
#: The service name of a hub's subscription starts with this.
HUB_SERVICE_PREFIX = "stream:"


def hub_pending(stats: RouterStats) -> int:
    """Deliveries not yet ended that stream hubs hold.

    Hubs drop their oldest rather than refuse and never push back on the ingress,
    so the high-water mark leaves them out of both its terms: their pending here,
    their mailboxes from the capacity (each hub added ``streams.mailbox``, 10,000,
    to the denominator: 250 stream patterns raised it from 80,000 to 1,930,000).
    """
    return sum(
        sub.depth + sub.in_flight
        for sub in stats.subscriptions
        if sub.service.startswith(HUB_SERVICE_PREFIX)
    )


@runtime_checkable
class LocalSubscribing(Protocol):
    """A router shared by processes that can also subscribe for this process alone
    (``JetStreamRouter``): a hub must see every event, whichever process took it."""

    def subscribe_local(self, sub: Subscription, handler: Handler) -> None: ...


class StreamLimit(SwitchyardError):
    """Raised when a new stream would exceed ``streams.max_streams``."""


class Stream:
    """One socket's send buffer, bounded in messages and in bytes (text length)."""

    __slots__ = (
        "buffer",
        "capacity",
        "capacity_bytes",
        "closed",
        "dropped",
        "nbytes",
        "overflow",
        "overflowed",
        "sent",
        "wake",
    )

    def __init__(self, capacity: int, capacity_bytes: int) -> None:
        self.capacity = capacity
        self.capacity_bytes = capacity_bytes
        self.buffer: deque[str] = deque()
        #: What :attr:`buffer` holds, in characters of JSON text (bytes, for ASCII).
        self.nbytes = 0
        self.wake = asyncio.Event()
        #: Set when the buffer overflowed: the socket's handler closes it (1008) at once,
        #: even while its sender is blocked on a client that does not read.
        self.overflow = asyncio.Event()
        self.overflowed = False
        self.closed = False
        self.sent = 0
        #: Messages this socket will never send: overflowed, or offered after it closed.
        self.dropped = 0

    def offer_nowait(self, text: str) -> bool:
        """Queue ``text``; False (and marked overflowed) when the buffer is full."""
        if self.closed:
            self.dropped += 1
            return True
        if len(self.buffer) >= self.capacity or self.nbytes + len(text) > self.capacity_bytes:
            self.overflowed = True
            self.closed = True
            self.dropped += len(self.buffer) + 1
            self.buffer.clear()
            self.nbytes = 0
            self.wake.set()
            self.overflow.set()
            return False
        self.buffer.append(text)
        self.nbytes += len(text)
        self.wake.set()
        return True

    def pop_nowait(self) -> str:
        """The next message to send (the caller checked the buffer is not empty)."""
        text = self.buffer.popleft()
        self.nbytes -= len(text)
        return text

    def close_nowait(self) -> None:
        self.closed = True
        self.wake.set()

    def discard_nowait(self) -> None:
        """The socket is gone: what its buffer still holds is dropped."""
        self.close_nowait()
        self.dropped += len(self.buffer)
        self.buffer.clear()
        self.nbytes = 0


class StreamHub:
    """The handler of one pattern's subscription; fans each event out to its sockets."""

    def __init__(self, pattern: str, metrics: ServerMetrics) -> None:
        self.pattern = pattern
        self.metrics = metrics
        self.streams: list[Stream] = []
        self.unheard = 0
        #: Messages dropped by sockets that already left this hub.
        self.dropped = 0

    async def __call__(self, event: Event) -> None:
        if not self.streams:
            self.unheard += 1
            return
        text = encode_json(event).decode()
        for stream in list(self.streams):
            if not stream.offer_nowait(text):
                self.metrics.streams_slow_disconnects += 1
                self.streams.remove(stream)


class StreamRegistry:
    """Hubs by pattern, registered with the router on first use, unsubscribed after the last."""

    def __init__(self, router: Router, config: StreamsConfig, metrics: ServerMetrics) -> None:
        self.router = router
        self.config = config
        self.metrics = metrics
        self.hubs: dict[str, StreamHub] = {}
        #: Unsubscribed hubs still draining, by the task that drains each.
        self._leaving: dict[asyncio.Task[SubscriptionStats], StreamHub] = {}
        self.unsubscribed = 0
        self._gone_unheard = 0
        self._gone_dropped = 0

    @property
    def open_streams(self) -> int:
        return sum(len(hub.streams) for hub in self.hubs.values())

    @property
    def unheard(self) -> int:
        """Deliveries to a hub without sockets, over every hub there ever was."""
        hubs = [*self.hubs.values(), *self._leaving.values()]
        return self._gone_unheard + sum(hub.unheard for hub in hubs)

    @property
    def dropped(self) -> int:
        """Messages lost on overflowed or closed sockets, over every socket there ever was."""
        hubs = [*self.hubs.values(), *self._leaving.values()]
        live = sum(stream.dropped for hub in hubs for stream in hub.streams)
        return self._gone_dropped + live + sum(hub.dropped for hub in hubs)

    def subscription(self, pattern: str) -> Subscription:
        # Streams are best effort: a full hub mailbox drops its oldest rather
        # than push back on the ingress, and a socket is never retried.
        return Subscription(
            service=f"{HUB_SERVICE_PREFIX}{pattern}",
            pattern=pattern,
            mailbox=self.config.mailbox,
            overflow="drop_oldest",
            retry=RetryPolicy(attempts=1),
            breaker=BreakerPolicy(enabled=False),
        )

    def open_nowait(self, pattern: str) -> tuple[StreamHub, Stream]:
        """Join (or create) the hub of ``pattern``; raise StreamLimit when full."""
        if self.open_streams >= self.config.max_streams:
            raise StreamLimit(f"{self.config.max_streams} streams are open already")
        hub = self.hubs.get(pattern)
        if hub is None:
            hub = StreamHub(pattern, self.metrics)
            router = self.router
            if isinstance(router, LocalSubscribing):
                router.subscribe_local(self.subscription(pattern), hub)
            else:
                router.subscribe(self.subscription(pattern), hub)
            self.hubs[pattern] = hub
        stream = Stream(self.config.send_buffer, self.config.send_buffer_bytes)
        hub.streams.append(stream)
        self.metrics.streams_opened += 1
        return hub, stream

    def close_nowait(self, hub: StreamHub, stream: Stream) -> None:
        """A socket ended: count what it lost; unsubscribe its hub if it was the last."""
        stream.discard_nowait()
        if stream in hub.streams:
            hub.streams.remove(stream)
        hub.dropped += stream.dropped
        self.metrics.streams_closed += 1
        if not hub.streams and self.hubs.get(hub.pattern) is hub:
            self._leave_nowait(hub)

    def _leave_nowait(self, hub: StreamHub) -> None:
        router = self.router
        if not isinstance(router, Unsubscribing):
            return  # this router cannot unsubscribe: the hub stays, counting unheard
        sub = self.subscription(hub.pattern)
        try:
            task = router.unsubscribe_nowait(sub.service, sub.pattern, timeout_s=LEAVE_TIMEOUT_S)
        except RuntimeError:
            return  # the router is draining: it ends the hub's subscription itself
        del self.hubs[hub.pattern]
        self._leaving[task] = hub
        task.add_done_callback(self._left)

    def _left(self, task: asyncio.Task[SubscriptionStats]) -> None:
        hub = self._leaving.pop(task)
        self._gone_unheard += hub.unheard
        self._gone_dropped += hub.dropped
        self.unsubscribed += 1
        if not task.cancelled() and task.exception() is not None:
            log.error(
                "stream hub unsubscribe failed", pattern=hub.pattern, error=repr(task.exception())
            )

    def close_all_nowait(self) -> None:
        for hub in self.hubs.values():
            for stream in hub.streams:
                stream.close_nowait()
