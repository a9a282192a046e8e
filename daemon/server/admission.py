"""Admission control of the ingress: per-principal token buckets and the high-water mark.

Buckets key on the authenticated principal (a token's name; ``anonymous`` while
auth is off), never on a field the client writes into its events, so a client
cannot escape its limit by renaming its ``source``. Principals come from the
config, so the buckets are bounded by it. Everything here is synchronous state
driven by an injectable clock; the server samples the router's pending count on a
timer (``stats()`` is too costly per request) and asks :meth:`Admission.check_nowait`
on every request.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from daemon.server.config import AdmissionConfig, RateLimit

#: Verdicts of :meth:`Admission.check_batch_nowait`.
ADMIT = ""
DRAINING = "draining"
OVERLOADED = "overloaded"
RATE_LIMITED = "rate_limited"


class TokenBucket:
    """``rate`` tokens per second up to ``burst``; :meth:`take_nowait` is all or nothing."""

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, limit: RateLimit, now: float) -> None:
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
        self.unlimited = config.default_limit is None and not config.principals
        self.clock = clock
        self.buckets: dict[str, TokenBucket] = {}
        self.draining = False
        self.pending = 0
        self.capacity = 0
        self.overloaded = False
        self.rejected: dict[str, int] = {RATE_LIMITED: 0, OVERLOADED: 0, DRAINING: 0}

    def reconfigure_nowait(self, config: AdmissionConfig) -> None:
        """Swap limits; buckets restart full under the new limits."""
        self.config = config
        self.unlimited = config.default_limit is None and not config.principals
        self.buckets.clear()
        self.observe_nowait(self.pending, self.capacity)

    def observe_nowait(self, pending: int, capacity: int) -> bool:
        """Record the router's pending count against its total mailbox capacity."""
        self.pending = pending
        self.capacity = capacity
        self.overloaded = capacity > 0 and pending > self.config.high_water * capacity
        return self.overloaded

    def state_nowait(self) -> str:
        """DRAINING or OVERLOADED when no event may enter now, else ADMIT."""
        if self.draining:
            return DRAINING
        if self.overloaded:
            return OVERLOADED
        return ADMIT

    def check_nowait(self, principal: str, n: int) -> str:
        """Admit ``n`` events of ``principal`` or refuse them all (no token taken)."""
        state = self.state_nowait()
        if state:
            self.rejected[state] += 1
            return state
        config = self.config
        bucket = self.buckets.get(principal)
        if bucket is None:
            limit = config.principals.get(principal, config.default_limit)
            if limit is None:
                return ADMIT
            bucket = self.buckets[principal] = TokenBucket(limit, self.clock())
        if not bucket.take_nowait(n, self.clock()):
            self.rejected[RATE_LIMITED] += 1
            return RATE_LIMITED
        return ADMIT
