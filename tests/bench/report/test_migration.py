"""The migration answer and the planning lines, from fixed inputs."""

from __future__ import annotations

from bench.analysis.demand import Sample, service_demand
from bench.analysis.projection import Growth
from bench.experiments.capacity import SearchOutcome, StepResult
from bench.experiments.capacity_step import size
from bench.experiments.planning import ArchPlan, plan, settle_peak
from bench.host.calibrate import SpeedRatio
from bench.host.machine_speed import spread
from bench.report import migration

GROWTH = Growth(0.08, "8%/month")


def _steps(d: float, rates: list[float]) -> tuple[StepResult, ...]:
    return tuple(
        StepResult(r, "pass", latency_ns=(5e6,), throughput_dps=2 * r, cpu_s=d * r * 4.0,
                   events=int(r * 4), busy_s=4.0, rss_growth_bytes=2**20)
        for r in rates
    )  # fmt: skip


def _outcome(capacity: float | None, high: float, limit: str, d: float) -> SearchOutcome:
    steps = _steps(d, [500.0, 1000.0, 2000.0, 4000.0])
    low = capacity if capacity is not None else 4000.0
    return SearchOutcome(capacity, low, high, limit, 2, 2, steps)  # type: ignore[arg-type]


def test_months_of_headroom_and_the_target_bound_are_labelled_projections() -> None:
    """A claim of 8,000/s at D = 100 µs against a 5,000 peak growing 8%/month."""
    sizing = size("daemon", _outcome(8000.0, 8400.0, "router", 100e-6), 5000.0)
    p = plan(sizing, 5000.0, GROWTH, SpeedRatio(1.5, {"daemon": 1.5}))
    lines = migration.plan_lines(
        sizing, p, None, 5000.0, GROWTH, p_ratio := SpeedRatio(1.5, {"daemon": 1.5})
    )
    assert p.demand is not None and round(p.demand.bound) == 10_000
    growth = next(line for line in lines if "growth 8%/month" in line)
    assert growth.endswith("(projection)") and "6.1 months at the claimed capacity" in growth
    target = next(line for line in lines if "target host" in line)
    assert "15,000 events/s" in target and target.endswith("(projection)")
    answer = migration.paragraph([sizing], [p], "p99<=50ms", None, 5000.0, GROWTH, p_ratio)
    assert "6.1 months of headroom at 8%/month growth (projection)" in answer
    assert (
        "projections: instances and headroom, months of headroom, the target-host bound" in answer
    )


def test_an_undetermined_search_gives_the_bound_and_the_host_spread() -> None:
    """No claim: the line says why, with the machine-speed spread and the CPU bound."""
    sizing = size("coordinator", _outcome(None, 4400.0, "time", 250e-6), 5000.0)
    p = plan(sizing, 5000.0, None, None)
    lines = migration.plan_lines(sizing, p, spread([300.0, 500.0, 700.0]), 5000.0, None, None)
    undetermined = next(line for line in lines if "undetermined" in line)
    assert "between 0.60x and 1.40x of its median" in undetermined
    assert "CPU-demand bound of 4,000 events/s still holds" in undetermined


def test_a_bound_below_the_peak_settles_an_undetermined_peak() -> None:
    """With no claim, a CPU bound whose top is under the peak means it cannot meet it."""
    sizing = size("coordinator", _outcome(None, 4400.0, "time", 250e-6), 5000.0)
    assert sizing.meets_peak is None
    assert settle_peak(sizing, plan(sizing, 5000.0, None, None)).meets_peak is False


def test_a_claim_above_the_cpu_bound_is_flagged_suspect() -> None:
    """A claimed 12,000/s where the CPU time allows at most about 10,000/s."""
    sizing = size("daemon", _outcome(12_000.0, 12_500.0, "router", 100e-6), None)
    p = plan(sizing, None, None, None)
    assert p.suspect is True
    assert any(
        line.startswith("  SUSPECT")
        for line in migration.plan_lines(sizing, p, None, None, None, None)
    )


def test_overlapping_claims_establish_no_difference_and_recovery_is_hooked() -> None:
    """Two claims in overlapping intervals: no difference; recovery read via the hook."""
    a = size("coordinator", _outcome(8000.0, 8600.0, "router", 100e-6), 5000.0)
    b = size("daemon", _outcome(8400.0, 8800.0, "router", 100e-6), 5000.0)
    plans = [plan(s, 5000.0, None, None) for s in (a, b)]
    answer = migration.paragraph([a, b], plans, "p99<=50ms", None, 5000.0, None, None)
    assert answer.startswith("Under p99<=50ms, no difference in capacity is established")
    recovery = (
        "recovery after a spike is not measured by this version of the bench"
        if migration.recovery_metric() is None
        else "recovery after a spike was not measured (no equal-utilisation runs)"
    )
    assert recovery in answer


def test_demand_of_a_plan_uses_the_steps_cpu_time() -> None:
    """The plan's demand is the service demand of the search's complete steps."""
    sizing = size("daemon", _outcome(8000.0, 8400.0, "router", 100e-6), None)
    expected = service_demand([Sample(s.cpu_s, s.events, s.busy_s) for s in sizing.outcome.steps])
    p: ArchPlan = plan(sizing, None, None, None)
    assert p.demand == expected


def test_intervals_apart_by_less_than_the_host_drift_establish_no_difference() -> None:
    """1.35x with intervals apart, but the machine's speed moved ±54%: not established."""
    a = size("coordinator", _outcome(8724.0, 9110.0, "router", 74e-6), 5000.0)
    b = size("daemon", _outcome(6442.0, 6727.0, "router", 77e-6), 5000.0)
    plans = [plan(s, 5000.0, None, None) for s in (a, b)]
    answer = migration.paragraph([a, b], plans, "p99<=50ms", None, 5000.0, None, None, 0.54)
    assert answer.startswith(
        "Under p99<=50ms, no difference in capacity is established: coordinator sustained"
        " 8,724 events/s and daemon 6,442, with intervals apart by less than the ±54% the"
        " machine's speed moved during the search."
    )
