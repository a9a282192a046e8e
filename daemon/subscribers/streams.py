"""WebSocket stream subscribers: one router subscription (a hub) per distinct pattern.

The router has no unsubscribe, so sockets do not each own a subscription: the
first socket on a pattern registers a hub, later ones join it, and the hub stays
registered after its last socket leaves (deliveries nobody hears are counted as
``unheard``). Each socket has a bounded send buffer; the hub's handler never
waits on a socket: a socket whose buffer overflows is disconnected and counted.
"""

from __future__ import annotations

import asyncio
from collections import deque

from daemon.config import StreamsConfig
from daemon.metrics import ServerMetrics
from events.codecs import encode_json
from events.errors import SwitchyardError
from events.model import Event
from events.router import Router
from events.subscription import BreakerPolicy, RetryPolicy, Subscription


class StreamLimit(SwitchyardError):
    """Raised when a new stream would exceed ``streams.max_streams``."""


class Stream:
    """One socket's bounded send buffer."""

    __slots__ = ("buffer", "capacity", "closed", "overflowed", "sent", "wake")

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.buffer: deque[str] = deque()
        self.wake = asyncio.Event()
        self.overflowed = False
        self.closed = False
        self.sent = 0

    def offer_nowait(self, text: str) -> bool:
        """Queue ``text``; False (and marked overflowed) when the buffer is full."""
        if self.closed:
            return True
        if len(self.buffer) >= self.capacity:
            self.overflowed = True
            self.closed = True
            self.buffer.clear()
            self.wake.set()
            return False
        self.buffer.append(text)
        self.wake.set()
        return True

    def close_nowait(self) -> None:
        self.closed = True
        self.wake.set()


class StreamHub:
    """The handler of one pattern's subscription; fans each event out to its sockets."""

    def __init__(self, pattern: str, metrics: ServerMetrics) -> None:
        self.pattern = pattern
        self.metrics = metrics
        self.streams: list[Stream] = []
        self.unheard = 0

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
    """Hubs by pattern, created on first use and registered with the router."""

    def __init__(self, router: Router, config: StreamsConfig, metrics: ServerMetrics) -> None:
        self.router = router
        self.config = config
        self.metrics = metrics
        self.hubs: dict[str, StreamHub] = {}

    @property
    def open_streams(self) -> int:
        return sum(len(hub.streams) for hub in self.hubs.values())

    def subscription(self, pattern: str) -> Subscription:
        # Streams are best effort: a full hub mailbox drops its oldest rather
        # than push back on the ingress, and a socket is never retried.
        return Subscription(
            service=f"stream:{pattern}",
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
            self.router.subscribe(self.subscription(pattern), hub)
            self.hubs[pattern] = hub
        stream = Stream(self.config.send_buffer)
        hub.streams.append(stream)
        self.metrics.streams_opened += 1
        return hub, stream

    def close_nowait(self, hub: StreamHub, stream: Stream) -> None:
        stream.close_nowait()
        if stream in hub.streams:
            hub.streams.remove(stream)
        self.metrics.streams_closed += 1

    def close_all_nowait(self) -> None:
        for hub in self.hubs.values():
            for stream in hub.streams:
                stream.close_nowait()
