"""Admission control of the ingress: per-source token buckets and the high-water mark.

Everything here is synchronous state driven by an injectable clock; the server
samples the router's pending count on a timer (``stats()`` is too costly per
request) and asks :meth:`Admission.check_batch_nowait` on every request.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable

from daemon.server.config import AdmissionConfig, SourceLimit

#: Verdicts of :meth:`Admission.check_batch_nowait`.
ADMIT = ""
DRAINING = "draining"
OVERLOADED = "overloaded"
RATE_LIMITED = "rate_limited"


class TokenBucket:
    """``rate`` tokens per second up to ``burst``; :meth:`take_nowait` is all or nothing."""

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, limit: SourceLimit, now: float) -> None:
        self.rate = limit.rate
        self.burst = limit.burst
        self.tokens = limit.burst
        self.stamp = now

    def refill_nowait(self, now: float) -> float:
        elapsed = now - self.stamp
        if elapsed > 0:
            self.tokens = min(self.burst, self.tokens + elapsed * self.rate)
            self.stamp = now
        return self.tokens

    def can_take_nowait(self, n: int, now: float) -> bool:
        return self.refill_nowait(now) >= n

    def take_nowait(self, n: int, now: float) -> bool:
        if self.refill_nowait(now) < n:
            return False
        self.tokens -= n
        return True


class Admission:
    """Decides, per request, whether events may enter the router at all."""

    def __init__(
        self, config: AdmissionConfig, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.config = config
        self.unlimited = config.default_limit is None and not config.sources
        self.clock = clock
        self.buckets: OrderedDict[str, TokenBucket] = OrderedDict()
        self.draining = False
        self.pending = 0
        self.capacity = 0
        self.overloaded = False
        self.rejected: dict[str, int] = {RATE_LIMITED: 0, OVERLOADED: 0, DRAINING: 0}

    def reconfigure_nowait(self, config: AdmissionConfig) -> None:
        """Swap limits; buckets restart full under the new limits."""
        self.config = config
        self.unlimited = config.default_limit is None and not config.sources
        self.buckets.clear()
        self.observe_nowait(self.pending, self.capacity)

    def observe_nowait(self, pending: int, capacity: int) -> bool:
        """Record the router's pending count against its total mailbox capacity."""
        self.pending = pending
        self.capacity = capacity
        self.overloaded = capacity > 0 and pending > self.config.high_water * capacity
        return self.overloaded

    def _limit(self, source: str) -> SourceLimit | None:
        limit = self.config.sources.get(source)
        return limit if limit is not None else self.config.default_limit

    def _bucket(self, source: str, limit: SourceLimit, now: float) -> TokenBucket:
        bucket = self.buckets.get(source)
        if bucket is None:
            if len(self.buckets) >= self.config.max_tracked_sources:
                # The least recently seen source forgets its debt: bounded memory wins.
                self.buckets.popitem(last=False)
            bucket = self.buckets[source] = TokenBucket(limit, now)
        else:
            self.buckets.move_to_end(source)
        return bucket

    def state_nowait(self) -> str:
        """DRAINING or OVERLOADED when no event may enter now, else ADMIT."""
        if self.draining:
            return DRAINING
        if self.overloaded:
            return OVERLOADED
        return ADMIT

    def check_batch_nowait(self, sources: Iterable[str]) -> str:
        """Admit a request's events (one source per event) or refuse it whole.

        Tokens are taken only when every source involved can pay for its events.
        """
        state = self.state_nowait()
        if state:
            self.rejected[state] += 1
            return state
        config = self.config
        if config.default_limit is None and not config.sources:
            return ADMIT
        counts: dict[str, int] = {}
        for source in sources:
            counts[source] = counts.get(source, 0) + 1
        now = self.clock()
        bills: list[tuple[TokenBucket, int]] = []
        for source, n in counts.items():
            limit = self._limit(source)
            if limit is None:
                continue
            bucket = self._bucket(source, limit, now)
            if not bucket.can_take_nowait(n, now):
                self.rejected[RATE_LIMITED] += 1
                return RATE_LIMITED
            bills.append((bucket, n))
        for bucket, n in bills:
            bucket.take_nowait(n, now)
        return ADMIT
