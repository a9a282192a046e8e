"""Judging capacity steps from run results, the knee, and sizing against a peak."""

from __future__ import annotations

import msgspec
import pytest

from bench.analysis.slo import parse_latencies
from bench.experiments.capacity import SearchOutcome, StepResult
from bench.experiments.capacity_step import Criteria, backlog_growth, judge, knee, size
from bench.run import worker
from bench.schema import Gate, RunResult, RunSpec
from events.errors import ConfigError

LAX = parse_latencies("p99<=10s")


@pytest.fixture(scope="module")
def soak_run() -> RunResult:
    """One short real run of the null router on the soak pattern (five steady segments)."""
    spec = RunSpec(arch="null", profile="light", pattern="soak", seed=7, duration_s=1.0,
                   base_rate=400.0, services="noop")  # fmt: skip
    return worker.run(spec)


def with_gates(run: RunResult, passed: bool, scope: str) -> RunResult:
    gate = Gate("probe", passed, scope, "a probe gate")  # type: ignore[arg-type]
    return msgspec.structs.replace(run, gates=(*run.gates, gate))


def all_gates_pass(run: RunResult) -> RunResult:
    gates = tuple(msgspec.structs.replace(g, passed=True) for g in run.gates)
    return msgspec.structs.replace(run, gates=gates)


def stalled(run: RunResult, completed_share: float) -> RunResult:
    """The run with each segment completing only ``completed_share`` of what it accepted."""
    per_event = run.accounting.delivered / run.accounting.accepted
    phases = tuple(
        msgspec.structs.replace(p, completed_dps=p.accepted_eps * per_event * completed_share)
        for p in run.phases
    )
    return msgspec.structs.replace(run, phases=phases)


def test_a_lax_slo_passes(soak_run: RunResult) -> None:
    """A real light run meets p99<=10s, 100% errors, no backlog growth: pass."""
    step = judge(all_gates_pass(soak_run), 400.0, LAX, error_limit=1.0)
    assert (step.verdict, step.reasons) == ("pass", ())
    assert True is (step.latency_ns[0] <= step.latency_upper_ns[0])


def test_a_broken_latency_objective_fails(soak_run: RunResult) -> None:
    """p99<=1ns cannot hold: the step fails, naming the objective."""
    step = judge(all_gates_pass(soak_run), 400.0, parse_latencies("p99<=1ns"), 1.0)
    assert step.verdict == "fail"
    assert True is step.reasons[0].startswith("p99<=1ns")


def test_a_failure_rate_over_the_limit_fails_naming_it(soak_run: RunResult) -> None:
    """2% of deliveries failed breaks a 1% limit though no event was rejected: the step
    fails naming failure_rate, and records both rates."""
    failing = msgspec.structs.replace(all_gates_pass(soak_run), failure_rate=0.02)
    step = judge(failing, 400.0, LAX, error_limit=0.01)
    assert (step.verdict, step.reasons) == ("fail", ("failure_rate 2.000% > 1.000%",))
    assert (step.reject_rate, step.failure_rate) == (0.0, 0.02)


def test_growing_backlog_fails(soak_run: RunResult) -> None:
    """Segments completing half of what they accept: a growing backlog fails the step."""
    step = judge(all_gates_pass(stalled(soak_run, 0.5)), 400.0, LAX, 1.0)
    assert step.verdict == "fail"
    assert True is any("backlog grows" in r for r in step.reasons)


def test_backlog_slope_matches_the_lost_completions(soak_run: RunResult) -> None:
    """Completing 90% of accepted work leaves backlog growing at 10% of the delivery rate."""
    run = stalled(soak_run, 0.9)
    slope, low, high = backlog_growth(run)
    per_event = run.accounting.delivered / run.accounting.accepted
    rates = [p.accepted_eps * per_event * 0.1 for p in run.phases]
    assert True is (low <= slope <= high)
    assert slope == pytest.approx(sum(rates) / len(rates), rel=0.25)


def test_backlog_needs_three_phases(soak_run: RunResult) -> None:
    """A run of fewer than three phases cannot give a slope CI: ValueError."""
    short = msgspec.structs.replace(soak_run, phases=soak_run.phases[:2])
    with pytest.raises(ValueError, match="3 phases"):
        backlog_growth(short)


def test_judging_a_run_of_too_few_segments_is_a_config_error(soak_run: RunResult) -> None:
    """A step run without 3 segments cannot show backlog growth: ConfigError says why."""
    short = msgspec.structs.replace(soak_run, phases=soak_run.phases[:2])
    with pytest.raises(ConfigError, match="at least 3 steady segments"):
        judge(short, 400.0, LAX, 1.0)


def test_generator_gate_alone_gives_a_generator_verdict(soak_run: RunResult) -> None:
    """SLO held but a capacity gate failed: the generator, not the router, is blamed."""
    step = judge(with_gates(all_gates_pass(soak_run), False, "capacity"), 400.0, LAX, 1.0)
    assert step.verdict == "generator"
    relaxed = Criteria(LAX, 1.0, require_generator=False)
    step = judge(
        with_gates(all_gates_pass(soak_run), False, "capacity"), 400.0, relaxed.latency, 1.0,
        require_generator=relaxed.require_generator,
    )  # fmt: skip
    assert step.verdict == "pass"


def with_cpu(run: RunResult, utilisation: float) -> RunResult:
    """The run with its process busy for ``utilisation`` of a core over window and drain."""
    busy = run.window_s + run.accounting.drain_s
    return msgspec.structs.replace(
        run, resources=msgspec.structs.replace(run.resources, cpu_s=utilisation * busy)
    )


def test_a_breach_while_starved_by_the_host_is_the_generators(soak_run: RunResult) -> None:
    """The SLO broken with the generator behind and the process at 10% of a core: the host
    starved it (verdict generator, retried); at 90% of a core the router is saturated (fail).
    The step keeps its CPU time, events and busy seconds for the demand estimate."""
    broken = parse_latencies("p99<=1ns")
    behind = with_gates(all_gates_pass(soak_run), False, "capacity")
    starved = judge(with_cpu(behind, 0.1), 400.0, broken, 1.0)
    saturated = judge(with_cpu(behind, 0.9), 400.0, broken, 1.0)
    assert (starved.verdict, saturated.verdict) == ("generator", "fail")
    assert starved.reasons[0].startswith(
        "host: the generator fell behind while the process used 10%"
    )
    assert (starved.events, starved.complete) == (soak_run.events, True)
    assert starved.cpu_s == pytest.approx(0.1 * starved.busy_s)


def test_broken_accounting_is_invalid(soak_run: RunResult) -> None:
    """A failed 'all' gate voids the step whatever the latencies say."""
    step = judge(with_gates(all_gates_pass(soak_run), False, "all"), 400.0, LAX, 1.0)
    assert step.verdict == "invalid"


def test_steps_are_long_enough_to_bound_the_percentile() -> None:
    """At 100 events/s a p99.9 bound needs ~3,000 samples: the step stretches to ~45 s."""
    criteria = Criteria(parse_latencies("p99.9<=1s"), 0.001, step_s=2.0)
    assert (2.0, pytest.approx(1.5 * 2995 / 100.0)) == (
        criteria.seconds(10_000.0),
        criteria.seconds(100.0),
    )


def steps(*pairs: tuple[float, float]) -> tuple[StepResult, ...]:
    return tuple(
        StepResult(rate, "pass", latency_ns=(ms * 1e6,), rss_growth_bytes=2**20)
        for rate, ms in pairs
    )


def test_knee_is_before_latency_doubles() -> None:
    """Latency 5, 6, 8, 12 ms at 1k, 2k, 3k, 4k: the knee is 3k (12 > 2 x 5)."""
    assert knee(steps((1000, 5), (2000, 6), (3000, 8), (4000, 12))) == (3000.0, 5e6)


def test_no_knee_without_doubling() -> None:
    """Latency never doubling leaves the knee unknown."""
    assert knee(steps((1000, 5), (2000, 6))) == (None, 5e6)


def test_sizing_projects_instances_and_headroom() -> None:
    """Capacity 4,000 against a peak of 10,000: -60% headroom, 3 instances, peak not met."""
    outcome = SearchOutcome(4000.0, 4000.0, 4200.0, "router", 2, 2, steps((4000, 5), (4000, 5)))
    sizing = size("daemon", outcome, peak=10_000.0)
    assert (pytest.approx(-0.6), 3, False) == (sizing.headroom, sizing.instances, sizing.meets_peak)
    assert pytest.approx(2**20 / 4.0) == sizing.memory_per_1k_eps_bytes


def test_generator_limited_sizing_is_undetermined_below_the_peak() -> None:
    """No capacity claim and no pass at the peak: whether it is met stays undetermined."""
    outcome = SearchOutcome(None, 800.0, 900.0, "generator", 0, 0, steps((800, 5)))
    sizing = size("coordinator", outcome, peak=1000.0)
    assert (sizing.headroom, sizing.instances, sizing.meets_peak) == (None, None, None)
