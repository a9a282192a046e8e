"""``bench capacity``'s console summary: each architecture's result and the migration answer.

Pure functions of the search's :class:`~bench.experiments.capacity_step.Sizing` records,
returning lines; the command prints them (bench/commands/capacity.py).
"""

from __future__ import annotations

import math

from bench.experiments.capacity_step import Sizing
from bench.host import machine_speed


def describe(s: Sizing) -> list[str]:
    """One architecture's capacity result in plain words: the claim or why there is none,
    knee, memory per 1,000 events/s and the peak verdict."""
    o = s.outcome
    lines = [f"{s.arch}:"]
    if o.capacity is not None:
        high = f"{o.high:,.0f}" if o.high is not None else "?"
        lines.append(
            f"  capacity {o.capacity:,.0f} events/s (interval {o.capacity:,.0f}-{high};"
            f" confirmed {o.confirmations_passed}/{o.confirmations_run})"
        )
    elif o.limited_by == "generator":
        shown = f"{o.low:,.0f}" if o.low is not None else "no"
        lines.append(
            f"  no capacity claimed: the generator fell behind (or the host starved the"
            f" process) first at {o.high:,.0f} events/s (the router sustained {shown} events/s)"
        )
    elif o.limited_by == "max_rate":
        lines.append(f"  capacity at least {o.low:,.0f} events/s: --max-rate reached")
    elif o.limited_by == "min_rate":
        lines.append("  no rate down to the minimum met the SLO")
    elif o.limited_by == "time":
        low = f"{o.low:,.0f}" if o.low is not None else "0"
        confirmed = f"confirmations at the low end {o.confirmations_passed}/{o.confirmations_run}"
        if o.router_high is not None:
            lines.append(
                f"  no claim: --max-time ran out; the capacity lies in {low} to"
                f" {o.router_high:,.0f} events/s ({confirmed})"
            )
        else:
            above = f"; at {o.high:,.0f} the generator or host spoiled most steps" if o.high else ""
            lines.append(
                f"  no claim: --max-time ran out; the capacity is at least {low} events/s, the"
                f" interval open above ({confirmed}{above})"
            )
    else:
        low = f"{o.low:,.0f} events/s" if o.low is not None else "none"
        high = f"{o.high:,.0f} events/s" if o.high is not None else "none"
        lines.append(f"  search ran out of steps: highest pass {low}, lowest non-pass {high}")
    if s.deliveries_per_s is not None:
        lines.append(f"  at that rate {s.deliveries_per_s:,.0f} deliveries/s completed")
    if s.knee_rate is not None and s.low_load_latency_ns is not None:
        lines.append(
            f"  knee {s.knee_rate:,.0f} events/s (latency above 2x its low-load"
            f" {s.low_load_latency_ns / 1e6:.1f} ms beyond it)"
        )
    elif s.low_load_latency_ns is not None:
        top = max(t.rate for t in o.steps if t.verdict in ("pass", "fail"))
        lines.append(
            f"  no knee up to {top:,.0f} events/s: latency stayed within 2x its low-load"
            f" {s.low_load_latency_ns / 1e6:.1f} ms"
        )
    if s.memory_per_1k_eps_bytes is not None:
        lines.append(
            f"  memory {s.memory_per_1k_eps_bytes / 2**20:.2f} MiB per 1,000 events/s"
            f" (RSS growth over set-up at {o.low:,.0f} events/s)"
        )
    if s.peak is not None:
        if s.headroom is not None and s.instances is not None:
            lines.append(
                f"  peak {s.peak:,.0f}: headroom {s.headroom:+.0%};"
                f" instances needed {s.instances} (projection)"
            )
        verdict = {True: "meets", False: "cannot meet", None: "undetermined at"}[s.meets_peak]
        lines.append(f"  SLO {verdict} the peak of {s.peak:,.0f} events/s")
    return lines


def speed_line(spread: machine_speed.Spread) -> str:
    """The machine's speed during the search in plain words, and what it means."""
    return (
        f"Machine speed during the search (hashing {machine_speed.SAMPLE_S:g} s after each of"
        f" {len(spread.samples)} steps): median {spread.median:,.0f} bytes/us, slowest"
        f" {spread.low_ratio:.2f}x and fastest {spread.high_ratio:.2f}x of it. The steps ran"
        f" on a machine this variable: expect a capacity measured here to move by about"
        f" ±{spread.deviation:.0%} from one search to the next."
    )


def migration_summary(
    sizings: list[Sizing], slo_text: str, host_deviation: float | None = None
) -> list[str]:
    """Plain words: which architecture carries more under the SLO, and what it means.

    ``host_deviation`` is the machine-speed spread during the search (0.4 is ±40%): a
    difference no larger than it is not established by one search on that host, even
    when the two intervals are apart (they bracket each search, not the host's drift).
    """
    claimed = [s for s in sizings if s.outcome.capacity is not None]
    lines = ["Migration summary:"]
    for s in sizings:
        if s.outcome.capacity is None:
            shown = s.outcome.low
            bound = (
                f": it met the SLO up to {shown:,.0f} events/s, a lower bound only"
                if shown is not None
                else ""
            )
            lines.append(f"  {s.arch} has no capacity claim ({s.outcome.limited_by} limit){bound}.")
    if len(claimed) >= 2:
        ranked = sorted(claimed, key=lambda s: s.outcome.capacity or 0.0, reverse=True)
        best, other = ranked[0], ranked[-1]
        cb, co = best.outcome.capacity or 0.0, other.outcome.capacity or 1.0
        # Each capacity lies in [highest pass, lowest failure]; overlapping intervals
        # mean the search cannot tell the two apart.
        overlap = cb <= (other.outcome.high or math.inf)
        tail = "; their intervals overlap, so no difference is established." if overlap else "."
        if not overlap and host_deviation is not None and cb / co - 1.0 <= host_deviation:
            overlap = True
            tail = (
                f"; their intervals are apart, but the machine's speed moved ±{host_deviation:.0%}"
                " during the search, more than that difference: no difference is established"
                " on this host."
            )
        lines.append(
            f"  Under {slo_text}, {best.arch} sustains {cb:,.0f} events/s against"
            f" {other.arch}'s {co:,.0f} ({cb / co:.2f}x){tail}"
        )
        if not overlap:
            lines.append(
                f"  Per instance, moving from {other.arch} to {best.arch} carries"
                f" {cb / co:.2f}x the load within the SLO."
                if best.arch != sizings[0].arch
                else f"  Per instance, {other.arch} would carry only {co / cb:.2f}x the load"
                f" {best.arch} carries within the SLO."
            )
        if best.instances is not None and other.instances is not None:
            lines.append(
                f"  At the stated peak that is {best.instances} instance(s) of {best.arch}"
                f" against {other.instances} of {other.arch} (a projection)."
            )
    elif len(claimed) == 1:
        lines.append(f"  Only {claimed[0].arch} has a claimed capacity; no comparison is made.")
    return lines
