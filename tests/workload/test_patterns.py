"""Pattern phases: named, contiguous, scaled, with the asked rates."""

from __future__ import annotations

import msgspec
import numpy as np
import pytest

from events import Category, subject_matches
from events.errors import ConfigError
from workload import PATTERNS, build_schedule, build_services, load_scenarios, plan_phases
from workload.patterns import RampPattern, StressPattern


@pytest.mark.parametrize("pattern", PATTERNS)
def test_phases_are_contiguous_and_cover_the_run(pattern: str) -> None:
    """Phases start at 0, each starts where the previous ended, the last ends at the duration."""
    phases = plan_phases("medium", pattern, duration_s=40.0)
    starts = [p.start_s for p in phases]
    ends = [p.end_s for p in phases]
    assert (0.0, [pytest.approx(e) for e in ends[:-1]], 40.0) == (starts[0], starts[1:], ends[-1])


@pytest.mark.parametrize("pattern", PATTERNS)
def test_phase_names_are_unique_and_non_empty(pattern: str) -> None:
    """Every phase has its own name, so results can be reported per phase."""
    names = [p.name for p in plan_phases("medium", pattern)]
    assert (len(names), True) == (len(set(names)), all(names))


def test_spike_phases_are_named_per_cycle_at_k_times_baseline() -> None:
    """Spike: baseline, spike at k x base, recovery at base; two cycles."""
    scenarios = load_scenarios()
    k = scenarios.patterns.spike.factor
    base = scenarios.profiles["medium"].base_rate
    phases = plan_phases("medium", "spike", scenarios=scenarios)
    expected = [
        ("baseline-1", base),
        ("spike-1", k * base),
        ("recovery-1", base),
        ("baseline-2", base),
        ("spike-2", k * base),
        ("recovery-2", base),
    ]
    assert expected == [(p.name, p.rate_start) for p in phases]


def test_ramp_rises_linearly_then_holds() -> None:
    """Ramp: rate_start < rate_end in ramp-up, and the hold stays at the peak."""
    p = load_scenarios().patterns.ramp
    phases = plan_phases("light", "ramp", base_rate=100.0)
    expected = [
        ("ramp-up", 100.0 * p.start_factor, 100.0 * p.peak_factor),
        ("hold", 100.0 * p.peak_factor, 100.0 * p.peak_factor),
    ]
    assert expected == [(ph.name, ph.rate_start, ph.rate_end) for ph in phases]


def test_breakpoint_steps_rise() -> None:
    """Breakpoint: equal-length steps with strictly rising rates."""
    phases = plan_phases("medium", "breakpoint", duration_s=80.0)
    rates = [p.rate_start for p in phases]
    assert (sorted(set(rates)), [pytest.approx(80.0 / len(phases))] * len(phases)) == (
        rates,
        [p.duration_s for p in phases],
    )


def test_mixed_chains_the_basic_patterns_with_prefixed_names() -> None:
    """Mixed: each phase is named <pattern>/<phase>, in the configured sequence."""
    scenarios = load_scenarios()
    phases = plan_phases("medium", "mixed", scenarios=scenarios)
    prefixes = []
    for phase in phases:
        prefix = phase.name.split("/")[0]
        if not prefixes or prefixes[-1] != prefix:
            prefixes.append(prefix)
    assert scenarios.patterns.mixed.sequence == prefixes


def test_duration_override_scales_phases_proportionally() -> None:
    """Doubling the duration doubles every phase's start and length, rates unchanged."""
    short = plan_phases("medium", "spike", duration_s=30.0)
    long = plan_phases("medium", "spike", duration_s=60.0)
    assert [(2 * p.start_s, 2 * p.duration_s, p.rate_start) for p in short] == [
        (pytest.approx(p.start_s), pytest.approx(p.duration_s), p.rate_start) for p in long
    ]


def test_soak_defaults_to_a_long_run() -> None:
    """Soak without --duration runs duration_factor x the profile's duration."""
    scenarios = load_scenarios()
    phases = plan_phases("light", "soak", scenarios=scenarios)
    expected = scenarios.profiles["light"].duration_s * scenarios.patterns.soak.duration_factor
    assert pytest.approx(expected) == phases[-1].end_s


def test_ramp_down_is_optional_and_returns_to_the_start_rate() -> None:
    """Ramp with down_share > 0 ends in a ramp-down from the peak back to the start rate."""
    scenarios = load_scenarios()
    ramp = msgspec.structs.replace(scenarios.patterns.ramp, down_share=0.25)
    patterns = msgspec.structs.replace(scenarios.patterns, ramp=ramp)
    phases = plan_phases(
        "medium", "ramp", duration_s=40.0, scenarios=msgspec.structs.replace(
            scenarios, patterns=patterns), base_rate=100.0,
    )  # fmt: skip
    expected = [("ramp-up", 25.0, 300.0, 22.0), ("hold", 300.0, 300.0, 8.0),
                ("ramp-down", 300.0, 25.0, 10.0)]  # fmt: skip
    assert expected == [
        (
            p.name,
            pytest.approx(p.rate_start),
            pytest.approx(p.rate_end),
            pytest.approx(p.duration_s),
        )
        for p in phases
    ]


def test_default_ramp_has_no_ramp_down() -> None:
    """The shipped ramp keeps its two phases (schedules already measured stay the same)."""
    assert [p.name for p in plan_phases("medium", "ramp")] == ["ramp-up", "hold"]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"down_share": 1.0}, "down_share must be in"),
        ({"hold_share": 0.5, "down_share": 0.5}, "hold_share \\+ down_share must be < 1"),
    ],
)
def test_bad_ramp_down_is_refused(fields: dict[str, float], message: str) -> None:
    """A ramp-down that leaves no room for the ramp-up is refused, naming the key."""
    with pytest.raises(ConfigError, match=message):
        RampPattern(**fields)


def test_stress_rises_past_capacity_and_comes_back() -> None:
    """Stress: base at 1x, a linear rise to the peak, an overload hold, recovery at 1x."""
    scenarios = load_scenarios()
    peak = scenarios.patterns.stress.peak_factor
    phases = plan_phases("medium", "stress", base_rate=100.0, scenarios=scenarios)
    expected = [("base", 100.0, 100.0), ("rise", 100.0, 100.0 * peak),
                ("overload", 100.0 * peak, 100.0 * peak), ("recovery", 100.0, 100.0)]  # fmt: skip
    assert expected == [(p.name, p.rate_start, p.rate_end) for p in phases]


def test_stress_peak_must_exceed_the_base() -> None:
    """A stress pattern that never rises is refused."""
    with pytest.raises(ConfigError, match=r"patterns\.stress\.peak_factor must be > 1"):
        StressPattern(peak_factor=1.0)


def test_smoke_is_a_few_seconds_with_a_burst_and_a_step_down() -> None:
    """Smoke: warm, burst at 3x, cool; 3 s at any 30 s profile."""
    phases = plan_phases("smoke", "smoke")
    assert [(p.name, p.rate_start) for p in phases] == [
        ("warm", 400.0),
        ("burst", 1200.0),
        ("cool", 400.0),
    ]
    assert pytest.approx(phases[-1].end_s) == 3.0


def test_smoke_reaches_every_category_and_every_service() -> None:
    """The default smoke schedule (seed 1) has events of every category, and every service
    of the smoke profile matches some of them: every service path is exercised."""
    schedule = build_schedule(1, "smoke", "smoke")
    subjects = {schedule.subjects[int(i)] for i in np.unique(schedule.subject_idx)}
    categories = set(np.unique(schedule.category_idx).tolist())
    unmatched = [
        spec.name
        for spec in build_services("smoke")
        if not any(subject_matches(spec.subscription.pattern, s) for s in subjects)
    ]
    named = list(load_scenarios().services.named)
    assert (set(range(len(Category))), [], True) == (
        categories,
        unmatched,
        set(named) <= {s.name for s in build_services("smoke")},
    )
