"""Test architectures with a known answer for the capacity search.

``TokenBucketRouter`` admits every event into an unbounded FIFO and releases them
to an inner :class:`bench.routers.null.NullRouter` (which runs every delivery
through the shared pipeline) at no more than ``rate`` events/s, from a token bucket
holding at most ``burst`` tokens. Below ``rate`` events pass almost untouched;
past it the FIFO grows without bound and so does latency: a hard capacity of
``rate`` events/s. Build one by name, e.g.
``tests.bench.capacity_routers:token_bucket_2000``.

``BurnRouter`` instead costs a known CPU time per event (``burn_1ms``), the known
answer of the CPU-demand bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque

import msgspec

from bench.routers.null import NullRouter
from events import Ack, DrainReport, Event, Handler, RouterStats, Subscription
from events.model import REJECT_DRAINING, REJECT_NOT_STARTED

#: The pacer wakes about this often (uvloop timers resolve ~1 ms).
TICK_S = 0.001


class TokenBucketRouter:
    """A router whose throughput is capped at ``rate`` events/s (see the module doc)."""

    def __init__(self, rate: float, burst: float = 8.0) -> None:
        self.rate = rate
        self.burst = burst
        self._inner = NullRouter()
        self._queue: deque[Event] = deque()
        self._pacer: asyncio.Task[None] | None = None
        self._started = False
        self._draining = False
        self._emptied = asyncio.Event()
        self.published = 0
        self.rejected: dict[str, int] = {}

    def subscribe(self, sub: Subscription, handler: Handler) -> None:
        self._inner.subscribe(sub, handler)

    async def start(self) -> None:
        await self._inner.start()
        self._started = True
        self._pacer = asyncio.create_task(self._pace())

    def publish(self, event: Event) -> Ack:
        self.published += 1
        if not self._started or self._draining:
            reason = REJECT_DRAINING if self._draining else REJECT_NOT_STARTED
            self.rejected[reason] = self.rejected.get(reason, 0) + 1
            return Ack.rejected(reason)
        self._queue.append(event)
        return Ack.accepted()

    def release_nowait(self, tokens: float) -> float:
        """Hand queued events to the inner router while whole tokens last; return the rest."""
        while tokens >= 1.0 and self._queue:
            self._inner.publish(self._queue.popleft())
            tokens -= 1.0
        return tokens

    async def _pace(self) -> None:
        tokens = self.burst
        last = time.perf_counter()
        while True:
            await asyncio.sleep(TICK_S)
            now = time.perf_counter()
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            last = now
            tokens = self.release_nowait(tokens)
            if self._draining and not self._queue:
                self._emptied.set()

    async def drain(self, timeout_s: float) -> DrainReport:
        """Stop intake, keep pacing until the FIFO is empty (or time is up), drain the rest."""
        began = time.monotonic()
        self._draining = True
        if self._queue:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._emptied.wait(), timeout_s)
        if self._pacer is not None:
            self._pacer.cancel()
            await asyncio.gather(self._pacer, return_exceptions=True)
            self._pacer = None
        # Whatever is still queued at the deadline goes through now, so none is lost.
        self.release_nowait(float(len(self._queue)))
        inner = await self._inner.drain(max(0.0, timeout_s - (time.monotonic() - began)))
        return msgspec.structs.replace(
            inner, duration_s=time.monotonic() - began, stats=self.stats()
        )

    def stats(self) -> RouterStats:
        inner = self._inner.stats()
        return msgspec.structs.replace(
            inner,
            published=self.published,
            accepted=inner.accepted + len(self._queue),
            rejected={
                k: self.rejected.get(k, 0) + inner.rejected.get(k, 0)
                for k in self.rejected.keys() | inner.rejected.keys()
            },
        )


def token_bucket_2000() -> TokenBucketRouter:
    """A router with a hard capacity of 2,000 events/s."""
    return TokenBucketRouter(2000.0)


def token_bucket_500() -> TokenBucketRouter:
    """A router with a hard capacity of 500 events/s (cheap enough for a unit test)."""
    return TokenBucketRouter(500.0)


def token_bucket_4000() -> TokenBucketRouter:
    """A router with a hard capacity of 4,000 events/s (the same 2 ms of burst as 2,000's 8
    tokens, so a stalled loop costs both the same share of their rate)."""
    return TokenBucketRouter(4000.0, burst=16.0)


#: CPU seconds BurnRouter spends in ``publish`` on every event.
BURN_S = 0.001


class BurnRouter(NullRouter):
    """The harness floor plus exactly ``BURN_S`` of CPU time per published event.

    The burn is timed on this thread's CPU clock, not the wall clock: a core taken away
    by the host does not shorten it, so the CPU demand is known whatever the load.
    """

    def publish(self, event: Event) -> Ack:
        end = time.thread_time() + BURN_S
        while time.thread_time() < end:
            pass
        return super().publish(event)


def burn_1ms() -> BurnRouter:
    """A router whose every event costs 1 ms of CPU: one core carries at most 1,000/s."""
    return BurnRouter()
