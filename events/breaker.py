"""The circuit-breaker state machine, synchronous and driven by an injectable clock.

States: ``closed`` (calls flow, outcomes counted over a tumbling window of
``window`` calls), ``open`` (calls refused until ``open_s`` has passed), and
``half_open`` (up to ``half_open_probes`` trial calls; all succeeding closes the
breaker, any failing reopens it).

A success while closed changes nothing but the current window's count, so a hot
path may add it to :attr:`Breaker.closed_successes` instead of calling
:meth:`Breaker.on_success`; what was added since the last fold is folded into the
window before anything reads it. (``on_success`` was 3% of the samples of a
fan-out-1 micro run under py-spy, most of it the call itself; docs/benchmarks.md,
"Routing hot path".) The count only grows, so ``events.Pipeline`` derives its
``delivered`` from it instead of counting each such success twice.
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
        "_folded",
        "_opened_at",
        "_probes_ok",
        "_probes_out",
        "closed_successes",
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
        #: Successes while closed, ever: a caller that saw ``state == "closed"`` when
        #: its call ended may add 1 here instead of calling :meth:`on_success`. Never
        #: decreases (``Pipeline.delivered`` counts on it); the part added since
        #: :attr:`_folded` is not yet in the window, and is only ever non-zero while
        #: closed (it is folded in before the breaker can leave ``closed``).
        self.closed_successes = 0
        #: ``closed_successes`` as of the last fold.
        self._folded = 0

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
            # The common case, inlined: one more call in the tumbling window (in any
            # order with the unfolded closed_successes: only a failure needs them).
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

    def _fold(self) -> None:
        """Count what :attr:`closed_successes` gained since the last fold in the window, as
        that many ``on_success()`` calls.

        Each success adds a call and a window that reaches ``window`` calls starts
        over, so ``n`` of them leave ``(calls + n) mod window`` calls, and no failures
        if a window ended on the way.
        """
        added = self.closed_successes - self._folded
        if not added:
            return
        self._folded = self.closed_successes
        calls = self._calls + added
        window = self.policy.window
        if calls >= window:
            calls %= window
            self._failures = 0
        self._calls = calls

    def _count(self, failed: bool) -> None:
        self._fold()
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
