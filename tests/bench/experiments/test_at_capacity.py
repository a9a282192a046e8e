"""Equal utilisation, known answer: routers capped at 2,000 and 4,000 events/s.

Both searches and the level's runs go through the real worker, in this process (a
fresh interpreter per step would cost most of the test's time).
"""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from bench.analysis.compare import METRICS
from bench.analysis.slo import parse_latencies
from bench.experiments import adaptive, at_capacity, planning
from bench.experiments.capacity import SearchSettings
from bench.experiments.capacity_step import Criteria
from bench.host.environment import capture
from bench.report import document
from bench.run import worker
from bench.run.runner import Progress
from bench.schema import RunResult, RunSpec
from events.errors import ConfigError

SLOW = "tests.bench.capacity_routers:token_bucket_2000"
FAST = "tests.bench.capacity_routers:token_bucket_4000"


def in_process(spec: RunSpec, timeout_s: float) -> RunResult:
    return worker.run(spec)


@pytest.mark.timeout(120)
def test_capacity_ratio_of_a_4000_and_a_2000_router_is_two(tmp_path: Path) -> None:
    """A quick search of each (interleaved, time-bounded) gives a capacity ratio of 2.0
    within 15%; neither claim is suspect against its CPU-demand bound (a token bucket
    burns little CPU); at 50% of each capacity both routers are offered half their own
    rate and their latency is compared; the record renders in the report."""
    base = RunSpec(arch=SLOW, profile="medium", pattern="soak", seed=3, services="noop",
                   drain_timeout_s=2.0)  # fmt: skip
    # The generator's 5 ms dispatch-lag gate trips on a busy shared machine at any rate;
    # the latency judged counts from intended times whatever the generator did.
    criteria = Criteria(
        parse_latencies("p99<=200ms"), error_limit=0.001, step_s=1.0, require_generator=False
    )
    settings = SearchSettings(start_rate=1500.0, precision=0.10, confirmations=1, max_steps=40)
    found = at_capacity.quick_search(
        [SLOW, FAST], base, criteria, max_time_s=90.0, settings=settings, launch=in_process
    )
    caps = [at_capacity.from_outcome(a, found[a], "test search") for a in (SLOW, FAST)]
    ratio = at_capacity.capacity_ratio(caps[0], caps[1], noise=0.05)
    trace = {a: [(round(s.rate), s.verdict) for s in found[a].steps] for a in found}
    assert True is (abs(ratio.ratio - 2.0) <= 0.3), (ratio, trace)
    for arch in (SLOW, FAST):
        demand, why = planning.demand_of(found[arch])
        assert demand is not None, why
        assert demand.suspect(found[arch].capacity) is False, demand

    names = {SLOW: SLOW, FAST: FAST}
    level = at_capacity.measure_level(
        0.5, [SLOW, FAST], names, {c.arch: c for c in caps},
        RunSpec(arch=SLOW, profile="medium", pattern="spike", seed=3, services="noop",
                duration_s=1.0),
        adaptive.AdaptiveSettings(runs=2, max_runs=2, max_time_s=None, noise=0.05, seed=1,
                                  warmup_s=0.0),
        Progress(), lambda h: capture("uvloop", 1, h, ["pytest"]), launch=in_process,
    )  # fmt: skip
    assert level.mean_rate == pytest.approx({SLOW: 0.5 * caps[0].rate, FAST: 0.5 * caps[1].rate})
    offered = {
        r.arch: sum(p.offered_eps * p.duration_s for p in r.result.phases) / r.result.window_s
        for r in level.comparison.runs
    }
    assert offered[FAST] / offered[SLOW] == pytest.approx(ratio.ratio, rel=0.1)
    judged = {r.metric for r in level.comparison.ratios}
    assert judged == {m.name for m in at_capacity.LEVEL_METRICS}
    assert "throughput" not in judged and judged <= {m.name for m in METRICS}

    # The record round-trips through `bench report`, which draws latency against utilisation.
    result = at_capacity.AtCapacityResult(
        schema=at_capacity.AT_CAPACITY_SCHEMA, environment=capture("uvloop", 1, "", ["pytest"]),
        profile="medium", pattern="spike", capacities=tuple(caps), ratios=(ratio,),
        levels=(level,), elapsed_s=1.0, search=(found[SLOW], found[FAST]),
    )  # fmt: skip
    path = tmp_path / "at.json"
    path.write_bytes(msgspec.json.encode(result))
    inputs = document.load_inputs([path])
    html = document.render_html(inputs, "t", "pytest")
    markdown = document.render_markdown(inputs, "t")
    assert "Latency against utilisation" in html
    assert f"| {FAST}/{SLOW} | {ratio.ratio:.3f} |" in markdown


def test_capacity_ratio_interval_comes_from_both_intervals() -> None:
    """[L_b / H_a, H_b / L_a]; separated intervals say better, overlapping ones do not."""
    a = at_capacity.Capacity("a", 1000.0, 1000.0, 1100.0, True, "router", "t")
    b = at_capacity.Capacity("b", 2000.0, 2000.0, 2200.0, True, "router", "t")
    r = at_capacity.capacity_ratio(a, b, 0.05)
    assert (r.ratio, r.low, r.high, r.verdict) == (2.0, pytest.approx(2000 / 1100), 2.2, "better")
    c = at_capacity.Capacity("c", 1050.0, 1050.0, None, False, "time", "t")
    assert at_capacity.capacity_ratio(a, c, 0.05).verdict == "inconclusive"
    # Apart, but by less than the machine's speed moved during the searches: not shown.
    drifting = at_capacity.capacity_ratio(a, b, 0.05, host_deviation=1.2)
    assert (drifting.verdict, "±120%" in drifting.explanation) == ("inconclusive", True)


@pytest.mark.parametrize("text", ["", "0", "0.5,0.5", "x", "2"])
def test_bad_levels_are_refused(text: str) -> None:
    """Levels must be distinct fractions in (0, 1.5]."""
    with pytest.raises(ConfigError):
        at_capacity.parse_levels(text)
