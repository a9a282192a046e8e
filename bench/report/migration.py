"""The capacity summary's planning lines and the migration answer a team lead can paste.

Pure text from what the capacity command measured (sizings, CPU-demand plans, the
machine-speed spread, the short equal-utilisation measurement) and what the user stated
(peak, growth, target host). Every figure derived rather than measured is marked as a
projection in the sentence that gives it.

Recovery after a spike is read from the comparison's ``recovery`` metric when the bench
has one (:func:`recovery_metric`, the hook for the per-run recovery time); until then
the answer says it was not measured.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from bench.analysis.compare import METRICS, Metric, values_of
from bench.analysis.projection import Growth, Headroom
from bench.experiments.at_capacity import Level
from bench.experiments.capacity_step import Sizing
from bench.experiments.planning import ArchPlan
from bench.host.calibrate import SpeedRatio
from bench.host.machine_speed import Spread
from bench.schema import RunResult

#: The metric holding a run's recovery time after a higher-rate phase, when it exists.
RECOVERY = "recovery"


def recovery_metric() -> Metric | None:
    """The comparison's recovery-time metric, or None in a bench that does not measure it."""
    return next((m for m in METRICS if m.name == RECOVERY), None)


def _cores(n: int) -> str:
    return "one core carries" if n == 1 else f"{n} cores carry"


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:,.1f} µs"


def _rate(x: float | None) -> str:
    return "unbounded" if x is None or not math.isfinite(x) else f"{x:,.0f}"


def plan_lines(
    s: Sizing,
    p: ArchPlan,
    spread: Spread | None,
    peak: float | None,
    growth: Growth | None,
    ratio: SpeedRatio | None,
) -> list[str]:
    """The lines that follow an architecture's search result in the capacity summary."""
    lines: list[str] = []
    d = p.demand
    o = s.outcome
    if d is None:
        lines.append(f"  CPU demand: not measured ({p.demand_note})")
    else:
        fixed = f", fixed load {d.background:.0%} of a core" if d.background > 0 else ""
        if p.probes:
            rates = ", ".join(f"{s.rate:,.0f}" for s in p.probes)
            fixed += f"; with probe steps at {rates} events/s, as the search's rates spanned little"
        lines.append(
            f"  CPU demand {_us(d.per_event_s)} per event (95% CI {_us(d.low_s)} to"
            f" {_us(d.high_s)}; {d.method}){fixed}: {_cores(d.cores)} at most"
            f" {_rate(d.bound)} events/s (interval {_rate(d.bound_low)} to"
            f" {_rate(d.bound_high)}), the utilisation-law bound"
        )
        if p.suspect and o.capacity is not None:
            lines.append(
                f"  SUSPECT: the claimed {o.capacity:,.0f} events/s exceeds what its CPU time"
                f" allows (at most {_rate(d.bound_high)} events/s): measure it again"
            )
        elif o.capacity is not None:
            lines.append(
                f"  at the claimed capacity that demand keeps"
                f" {(o.capacity * d.per_event_s + d.background) / d.cores:.0%} of the loop's"
                " CPU busy: below the bound, as it must be"
            )
    if o.capacity is None and o.limited_by in ("steps", "time", "generator"):
        moved = (
            f"; the machine's speed moved between {spread.low_ratio:.2f}x and"
            f" {spread.high_ratio:.2f}x of its median during it"
            if spread is not None
            else ""
        )
        bound = (
            f"; the CPU-demand bound of {_rate(d.bound)} events/s still holds (CPU time per"
            " event moves far less than wall-clock rates on a busy host)"
            if d is not None
            else ""
        )
        lines.append(f"  undetermined: no claim ({o.limited_by} limit){moved}{bound}")
    if p.headroom is not None and peak is not None and growth is not None:
        lines.append(
            f"  growth {growth.text} from a peak of {peak:,.0f} events/s: {months_text(p.headroom)}"
            " (projection)"
        )
    if p.target is not None and ratio is not None:
        kernels = ", ".join(f"{k} {v:.2f}x" for k, v in ratio.per_kernel.items())
        lines.append(
            f"  on the target host (a core {ratio.ratio:.2f}x as fast: {kernels}): CPU-demand"
            f" bound {_rate(p.target.bound)} events/s (interval {_rate(p.target.bound_low)} to"
            f" {_rate(p.target.bound_high)}) (projection)"
        )
    return lines


def _months(m: float) -> str:
    return f"{m:.1f} months" if m >= 0 else "none (the peak is already above it)"


def months_text(h: Headroom) -> str:
    """Months of headroom at the claim, over the interval and by the bound, in words."""
    parts = []
    if h.months is not None:
        parts.append(f"{_months(h.months)} at the claimed capacity")
    if h.low is not None and h.high is not None:
        if h.high < 0:
            parts.append("none anywhere in its interval")
        else:
            parts.append(f"{max(h.low, 0.0):.1f} to {h.high:.1f} months over its interval")
    elif h.low is not None:
        shown = f"at least {h.low:.1f} months" if h.low >= 0 else "none shown"
        parts.append(f"{shown} by the highest rate that met the SLO (a lower bound)")
    if h.bound is not None:
        cap = f"at most {h.bound:.1f} months" if h.bound >= 0 else "none even"
        parts.append(f"{cap} by the CPU-demand bound")
    return "; ".join(parts) if parts else "not determined"


def _mean(metric_name: str, runs: Sequence[RunResult]) -> float | None:
    metric = next((m for m in METRICS if m.name == metric_name), None)
    if metric is None:
        return None
    values = values_of(metric, runs)
    return float(np.mean(values)) if values else None


def _latency(level: Level | None, s: Sizing) -> str:
    if level is None:
        return "latency at equal utilisation was not measured"
    runs = [r.result for r in level.comparison.runs if r.arch == s.arch]
    p50, p99 = _mean("response_p50", runs), _mean("response_p99", runs)
    if p50 is None or p99 is None:
        return f"latency at {level.level:.0%} of capacity: no usable runs"
    of = "its own capacity"
    if s.outcome.capacity is None and s.outcome.low is not None:
        of = f"{s.outcome.low:,.0f} events/s (the highest rate that met the SLO; no claim)"
    return (
        f"at {level.level:.0%} of {of} on the {level.comparison.settings.pattern}"
        f" pattern its response p50 is {p50:.2f} ms and p99 {p99:.1f} ms ({len(runs)} runs)"
    )


def _recovery(level: Level | None, arch: str) -> str:
    metric = recovery_metric()
    if metric is None:
        return "recovery after a spike is not measured by this version of the bench"
    if level is None:
        return "recovery after a spike was not measured (no equal-utilisation runs)"
    values = values_of(metric, [r.result for r in level.comparison.runs if r.arch == arch])
    if not values:
        return "recovery after a spike could not be measured (runs too short or no spike)"
    return f"it recovers from a spike in {float(np.mean(values)):.2f} s on average"


def _room(s: Sizing, p: ArchPlan | None, peak: float, growth: Growth | None) -> str:
    """Headroom at the stated peak: measured against a claim, bounded without one."""
    h = p.headroom if p is not None else None
    if s.headroom is not None:
        room = f"{s.headroom:+.0%} headroom at the stated peak of {peak:,.0f} events/s"
        if h is not None and h.months is not None and growth is not None:
            room += f", {_months(h.months)} of headroom at {growth.text} growth (projection)"
        return room
    verdict = {True: "carries", False: "cannot carry", None: "may or may not carry"}
    room = f"it {verdict[s.meets_peak]} the stated peak of {peak:,.0f} events/s"
    if s.outcome.low is not None:
        room += f" (it met the SLO up to {s.outcome.low:,.0f} events/s, a lower bound)"
    d = p.demand if p is not None else None
    if d is not None:
        room += f"; its CPU-demand bound caps it at {_rate(d.bound)} events/s"
        if h is not None and h.bound is not None and growth is not None:
            room += f", at most {max(h.bound, 0.0):.1f} months at {growth.text} growth (projection)"
    return room


def paragraph(
    sizings: Sequence[Sizing],
    plans: Sequence[ArchPlan],
    slo_text: str,
    level: Level | None,
    peak: float | None,
    growth: Growth | None,
    ratio: SpeedRatio | None,
    host_deviation: float | None = None,
) -> str:
    """The migration answer: one paragraph, projections named as such.

    Two claims are called different only when their intervals are apart *and* the ratio
    exceeds ``host_deviation``, the machine-speed spread measured during the search.
    """
    by_plan = {p.arch: p for p in plans}
    claimed = [s for s in sizings if s.outcome.capacity is not None]
    sentences: list[str] = []
    if len(claimed) >= 2:
        ranked = sorted(claimed, key=lambda s: s.outcome.capacity or 0.0, reverse=True)
        best, other = ranked[0], ranked[-1]
        cb, co = best.outcome.capacity or 0.0, other.outcome.capacity or 1.0
        drift = host_deviation is not None and cb / co - 1.0 <= host_deviation
        if cb <= (other.outcome.high or math.inf) or drift:
            why = (
                "overlapping intervals"
                if cb <= (other.outcome.high or math.inf)
                else f"intervals apart by less than the ±{host_deviation or 0:.0%} the"
                " machine's speed moved during the search"
            )
            sentences.append(
                f"Under {slo_text}, no difference in capacity is established: {best.arch}"
                f" sustained {cb:,.0f} events/s and {other.arch} {co:,.0f}, with {why}."
            )
            focus = list(sizings)
        else:
            sentences.append(
                f"Under {slo_text}, {best.arch} carries more: {cb:,.0f} events/s against"
                f" {other.arch}'s {co:,.0f} ({cb / co:.2f}x), intervals apart."
            )
            focus = [best]
    else:
        lows = ", ".join(
            f"{s.arch} at least {s.outcome.low:,.0f}" if s.outcome.low is not None
            else f"{s.arch} nothing"
            for s in sizings
        )  # fmt: skip
        sentences.append(
            f"Under {slo_text}, the search could not claim a capacity for every architecture"
            f" ({lows} events/s met the SLO), so no difference is established."
        )
        focus = list(sizings)
    for s in focus:
        p = by_plan.get(s.arch)
        parts = [_latency(level, s), _recovery(level, s.arch)]
        if s.memory_per_1k_eps_bytes is not None:
            parts.append(f"it holds {s.memory_per_1k_eps_bytes / 2**20:.2f} MiB per 1,000 events/s")
        if peak is not None:
            parts.append(_room(s, p, peak, growth))
        if p is not None and p.target is not None:
            parts.append(
                f"on the target host its CPU-demand bound would be {_rate(p.target.bound)}"
                " events/s (projection)"
            )
        sentences.append(f"For {s.arch}: " + "; ".join(parts) + ".")
    projected = ["instances and headroom"]
    if growth is not None:
        projected.append("months of headroom")
    if ratio is not None:
        projected.append("the target-host bound")
    sentences.append(
        "Measured here: the capacity search, CPU demand, latency at equal utilisation and"
        f" memory; projections: "
        f"{', '.join(projected)}."
    )
    return " ".join(sentences)
