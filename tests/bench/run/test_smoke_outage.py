"""The smoke scenario with an outage, measured for real on both architectures (in this process).

Counts only, no durations: every category and every simulated service completes
deliveries, the service taken down trips its breaker and dead-letters what ran out of
attempts, and the run records its new figures (p95, payload MB/s, idle RSS, timeline,
recovery episodes).
"""

from __future__ import annotations

import functools

import pytest

from bench.run import worker
from bench.schema import Outage, RunResult, RunSpec
from events import Category

OUTAGE = Outage(service="datastore", start_s=0.3, duration_s=0.6)


@functools.cache
def smoke_run(arch: str) -> RunResult:
    spec = RunSpec(arch=arch, profile="smoke", pattern="smoke", seed=1, duration_s=1.5,
                   outages=(OUTAGE,))  # fmt: skip
    return worker.run(spec)


@pytest.mark.parametrize("arch", ["coordinator", "daemon"])
def test_smoke_reaches_every_category_and_service(arch: str) -> None:
    """Every category has completed deliveries and every service delivered some, with the
    accounting intact."""
    result = smoke_run(arch)
    categories = {
        h.scope.split(":", 1)[1]
        for h in result.histograms
        if h.metric == "response" and h.scope.startswith("category:") and h.summary.count
    }
    idle = [s.service for s in result.services if s.delivered == 0]
    broken = [g.name for g in result.gates if g.scope == "all" and not g.passed]
    assert ({str(c) for c in Category}, [], [], 8) == (
        categories,
        idle,
        broken,
        len(result.services),
    )


@pytest.mark.parametrize("arch", ["coordinator", "daemon"])
def test_an_outage_trips_the_breaker_and_dead_letters_by_reason(arch: str) -> None:
    """The downed datastore trips its breaker at least once, is seen not closed for a while,
    and deliveries that ran out of attempts are dead-lettered as failed."""
    result = smoke_run(arch)
    datastore = next(s for s in result.services if s.service == "datastore")
    assert (
        datastore.breaker_trips >= 1,
        datastore.breaker_open_s > 0,
        result.accounting.dead_lettered.get("failed", 0) >= 1,
    ) == (True, True, True)


@pytest.mark.parametrize("arch", ["coordinator", "daemon"])
def test_the_run_records_the_new_figures(arch: str) -> None:
    """p95 lies between p90 and p99, payload flows per run and per phase, idle RSS is
    recorded, the timeline covers the run in 250 ms windows, and both recoveries (after
    the burst and after the outage) are measured or said to be too short."""
    result = smoke_run(arch)
    s = result.summary("response")
    recoveries = sorted((r.kind, r.name) for r in result.recoveries)
    assert (
        s.p90 <= s.p95 <= s.p99,
        result.payload_mbps > 0,
        all(p.completed_mbps > 0 for p in result.phases),
        result.resources.rss_idle_bytes > 0,
        len(result.timeline.completed),
        recoveries,
    ) == (
        True,
        True,
        True,
        True,
        6,
        [("outage", "after outage datastore:0.3:0.6"), ("phase", "cool")],
    )
