"""The circuit-breaker state machine, synchronous and driven by an injectable clock.

States: ``closed`` (calls flow, outcomes counted over a tumbling window of
``window`` calls), ``open`` (calls refused until ``open_s`` has passed), and
``half_open`` (up to ``half_open_probes`` trial calls; all succeeding closes the
breaker, any failing reopens it).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

from events.subscription import BreakerPolicy

State = Literal["closed", "open", "half_open"]


class Breaker:
    """One breaker. ``allow()`` before a call, then ``on_success()`` or ``on_failure()``."""

    __slots__ = (
        "_calls",
        "_clock",
        "_failures",
        "_opened_at",
        "_probes_ok",
        "_probes_out",
        "opened",
        "policy",
        "state",
    )

    def __init__(self, policy: BreakerPolicy, clock: Callable[[], float] = time.monotonic):
        self.policy = policy
        self._clock = clock
        self.state: State = "closed"
        self._calls = 0
        self._failures = 0
        self._opened_at = 0.0
        self._probes_out = 0
        self._probes_ok = 0
        #: How many times the breaker has opened, for stats.
        self.opened = 0

    def allow(self) -> bool:
        """May a call go ahead now? Moves ``open`` to ``half_open`` once ``open_s`` passed."""
        if self.state == "closed" or not self.policy.enabled:
            return True
        if self.state == "open":
            if self._clock() - self._opened_at < self.policy.open_s:
                return False
            self.state = "half_open"
            self._probes_out = 0
            self._probes_ok = 0
        if self._probes_out < self.policy.half_open_probes:
            self._probes_out += 1
            return True
        return False

    def retry_after(self) -> float:
        """Seconds until ``allow()`` may say yes; 0 when it may now."""
        if self.state == "open":
            return max(0.0, self.policy.open_s - (self._clock() - self._opened_at))
        if self.state == "half_open" and self._probes_out >= self.policy.half_open_probes:
            # Probes are out; their outcome decides. Poll again shortly.
            return min(self.policy.open_s, 0.01)
        return 0.0

    def on_success(self) -> None:
        if self.state == "closed":
            # The common case, inlined: one more call in the tumbling window.
            self._calls += 1
            if self._calls >= self.policy.window:
                self._calls = 0
                self._failures = 0
            return
        if self.state == "half_open":
            self._probes_ok += 1
            if self._probes_ok >= self.policy.half_open_probes:
                self._close()
            return
        self._count(failed=False)

    def on_failure(self) -> None:
        if self.state == "half_open":
            self._open()
            return
        self._count(failed=True)

    def _count(self, failed: bool) -> None:
        policy = self.policy
        self._calls += 1
        if failed:
            self._failures += 1
            if (
                policy.enabled
                and self._calls >= policy.min_calls
                and self._failures >= policy.failure_ratio * self._calls
            ):
                self._open()
                return
        if self._calls >= policy.window:
            self._calls = 0
            self._failures = 0

    def _open(self) -> None:
        self.state = "open"
        self.opened += 1
        self._opened_at = self._clock()
        self._calls = 0
        self._failures = 0

    def _close(self) -> None:
        self.state = "closed"
        self._calls = 0
        self._failures = 0
