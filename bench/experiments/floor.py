"""The harness floor: what the generator and recorder sustain against ``null``.

Each run is a ``null`` run with one no-op subscriber on ``>`` (one delivery per
event, completed inside ``publish``), so what it costs is what the harness
costs. :func:`floor_run` keeps from a :class:`~bench.schema.RunResult` what the
floor is judged on; :func:`verdict` says whether the dispatch-lag objective
holds. Both are pure.

The machine's steal time is kept beside each run: on a virtual machine the
hypervisor can take the CPU for milliseconds, which the guest sees as a stall
of whatever ran, and the generator then starts late however cheap it is.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

import msgspec

from bench.schema import Environment, RunResult

#: The version of the record ``bench floor --json`` writes.
FLOOR_SCHEMA = "switchyard.floor/1"
#: The objective of issue 5: dispatch lag p99 under 1 ms at 200,000 events/s.
OBJECTIVE_P99_NS = 1_000_000
RATE_EPS = 200_000.0


class FloorRun(msgspec.Struct, frozen=True):
    """One floor run: what was offered and completed, the generator's lag and load."""

    offered_eps: float
    completed_dps: float
    lag_p99_ns: int
    lag_p999_ns: int
    lag_max_ns: int
    publish_us_per_event: float
    busy_share: float
    cpu_us_per_event: float
    steal_s: float
    delivered_all: bool


class FloorVerdict(msgspec.Struct, frozen=True):
    """``met`` when the median run's p99 is under the objective; ``runs_met`` counts runs."""

    runs: int
    runs_met: int
    median_p99_ns: float
    objective_ns: int
    met: bool


class FloorReport(msgspec.Struct, frozen=True):
    """What ``bench floor --json`` writes: the runs, the verdict and where they ran."""

    schema: str
    environment: Environment
    rate_eps: float
    duration_s: float
    runs: tuple[FloorRun, ...]
    verdict: FloorVerdict


def floor_run(result: RunResult) -> FloorRun:
    """The floor's view of one ``null`` run."""
    lag = result.summary("dispatch_lag")
    res = result.resources
    acc = result.accounting
    events = max(1, result.events)
    window = max(result.window_s, 1e-9)
    return FloorRun(
        offered_eps=result.events / window,
        completed_dps=result.throughput_dps,
        lag_p99_ns=lag.p99,
        lag_p999_ns=lag.p999,
        lag_max_ns=lag.max,
        publish_us_per_event=res.publish_s * 1e6 / events,
        busy_share=res.publish_s / window,
        cpu_us_per_event=res.cpu_us_per_event,
        steal_s=res.steal_s,
        delivered_all=acc.delivered == acc.deliveries == result.events and not acc.unaccounted,
    )


def verdict(runs: Sequence[FloorRun], objective_ns: int = OBJECTIVE_P99_NS) -> FloorVerdict:
    """Judge the objective on the median run; a run that lost a delivery never meets it."""
    if not runs:
        raise ValueError("no floor runs to judge")
    met = [r.delivered_all and r.lag_p99_ns < objective_ns for r in runs]
    median = float(statistics.median(r.lag_p99_ns for r in runs))
    return FloorVerdict(
        runs=len(runs),
        runs_met=sum(met),
        median_p99_ns=median,
        objective_ns=objective_ns,
        met=median < objective_ns and all(r.delivered_all for r in runs),
    )
