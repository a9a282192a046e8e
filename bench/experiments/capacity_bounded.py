"""The capacity search under a time budget: steps judged by majority, repeated until settled.

:class:`~bench.experiments.capacity.CapacitySearch` trusts one step per rate (bar one
recheck and the confirmations) and, when a confirmation fails, bisects again below.
On a noisy host the same rate passes and fails minutes apart, so that search walks
down, runs out of steps and ends with no claim. :class:`BoundedSearch` (``capacity
--max-time``) keeps every step's verdict per rate and judges a rate by the majority of
its steps:

* a rate *passes* when more of its steps passed than did not, *fails* when fewer
  did, and is *tied* (unconfirmed) otherwise;
* the interval is [L, H]: H the lowest failing rate, L the highest passing rate
  below H. Steps may disagree with that order (a pass above H); H is then measured
  again until its majority is settled by ``2 x confirmations + 1`` steps, after which
  the order is taken from H downwards (the conservative reading);
* next it measures, in this order: a tied rate inside [L, H] again (the unconfirmed
  step is repeated, not abandoned); H again while a pass lies above it; the ramp
  (no failure yet: L x growth) or the descent (no pass yet: H / growth); the
  geometric midpoint while H / L > 1 + precision; H once more if a single router
  failure closed the bracket; L again until it has ``1 + confirmations`` passes;
* the claim is L, made when all of that holds and H failed on the router (a
  majority of generator stalls at H claims nothing, as before).

Whenever it stops (claimed, the step cap, or :meth:`BoundedSearch.stop` when time runs
out) the outcome holds the interval as it stands: [L, H], [L, inf) when nothing failed
yet, (0, H] when nothing passed. It is a bracket over tested rates, not a statistical
confidence interval: each step's verdict is itself conservative (the SLO is judged on
the upper 95% bound of the percentile), and a majority of repeats decides a rate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bench.experiments.capacity import Limit, SearchOutcome, SearchSettings, StepResult


@dataclass
class Tally:
    """Counted verdicts at one rate (generator stalls only once their retries ran out)."""

    passes: int = 0
    fails: int = 0
    stalls: int = 0

    @property
    def non_passes(self) -> int:
        return self.fails + self.stalls

    @property
    def total(self) -> int:
        return self.passes + self.non_passes

    @property
    def passing(self) -> bool:
        return self.passes > self.non_passes

    @property
    def failing(self) -> bool:
        return self.non_passes > self.passes

    @property
    def tied(self) -> bool:
        return self.total > 0 and self.passes == self.non_passes


class BoundedSearch:
    """The majority search as a state machine: :meth:`next_rate`, measure, :meth:`record`."""

    def __init__(self, settings: SearchSettings) -> None:
        self.settings = settings
        self.steps: list[StepResult] = []
        self.tallies: dict[float, Tally] = {}
        self.max_repeats = 2 * max(1, settings.confirmations) + 1
        self._retries_left = settings.generator_retries
        self._limit: Limit | None = None
        self._rate: float | None = settings.start_rate

    @property
    def done(self) -> bool:
        return self._limit is not None

    def next_rate(self) -> float | None:
        """The rate to measure next, or None when the search is over."""
        if self.done:
            return None
        if len(self.steps) >= self.settings.max_steps:
            self._limit = "steps"
            return None
        return self._rate

    def stop(self, limit: Limit = "time") -> None:
        """End the search now (time ran out); the outcome keeps the interval as it stands."""
        if not self.done:
            self._limit = limit
            self._rate = None

    def record(self, step: StepResult) -> None:
        """Take the verdict of the step measured at the rate :meth:`next_rate` gave."""
        if self.done:
            raise RuntimeError("the search is over: no step can be recorded")
        self.steps.append(step)
        if step.verdict == "generator" and self._retries_left > 0:
            self._retries_left -= 1  # a stalled generator says nothing: the same rate again
            return
        self._retries_left = self.settings.generator_retries
        tally = self.tallies.setdefault(step.rate, Tally())
        if step.passed:
            tally.passes += 1
        elif step.verdict == "generator":
            tally.stalls += 1
        else:
            tally.fails += 1
        self._choose()

    def bracket(self) -> tuple[float | None, float | None]:
        """(L, H) from the tallies as they stand (see the module doc)."""
        failing = [r for r, t in self.tallies.items() if t.failing]
        high = min(failing, default=None)
        passing = [r for r, t in self.tallies.items() if t.passing and (high is None or r < high)]
        return max(passing, default=None), high

    def _choose(self) -> None:
        s = self.settings
        low, high = self.bracket()
        lo, hi = (low or 0.0), (high if high is not None else math.inf)
        tied = sorted(
            r for r, t in self.tallies.items()
            if t.tied and t.total < self.max_repeats and lo <= r <= hi
        )  # fmt: skip
        if tied:
            self._rate = tied[0]
            return
        if high is not None:
            h = self.tallies[high]
            above = any(t.passing for r, t in self.tallies.items() if r > high)
            if above and h.total < self.max_repeats:
                self._rate = high
                return
        if high is None:
            top = low if low is not None else s.start_rate
            if top * s.growth > s.max_rate:
                self._finish("max_rate")
            else:
                self._rate = top * s.growth
            return
        if low is None:
            rate = high / s.growth
            if rate < s.min_rate:
                self._finish("min_rate")
            else:
                self._rate = rate
            return
        if high / low > 1.0 + s.precision:
            self._rate = math.sqrt(low * high)
            return
        h = self.tallies[high]
        if s.recheck and h.total < 2 and h.fails > 0:
            self._rate = high
            return
        if self.tallies[low].passes < 1 + s.confirmations:
            self._rate = low
            return
        self._finish("generator" if h.stalls > h.fails else "router")

    def _finish(self, limit: Limit) -> None:
        self._limit = limit
        self._rate = None

    def outcome(self) -> SearchOutcome:
        """The result so far: the interval always, the capacity only once claimed."""
        limit: Limit = self._limit if self._limit is not None else "steps"
        low, high = self.bracket()
        at_low = self.tallies.get(low) if low is not None else None
        return SearchOutcome(
            capacity=low if limit == "router" else None,
            low=low,
            high=high,
            limited_by=limit,
            confirmations_passed=max(0, at_low.passes - 1) if at_low else 0,
            confirmations_run=max(0, at_low.total - 1) if at_low else 0,
            steps=tuple(self.steps),
        )
