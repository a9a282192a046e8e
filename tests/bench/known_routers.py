"""Architectures with a known answer, reachable as ``tests.bench.known_routers:<Name>``.

Each wraps :class:`bench.routers.null.NullRouter` (the harness floor) and adds one
known property: a fixed delay per delivery, a fixed delivery capacity, or a
silent loss the bench must catch.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque

import msgspec

from bench.routers.null import NullRouter
from events import Ack, DrainReport, Event, Handler, RouterStats, Subscription

#: The delay DelayRouter adds to every delivery.
DELAY_S = 0.020
#: The deliveries per second CapacityRouter can release.
CAPACITY_PER_S = 1000.0
#: LossyRouter silently drops one event in this many.
LOSS_EVERY = 10


class DelayRouter(NullRouter):
    """Every delivery waits ``DELAY_S`` before its handler runs."""

    def subscribe(self, sub: Subscription, handler: Handler) -> None:
        async def delayed(event: Event) -> None:
            await asyncio.sleep(DELAY_S)
            await handler(event)

        super().subscribe(sub, delayed)


class CapacityRouter:
    """Accepts everything into a FIFO and releases at most ``CAPACITY_PER_S`` events/s."""

    def __init__(self) -> None:
        self.inner = NullRouter()
        self.fifo: deque[Event] = deque()
        self.published = 0
        self.pacer: asyncio.Task[None] | None = None
        self.emptied = asyncio.Event()

    def subscribe(self, sub: Subscription, handler: Handler) -> None:
        self.inner.subscribe(sub, handler)

    async def start(self) -> None:
        await self.inner.start()
        self.pacer = asyncio.create_task(self._pace())

    async def _pace(self) -> None:
        began = time.monotonic()
        released = 0
        while True:
            await asyncio.sleep(0.001)
            allowed = int((time.monotonic() - began) * CAPACITY_PER_S)
            while released < allowed and self.fifo:
                self.inner.publish(self.fifo.popleft())
                released += 1
            if not self.fifo:
                released = allowed  # idle time earns no burst
                self.emptied.set()

    def publish(self, event: Event) -> Ack:
        self.published += 1
        self.emptied.clear()
        self.fifo.append(event)
        return Ack.accepted()

    async def drain(self, timeout_s: float) -> DrainReport:
        began = time.monotonic()
        if self.fifo:
            await asyncio.wait_for(self.emptied.wait(), timeout_s)
        if self.pacer is not None:
            self.pacer.cancel()
            await asyncio.gather(self.pacer, return_exceptions=True)
        report = await self.inner.drain(max(0.0, timeout_s - (time.monotonic() - began)))
        return msgspec.structs.replace(report, stats=self.stats())

    def stats(self) -> RouterStats:
        inner = self.inner.stats()
        return msgspec.structs.replace(
            inner,
            published=self.published,
            accepted=self.published,
            pending=inner.pending + len(self.fifo),
        )


class LossyRouter(NullRouter):
    """Says accepted to every event but silently drops one in ``LOSS_EVERY``, and
    counts the dropped ones as delivered: only the bench's own count can catch it."""

    def __init__(self, config: object = None) -> None:
        super().__init__(config)
        self.lost = 0
        self.seen = 0

    def publish(self, event: Event) -> Ack:
        self.seen += 1
        if self.seen % LOSS_EVERY == 0:
            self.lost += 1
            return Ack.accepted()
        return super().publish(event)

    def stats(self) -> RouterStats:
        honest = super().stats()
        return msgspec.structs.replace(
            honest,
            published=honest.published + self.lost,
            accepted=honest.accepted + self.lost,
            deliveries=honest.deliveries + self.lost,
            delivered=honest.delivered + self.lost,
        )


def broken_factory() -> NullRouter:
    """A factory that raises, as a misconfigured architecture would."""
    raise RuntimeError("this architecture cannot be built")
