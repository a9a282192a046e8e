"""What a planner needs beside the search: the CPU-demand bound, months of headroom, a target host.

Per architecture, from the steps its search measured: the service demand and the
utilisation-law bound (:func:`bench.analysis.demand.service_demand`, steps whose
accounting held and whose drain finished), whether a claimed capacity exceeds that
bound (suspect), the months until a growing peak meets the capacity interval and the
bound (:mod:`bench.analysis.projection`), and the bound scaled to another machine's
per-core speed (:mod:`bench.host.calibrate`). Everything past the bound itself is a
projection and is labelled so wherever it is shown.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from bench.analysis.demand import Demand, Sample, scaled, service_demand
from bench.analysis.projection import Growth, Headroom, headroom
from bench.experiments.capacity import SearchOutcome, StepResult
from bench.experiments.capacity_step import Sizing
from bench.host.calibrate import SpeedRatio

#: Cores the event loop of one router process can use (one; N after the scale-out work).
LOOP_CORES = 1
#: The demand's slope needs rates this far apart (highest / lowest complete step); a
#: search held at low rates (a starved host) gets probe steps above its highest rate.
DEMAND_SPREAD = 4.0
#: Seconds of load per probe step: CPU time per event needs no percentile bound.
PROBE_S = 2.0


class ArchPlan(msgspec.Struct, frozen=True):
    """The planning figures of one architecture; None where they could not be had."""

    arch: str
    demand: Demand | None
    demand_note: str
    suspect: bool
    headroom: Headroom | None
    #: The bound on the target host (a projection), with --target-host.
    target: Demand | None
    #: Steps measured for the demand alone (their SLO verdict judged nothing).
    probes: tuple[StepResult, ...] = ()


def _usable(steps: Sequence[StepResult]) -> list[StepResult]:
    return [s for s in steps if s.complete and s.events > 0 and s.cpu_s > 0 and s.busy_s > 0]


def samples(steps: Sequence[StepResult]) -> list[Sample]:
    """Each complete step's CPU time, events and busy seconds."""
    return [Sample(s.cpu_s, s.events, s.busy_s) for s in _usable(steps)]


def probe_rates(steps: Sequence[StepResult], max_rate: float) -> list[float]:
    """Rates to add for the demand when the steps span less than ``DEMAND_SPREAD``."""
    rates = [s.rate for s in _usable(steps)]
    if not rates or max(rates) / min(rates) >= DEMAND_SPREAD:
        return []
    top = max(rates)
    return [r for r in (2.0 * top, 4.0 * top) if r <= max_rate]


def demand_of(
    outcome: SearchOutcome, cores: int = LOOP_CORES, probes: Sequence[StepResult] = ()
) -> tuple[Demand | None, str]:
    """The service demand over the search's steps and any probes, or None and why not."""
    try:
        return service_demand(samples([*outcome.steps, *probes]), cores), ""
    except ValueError as exc:
        return None, str(exc)


def plan(
    sizing: Sizing,
    peak: float | None,
    growth: Growth | None,
    ratio: SpeedRatio | None,
    cores: int = LOOP_CORES,
    probes: Sequence[StepResult] = (),
) -> ArchPlan:
    """Demand, suspicion, headroom and the target-host bound of one architecture."""
    o = sizing.outcome
    demand, note = demand_of(o, cores, probes)
    room = None
    if peak is not None and growth is not None:
        # Without a claim the search's upper end is where it stopped (time, a stalled
        # generator), not a rate the router failed: only the low end bounds anything.
        high = o.router_high if o.capacity is not None else None
        room = headroom(o.capacity, o.low, high, demand.bound if demand else None, peak, growth)
    target = scaled(demand, ratio.ratio) if demand is not None and ratio is not None else None
    suspect = demand.suspect(o.capacity) if demand is not None else False
    return ArchPlan(sizing.arch, demand, note, suspect, room, target, tuple(probes))


def settle_peak(sizing: Sizing, arch_plan: ArchPlan) -> Sizing:
    """An undetermined peak becomes 'cannot meet' when even the bound's top is below it."""
    d = arch_plan.demand
    if (
        sizing.meets_peak is None
        and sizing.peak is not None
        and d is not None
        and d.bound_high is not None
        and d.bound_high < sizing.peak
    ):
        return msgspec.structs.replace(sizing, meets_peak=False)
    return sizing


def plans(
    sizings: Sequence[Sizing],
    peak: float | None,
    growth: Growth | None,
    ratio: SpeedRatio | None,
    probes: dict[str, list[StepResult]] | None = None,
) -> list[ArchPlan]:
    probes = probes or {}
    return [plan(s, peak, growth, ratio, probes=probes.get(s.arch, ())) for s in sizings]
