"""Pattern phases: named, contiguous, scaled, with the asked rates."""

from __future__ import annotations

import pytest

from workload import PATTERNS, load_scenarios, plan_phases


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
