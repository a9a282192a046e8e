"""Capacity over a trace: the search over --scale finds a known router's limit as a multiple."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.analysis.slo import parse_latencies
from bench.experiments import trace_capacity
from bench.experiments.capacity import SearchOutcome, StepResult
from bench.experiments.capacity_step import Criteria
from bench.run import source, worker
from bench.schema import RunResult, RunSpec
from events.errors import ConfigError
from tests.bench.tracebench import steady_trace
from workload.traces import Transform, read_trace

ARCH = "tests.bench.capacity_routers:token_bucket_500"
#: p99 needs 299 samples for its 95% upper bound; 1.5 x that is 448.5 events.
CRITERIA = Criteria(parse_latencies("p99<=200ms"), error_limit=0.001, require_generator=False)


def in_process(spec: RunSpec, timeout_s: float) -> RunResult:
    """The worker's own measurement, run here: it spares an interpreter start per step."""
    return worker.run(spec)


def test_the_scale_searched_starts_where_percentiles_can_be_bounded() -> None:
    """Too few events at scale 1 to bound p99: the search starts at the smallest scale that
    has enough, and stops at --max-rate in events/s."""
    today = trace_capacity.Today(events=300, seconds=1.0, phases=10)
    settings = trace_capacity.settings_for(
        today, CRITERIA, start=1.0, max_rate_eps=3000.0, precision=0.1, confirmations=1,
        max_steps=10,
    )  # fmt: skip
    assert (settings.start_rate, settings.min_rate, settings.max_rate) == (1.495, 1.495, 10.0)


def test_a_replay_with_fewer_than_three_phases_is_refused() -> None:
    """Backlog growth needs three phases; a trace with two phase marks cannot be judged."""
    today = trace_capacity.Today(events=3000, seconds=10.0, phases=2)
    with pytest.raises(ConfigError, match="over at least 3 phases; the replay has 2"):
        trace_capacity.settings_for(
            today, CRITERIA, start=1.0, max_rate_eps=1e5, precision=0.1, confirmations=1,
            max_steps=10,
        )  # fmt: skip


def test_answers_are_multiples_of_today_and_events_per_second() -> None:
    """A claimed capacity reads as a multiple of today's traffic and its events/s."""
    today = trace_capacity.Today(events=600, seconds=2.0, phases=10)
    step = StepResult(1.5, "pass", latency_ns=(5e6,), throughput_dps=900.0)
    outcome = SearchOutcome(1.5, 1.5, 1.6, "router", 1, 1, (step,))
    sized = trace_capacity.sizing("daemon", outcome, today, peak_eps=600.0)
    assert (sized.capacity_eps, sized.sizing.peak, sized.sizing.meets_peak) == (450.0, 2.0, False)
    lines = trace_capacity.describe(sized, today)
    assert lines[1] == (
        "  carries 1.50x today's traffic under the SLO (interval 1.50x-1.60x; confirmed 1/1):"
        " 450 events/s"
    )
    assert lines[-1] == "  SLO cannot meet the peak of 600 events/s (2.00x)"


@pytest.mark.timeout(180)
def test_token_bucket_capacity_is_found_as_a_scale(tmp_path: Path) -> None:
    """A router capped at 500 events/s, replaying a 300 events/s trace: the search over
    --scale claims about 1.67x today's traffic (within 15%: a short trace overloaded by a
    little needs a while to show it)."""
    path = steady_trace(tmp_path / "t.jsonl", events=480, rate=300.0)
    trace = read_trace(path)
    replay = source.replay_of(trace, path, Transform(seed=3), windows=10)
    base = RunSpec(arch=ARCH, profile="medium", pattern="trace:steady", seed=3, trace=replay,
                   services="noop", drain_timeout_s=2.0)  # fmt: skip
    today = trace_capacity.Today(len(trace), source.replay_seconds(replay, trace.duration_ns), 10)
    settings = trace_capacity.settings_for(
        today, CRITERIA, start=1.0, max_rate_eps=10_000.0, precision=0.1, confirmations=1,
        max_steps=12,
    )  # fmt: skip
    outcome = trace_capacity.search_scales(
        [ARCH], base, today, settings, CRITERIA, launch=in_process
    )[ARCH]
    steps = [(round(s.rate, 3), s.verdict, s.reasons[:1]) for s in outcome.steps]
    assert outcome.limited_by == "router", steps
    assert outcome.capacity is not None
    truth = 500.0 / today.eps
    assert True is (abs(outcome.capacity - truth) / truth <= 0.15), steps
    sized = trace_capacity.sizing(ARCH, outcome, today, None)
    assert sized.capacity_eps == pytest.approx(outcome.capacity * today.eps)


def test_an_unfinished_search_says_so_in_both_units() -> None:
    """Out of steps: the bracket in multiples and events/s, and what would settle it."""
    today = trace_capacity.Today(events=600, seconds=2.0, phases=10)
    outcome = SearchOutcome(None, 2.0, None, "steps", 0, 0, ())
    lines = trace_capacity.describe(trace_capacity.sizing("a", outcome, today, None), today)
    assert lines[1] == (
        "  search ran out of steps: highest pass 2.00x (600 events/s), lowest non-pass none"
        " (more --max-steps would settle it)"
    )
