"""The capacity search: a geometric ramp, then a binary search over offered rate, then confirmation.

Pure and synchronous: :class:`CapacitySearch` says which rate to measure next
(:meth:`~CapacitySearch.next_rate`) and is told each step's verdict
(:meth:`~CapacitySearch.record`); :func:`search` drives it with any
``measure(rate) -> StepResult`` callable (a subprocess run in the CLI, a synthetic
function in the tests).

1. Ramp: start at ``start_rate`` and multiply by ``growth`` while steps pass. If the
   very first step fails, divide instead until one passes (or ``min_rate`` is passed).
2. Bisect the bracket [highest pass, lowest non-pass] at its geometric midpoint until
   high / low <= 1 + ``precision``.
3. Recheck the lowest failure once, if the router failed there: if it passes now, the
   failure was noise, the bracket moves above it and the search goes on (a noisy
   failure would otherwise pin the capacity too low).
4. Confirm: measure the highest pass ``confirmations`` more times. One failure there
   makes that rate the new upper end and the search bisects again below it, so a lucky
   pass near the threshold is not reported as capacity.

A step the generator spoiled is measured again at the same rate, up to
``generator_retries`` times (background load on a shared machine is often
transient, and near 4,000 events/s on the medium profile the dispatch-lag gate
sits at its own noise level for both routers: with one retry, which router got
a capacity was left to chance), before it counts as a non-pass.

A step that is not a pass is either the router's failure (``fail``, ``invalid``) or the
generator's (``generator``: it fell behind schedule while the SLO still held). Both end
a bracket, but only a router failure supports a capacity claim: when the lowest
non-passing rate failed on the generator, the outcome is ``limited_by="generator"`` and
``capacity`` stays None (a generator that fell behind voids capacity claims).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import msgspec

StepVerdict = Literal["pass", "fail", "generator", "invalid"]
Limit = Literal["router", "generator", "max_rate", "min_rate", "steps", "time"]
Phase = Literal["ramp", "descend", "bisect", "recheck", "confirm", "done"]


class StepResult(msgspec.Struct, frozen=True):
    """One measured step: its offered rate (events/s), verdict and what it measured.

    ``latency_ns`` and ``latency_upper_ns`` hold, per latency objective, the point
    estimate and the upper confidence bound; ``backlog_slope`` is the growth of
    undelivered work in deliveries/s with its CI. ``reject_rate`` (events) and
    ``failure_rate`` (deliveries) are the rates the step was judged on.
    """

    rate: float
    verdict: StepVerdict
    reasons: tuple[str, ...] = ()
    latency_ns: tuple[float, ...] = ()
    latency_upper_ns: tuple[float, ...] = ()
    backlog_slope: tuple[float, float, float] = (0.0, 0.0, 0.0)
    throughput_dps: float = 0.0
    rss_growth_bytes: int = 0
    duration_s: float = 0.0
    reject_rate: float = 0.0
    failure_rate: float = 0.0
    #: Process CPU seconds over the run's window and drain, the events it published and
    #: the seconds they cover (window + drain): the step's service demand, see
    #: :mod:`bench.analysis.demand`. Zero in results written before they were kept.
    cpu_s: float = 0.0
    events: int = 0
    busy_s: float = 0.0
    #: Whether the step's accounting held and its drain finished (every event's work done).
    complete: bool = True

    @property
    def passed(self) -> bool:
        return self.verdict == "pass"


class SearchSettings(msgspec.Struct, frozen=True):
    """How the search moves; rates are offered events/s."""

    start_rate: float = 250.0
    growth: float = 2.0
    precision: float = 0.05
    max_rate: float = 64_000.0
    min_rate: float = 10.0
    confirmations: int = 2
    generator_retries: int = 3
    recheck: bool = True
    max_steps: int = 30

    def __post_init__(self) -> None:
        if not 0 < self.min_rate <= self.start_rate <= self.max_rate:
            raise ValueError(
                f"need 0 < min_rate <= start_rate <= max_rate, got {self.min_rate},"
                f" {self.start_rate}, {self.max_rate}"
            )
        if self.growth <= 1.0:
            raise ValueError(f"growth must exceed 1, got {self.growth}")
        if not 0.0 < self.precision < self.growth - 1.0:
            raise ValueError(f"precision must lie in (0, growth - 1), got {self.precision}")
        if self.confirmations < 0 or self.generator_retries < 0 or self.max_steps < 1:
            raise ValueError("confirmations and generator_retries must be >= 0 and max_steps >= 1")


class SearchOutcome(msgspec.Struct, frozen=True):
    """Where the search ended. ``capacity`` is claimed only when ``limited_by`` is router.

    ``low`` is the highest confirmed passing rate, ``high`` the lowest rate that did not
    pass: the true capacity lies in [low, high] (the bracket is its interval).
    """

    capacity: float | None
    low: float | None
    high: float | None
    limited_by: Limit
    confirmations_passed: int
    confirmations_run: int
    steps: tuple[StepResult, ...]

    @property
    def router_high(self) -> float | None:
        """``high`` when the router failed there, an upper bound on capacity: always for a
        claim, else when its steps there failed or were invalid at least as often as the
        generator stalled (retried stalls count too, so ties go to the router). None when
        the generator or the host stopped the search there, which bounds nothing."""
        if self.high is None:
            return None
        if self.capacity is not None:
            return self.high
        at = [s.verdict for s in self.steps if s.rate == self.high]
        router = sum(1 for v in at if v in ("fail", "invalid"))
        stalled = sum(1 for v in at if v == "generator")
        return self.high if router and router >= stalled else None


class CapacitySearch:
    """The search as a state machine: ask :meth:`next_rate`, measure, :meth:`record`."""

    def __init__(self, settings: SearchSettings) -> None:
        self.settings = settings
        self.phase: Phase = "ramp"
        self.low: float | None = None
        self.high: StepResult | None = None
        self.steps: list[StepResult] = []
        self._rate: float | None = settings.start_rate
        self._confirm_left = 0
        self._confirm_run = 0
        self._confirm_passed = 0
        self._limit: Limit | None = None
        self._retries_left = settings.generator_retries
        self._rechecked: set[float] = set()

    def next_rate(self) -> float | None:
        """The rate to measure next, or None when the search is over."""
        if self.phase == "done":
            return None
        if len(self.steps) >= self.settings.max_steps:
            self._finish("steps")
            return None
        return self._rate

    def record(self, step: StepResult) -> None:
        """Take the verdict of the step measured at the rate :meth:`next_rate` gave."""
        if self.phase == "done":
            raise RuntimeError("the search is over: no step can be recorded")
        self.steps.append(step)
        s = self.settings
        if step.verdict == "generator" and self._retries_left > 0:
            # A stalled generator says nothing about the router: measure the rate again.
            self._retries_left -= 1
            return
        self._retries_left = s.generator_retries
        if self.phase == "ramp":
            if step.passed:
                self.low = step.rate
                if step.rate * s.growth > s.max_rate:
                    self._finish("max_rate")
                else:
                    self._rate = step.rate * s.growth
                return
            self.high = step
            self._after_bracket() if self.low is not None else self._descend()
        elif self.phase == "descend":
            if step.passed:
                self.low = step.rate
                self._after_bracket()
            else:
                self.high = step
                self._descend()
        elif self.phase == "bisect":
            if step.passed:
                self.low = step.rate
            else:
                self.high = step
            self._after_bracket()
        elif self.phase == "recheck":
            self._rechecked.add(step.rate)
            if not step.passed:
                self.high = step
                self._after_bracket()
                return
            # The failure that closed the bracket was noise: the bracket moves up.
            self.low = step.rate
            above = self._lowest_failure_above(step.rate)
            if above is None:
                self.phase = "ramp"
                self.high = None
                self._rate = min(step.rate * s.growth, s.max_rate)
            else:
                self.high = above
                self._after_bracket()
        elif self.phase == "confirm":
            self._confirm_run += 1
            if step.passed:
                self._confirm_passed += 1
                self._confirm_left -= 1
                if self._confirm_left == 0:
                    self._finish(self._bracket_limit())
                return
            # A lucky pass: the failing rate becomes the top, search again below it.
            self.high = step
            self.low = self._best_pass_below(step.rate)
            self._after_bracket() if self.low is not None else self._descend()

    def _best_pass_below(self, rate: float) -> float | None:
        passes = [t.rate for t in self.steps if t.passed and t.rate < rate]
        # Only the router failing at a rate makes its earlier pass suspect; a stalled
        # generator says nothing about the router.
        failed = {t.rate for t in self.steps if t.verdict in ("fail", "invalid")}
        trusted = [r for r in passes if r not in failed]
        return max(trusted, default=None)

    def _lowest_failure_above(self, rate: float) -> StepResult | None:
        passed = {t.rate for t in self.steps if t.passed}
        above = [t for t in self.steps if not t.passed and t.rate > rate and t.rate not in passed]
        return min(above, key=lambda t: t.rate, default=None)

    def _descend(self) -> None:
        assert self.high is not None
        rate = self.high.rate / self.settings.growth
        if rate < self.settings.min_rate:
            self._finish("min_rate")
            return
        self.phase = "descend"
        self._rate = rate

    def _after_bracket(self) -> None:
        assert self.low is not None and self.high is not None
        if self.high.rate / self.low > 1.0 + self.settings.precision:
            self.phase = "bisect"
            self._rate = math.sqrt(self.low * self.high.rate)
            return
        # Generator stalls were re-measured already; the recheck is for router noise.
        if self.settings.recheck and not self._rechecked and self.high.verdict == "fail":
            self.phase = "recheck"
            self._rate = self.high.rate
            return
        if self.settings.confirmations == 0:
            self._finish(self._bracket_limit())
            return
        self.phase = "confirm"
        self._rate = self.low
        self._confirm_left = self.settings.confirmations
        self._confirm_run = 0
        self._confirm_passed = 0

    def _bracket_limit(self) -> Limit:
        assert self.high is not None
        return "generator" if self.high.verdict == "generator" else "router"

    def _finish(self, limit: Limit) -> None:
        self.phase = "done"
        self._rate = None
        self._limit = limit

    def outcome(self) -> SearchOutcome:
        """The result so far (final once :meth:`next_rate` returned None)."""
        limit: Limit = self._limit if self._limit is not None else "steps"
        return SearchOutcome(
            capacity=self.low if limit == "router" else None,
            low=self.low,
            high=self.high.rate if self.high is not None else None,
            limited_by=limit,
            confirmations_passed=self._confirm_passed,
            confirmations_run=self._confirm_run,
            steps=tuple(self.steps),
        )


def search(
    measure: Callable[[float], StepResult],
    settings: SearchSettings,
    on_step: Callable[[StepResult, CapacitySearch], None] | None = None,
) -> SearchOutcome:
    """Run the whole search with ``measure``; ``on_step`` sees each step as it lands."""
    machine = CapacitySearch(settings)
    while (rate := machine.next_rate()) is not None:
        step = measure(rate)
        machine.record(step)
        if on_step is not None:
            on_step(step, machine)
    return machine.outcome()
