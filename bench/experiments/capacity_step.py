"""Judging one capacity step from its run result, and sizing an architecture from its steps.

A step passes when, at once:

* every latency objective holds on the *upper* confidence bound of its percentile
  (:func:`bench.analysis.slo.latency_upper_bound_ns`, an order statistic over the run's HDR
  histogram of response latency);
* both failure rates are within the error limit, each on its own: the event-level
  ``reject_rate`` (rejected events over events published) and the delivery-level
  ``failure_rate`` (dead-lettered + dropped over deliveries started), as
  :func:`bench.analysis.slo.rate_breaches` judges them;
* the backlog is not growing. The worker keeps no time series of pending work, but the
  step runs the ``soak`` pattern (steady Poisson load cut into named segments), and each
  segment records its accepted events/s and completed deliveries/s. Undelivered work at
  the end of segment i is the running sum of (accepted x deliveries per accepted event
  - completed); its slope over the segment ends, with a Student-t CI
  (:func:`bench.analysis.stats.linear_slope_ci`), is the backlog growth. It fails only when the
  CI lies above 0 *and* the slope exceeds ``backlog_tolerance`` of the offered delivery
  rate;
* the generator stayed valid (every gate of the run passed).

A step that breaks the SLO while its generator fell behind *and* its process used
less than ``STARVED_UTILISATION`` of a core is the host's, not the router's
(verdict ``generator``, retried like any stalled generator): a router that is the
bottleneck keeps its loop busy, and simulated I/O waits leave the loop free to keep
to its schedule, so a loop behind schedule yet mostly idle was waiting for a CPU it
did not get. On the shared VM such steps failed p99<=50ms at 220 events/s with the
generator 50-200 ms behind and the process at 4-11% of a core.

Knee of the latency-throughput curve: the highest measured rate before the first rate
whose latency (the first objective's percentile, point estimate, median over repeats)
exceeds ``KNEE_FACTOR`` times its value at the lowest measured rate.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import msgspec
import numpy as np

from bench.analysis.slo import (
    LatencyObjective,
    latency_upper_bound_ns,
    rate_breaches,
    response_histogram,
)
from bench.analysis.stats import linear_slope_ci, min_samples_for_upper_bound
from bench.experiments.capacity import (
    CapacitySearch,
    Limit,
    SearchOutcome,
    SearchSettings,
    StepResult,
    StepVerdict,
)
from bench.experiments.capacity_bounded import BoundedSearch
from bench.run.histograms import decode
from bench.run.runner import Launcher, run_in_subprocess
from bench.schema import RunResult, RunSpec
from events.errors import ConfigError

#: The knee is where latency first exceeds this multiple of its low-load value.
KNEE_FACTOR = 2.0
#: Backlog growth tolerated, as a share of the offered delivery rate.
BACKLOG_TOLERANCE = 0.02
#: Each step runs this pattern: steady Poisson load cut into segments, so growth shows.
STEP_PATTERN = "soak"
#: Below this share of a core, a step whose generator fell behind was starved by the host.
STARVED_UTILISATION = 0.5
#: Seconds a step may take beyond its duration and drain before it counts as hung.
STEP_SLACK_S = 90.0


class Criteria(msgspec.Struct, frozen=True):
    """What a step must meet, and how long it runs at least (seconds)."""

    latency: tuple[LatencyObjective, ...]
    error_limit: float
    confidence: float = 0.95
    step_s: float = 4.0
    backlog_tolerance: float = BACKLOG_TOLERANCE
    #: False only where the generator's own timing is not in question (a test of the
    #: search on a shared machine): a generator-gate failure then does not spoil a step.
    require_generator: bool = True

    def seconds(self, rate: float) -> float:
        """Long enough for every percentile to be bounded, at one delivery per event."""
        needed = max(min_samples_for_upper_bound(o.q, self.confidence) for o in self.latency)
        return max(self.step_s, 1.5 * needed / rate)


class Sizing(msgspec.Struct, frozen=True):
    """What the steps of one architecture say about deploying it; None where unknown."""

    arch: str
    outcome: SearchOutcome
    knee_rate: float | None
    low_load_latency_ns: float | None
    deliveries_per_s: float | None
    memory_per_1k_eps_bytes: float | None
    peak: float | None
    headroom: float | None
    instances: int | None
    #: True: shown to sustain --peak; False: fails below it; None: not determined.
    meets_peak: bool | None


def backlog_growth(result: RunResult) -> tuple[float, float, float]:
    """(slope, low, high) of undelivered work in deliveries/s over the run's phases."""
    acc = result.accounting
    phases = sorted(result.phases, key=lambda p: p.start_s)
    if len(phases) < 3:
        raise ValueError(f"backlog growth needs at least 3 phases, the run has {len(phases)}")
    # Deliveries owed per accepted event, counting those that later failed: using only the
    # delivered ones would shrink the expected work exactly when the router falls behind.
    per_event = acc.deliveries / acc.accepted if acc.accepted else 0.0
    expected = np.array([p.accepted_eps * p.duration_s * per_event for p in phases])
    completed = np.array([p.completed_dps * p.duration_s for p in phases])
    ends = [p.start_s + p.duration_s for p in phases]
    slope, low, high = linear_slope_ci(ends, np.cumsum(expected - completed).tolist())
    # A backlog that is exactly flat has no spread to build an interval from (scipy gives
    # nan, which JSON cannot hold): the interval is the slope itself.
    if not (math.isfinite(low) and math.isfinite(high)):
        return slope, slope, slope
    return slope, low, high


def judge(
    result: RunResult,
    rate: float,
    latency: Sequence[LatencyObjective],
    error_limit: float,
    confidence: float = 0.95,
    backlog_tolerance: float = BACKLOG_TOLERANCE,
    require_generator: bool = True,
) -> StepResult:
    """The verdict of one step measured at ``rate`` events/s (see the module doc)."""
    reasons: list[str] = []
    points: list[float] = []
    uppers: list[float] = []
    hist = response_histogram(result)
    for objective in latency:
        percentile = objective.percentile
        points.append(float(_percentile(result, percentile)))
        try:
            upper = latency_upper_bound_ns(hist, objective.q, confidence)
        except ValueError as exc:
            upper = math.inf
            reasons.append(f"{objective.text}: cannot bound it ({exc})")
        uppers.append(upper)
        if math.isfinite(upper) and not objective.holds(upper):
            reasons.append(
                f"{objective.text}: p{percentile:g} upper {confidence:.0%} bound"
                f" {upper / 1e6:.1f} ms"
            )
    for name, _, value in rate_breaches(result, error_limit):
        reasons.append(f"{name} {value:.3%} > {error_limit:.3%}")
    try:
        slope = backlog_growth(result)
    except ValueError as exc:
        raise ConfigError(
            f"capacity steps need a pattern of at least 3 steady segments ({STEP_PATTERN}"
            f" in configs/scenarios.toml): {exc}"
        ) from None
    offered_dps = sum(p.accepted_eps * p.duration_s for p in result.phases) / max(
        result.window_s, 1e-9
    )
    if result.accounting.accepted:
        offered_dps *= result.accounting.deliveries / result.accounting.accepted
    if slope[1] > 0 and slope[0] > backlog_tolerance * offered_dps:
        reasons.append(f"backlog grows {slope[0]:,.0f} deliveries/s (CI {slope[1]:,.0f}..)")
    void = [g for g in result.gates if not g.passed and g.scope == "all"]
    behind = [g for g in result.gates if not g.passed and g.scope == "capacity"]
    if not require_generator:
        behind = []
    acc = result.accounting
    busy_s = result.window_s + acc.drain_s
    utilisation = result.resources.cpu_s / busy_s if busy_s > 0 else 0.0
    verdict: StepVerdict
    if void:
        verdict = "invalid"
        reasons += [f"{g.name}: {g.detail}" for g in void]
    elif reasons and behind and utilisation < STARVED_UTILISATION:
        verdict = "generator"
        reasons = [
            f"host: the generator fell behind while the process used {utilisation:.0%} of a"
            " core (starved, not saturated)",
            *reasons,
            *[f"{g.name}: {g.detail}" for g in behind],
        ]
    elif reasons:
        # Latency counts from the intended time, so a breach stands even if the
        # generator lagged too: the router shares its loop.
        verdict = "fail"
        reasons += [f"also {g.name}: {g.detail}" for g in behind]
    elif behind:
        verdict = "generator"
        reasons += [f"{g.name}: {g.detail}" for g in behind]
    else:
        verdict = "pass"
    res = result.resources
    rates = result.rates()
    return StepResult(
        rate=rate,
        verdict=verdict,
        reasons=tuple(reasons),
        latency_ns=tuple(points),
        latency_upper_ns=tuple(uppers),
        reject_rate=rates.reject_rate,
        failure_rate=rates.failure_rate,
        backlog_slope=slope,
        throughput_dps=result.throughput_dps,
        rss_growth_bytes=max(0, res.rss_peak_bytes - res.rss_setup_bytes),
        duration_s=result.window_s,
        cpu_s=res.cpu_s,
        events=result.events,
        busy_s=busy_s,
        complete=not void and acc.drain_completed and acc.pending == 0,
    )


def _percentile(result: RunResult, percentile: float) -> float:
    hist = response_histogram(result)
    if hist.summary.count == 0:
        return math.inf
    return float(decode(hist.encoded).get_value_at_percentile(percentile))


def knee(steps: Sequence[StepResult]) -> tuple[float | None, float | None]:
    """(knee rate, low-load latency ns) from the first objective (see the module doc)."""
    by_rate: dict[float, list[float]] = {}
    for step in steps:
        if step.verdict in ("pass", "fail") and step.latency_ns:
            by_rate.setdefault(step.rate, []).append(step.latency_ns[0])
    if len(by_rate) < 2:
        return None, None
    rates = sorted(by_rate)
    values = [float(np.median(by_rate[r])) for r in rates]
    base = values[0]
    for i in range(1, len(rates)):
        if values[i] > KNEE_FACTOR * base:
            return rates[i - 1], base
    return None, base


def size(arch: str, outcome: SearchOutcome, peak: float | None) -> Sizing:
    """Knee, memory per 1,000 events/s, headroom and instances (a projection) of one arch."""
    knee_rate, base = knee(outcome.steps)
    at_capacity = [s for s in outcome.steps if s.passed and s.rate == outcome.low]
    memory = deliveries = None
    if at_capacity and outcome.low:
        memory = float(np.mean([s.rss_growth_bytes for s in at_capacity])) / (outcome.low / 1e3)
        deliveries = float(np.mean([s.throughput_dps for s in at_capacity]))
    headroom = instances = meets = None
    if peak is not None:
        cap = outcome.capacity
        if cap is not None:
            headroom = cap / peak - 1.0
            instances = math.ceil(peak / cap)
        shown = outcome.low if outcome.low is not None else 0.0
        if shown >= peak:
            meets = True
        elif outcome.limited_by in ("router", "min_rate"):
            meets = False
    return Sizing(
        arch, outcome, knee_rate, base, deliveries, memory, peak, headroom, instances, meets
    )


StepCallback = Callable[[str, StepResult, int, float], None]
#: Seconds a step costs beyond its measured window (interpreter start, schedule, drain)
#: until one has been measured; the budget check then uses the largest seen.
FIRST_OVERHEAD_S = 3.0


def search_architectures(
    archs: Sequence[str],
    base: RunSpec,
    settings: SearchSettings,
    criteria: Criteria,
    launch: Launcher = run_in_subprocess,
    on_step: StepCallback | None = None,
    max_time_s: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, SearchOutcome]:
    """One search per architecture, their steps interleaved (AB, BA, AB ...) so that
    background load falls on all alike; each step is ``launch``ed (a fresh subprocess
    by default) with ``base`` at the step's rate and duration.

    With ``max_time_s`` each architecture runs a :class:`BoundedSearch` (unconfirmed
    steps repeated, judged by majority), and no step starts that would end after the
    budget: every search then stops with limit ``time`` and its interval as it stands.
    """
    machines: dict[str, CapacitySearch | BoundedSearch] = {
        arch: BoundedSearch(settings) if max_time_s is not None else CapacitySearch(settings)
        for arch in archs
    }
    began = clock()
    overheads: list[float] = []
    rounds = 0
    while any(m.next_rate() is not None for m in machines.values()):
        order = list(archs) if rounds % 2 == 0 else list(archs)[::-1]
        rounds += 1
        for arch in order:
            machine = machines[arch]
            rate = machine.next_rate()
            if rate is None:
                continue
            seconds = criteria.seconds(rate)
            overhead = max(overheads, default=FIRST_OVERHEAD_S)
            if max_time_s is not None and clock() - began + seconds + overhead > max_time_s:
                _out_of_time(machines)
                break
            step_began = clock()
            step = measure_step(arch, rate, seconds, base, criteria, launch)
            took = clock() - step_began
            overheads.append(took - seconds)
            machine.record(step)
            if on_step is not None:
                on_step(arch, step, len(machine.steps), took)
    return {arch: m.outcome() for arch, m in machines.items()}


def measure_step(
    arch: str,
    rate: float,
    seconds: float,
    base: RunSpec,
    criteria: Criteria,
    launch: Launcher = run_in_subprocess,
    drain_timeout_s: float | None = None,
) -> StepResult:
    """One step: ``arch`` offered ``rate`` events/s of the step pattern for ``seconds``."""
    drain = base.drain_timeout_s if drain_timeout_s is None else drain_timeout_s
    spec = msgspec.structs.replace(
        base, arch=arch, pattern=STEP_PATTERN, duration_s=seconds, base_rate=rate,
        drain_timeout_s=drain,
    )  # fmt: skip
    result = launch(spec, seconds + drain + STEP_SLACK_S)
    return judge(
        result, rate, criteria.latency, criteria.error_limit, criteria.confidence,
        criteria.backlog_tolerance, criteria.require_generator,
    )  # fmt: skip


def _out_of_time(machines: dict[str, CapacitySearch | BoundedSearch]) -> None:
    limit: Limit = "time"
    for machine in machines.values():
        if isinstance(machine, BoundedSearch):
            machine.stop(limit)
