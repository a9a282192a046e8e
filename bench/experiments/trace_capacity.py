"""Capacity over a trace: how many times today's traffic each architecture carries under the SLO.

The search of :mod:`bench.experiments.capacity` with its rate read as a scale
factor: each step replays the whole trace (after ``--window`` and ``--speed``)
at ``--scale K`` (seeded thinning below 1, time-shifted copies above: the mix
and the shape are kept, docs/traces.md) and is judged as every capacity step is
(:func:`bench.experiments.capacity_step.judge`: percentile upper bounds,
failure rates, backlog growth over the replay's phases, generator gates). The
answer is a multiple of today's traffic and its equivalent in events/s, the
replay's mean rate at scale 1 times the multiple.

A step needs enough events to bound every latency percentile, so the smallest
scale searched is the one whose replay holds 1.5 times that many (as the
pattern search lengthens its steps instead; a trace's length is its own). The
backlog judgement needs at least three phases: the trace's phase marks or its
``--windows`` equal slices.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import msgspec

from bench.analysis.stats import min_samples_for_upper_bound
from bench.experiments.capacity import CapacitySearch, SearchOutcome, SearchSettings, StepResult
from bench.experiments.capacity_step import STEP_SLACK_S, Criteria, Sizing, judge, size
from bench.run.runner import Launcher, run_in_subprocess
from bench.schema import Environment, RunSpec, TraceReplay
from events.errors import ConfigError

#: The largest scale searched when --max-rate does not say otherwise.
MAX_SCALE = 1000.0
#: Margin over the fewest samples that bound a percentile (as Criteria.seconds uses).
SAMPLE_MARGIN = 1.5


class Today(msgspec.Struct, frozen=True):
    """The replay at scale 1: what "today's traffic" means in the answers."""

    events: int
    seconds: float
    phases: int

    @property
    def eps(self) -> float:
        """Mean events/s of the replay at scale 1."""
        return self.events / self.seconds


class TraceSizing(msgspec.Struct, frozen=True):
    """One architecture's answer: ``sizing`` counts in scale factors (multiples of today)."""

    arch: str
    sizing: Sizing
    #: The capacity (highest confirmed passing scale) in events/s; None without a claim.
    capacity_eps: float | None


class TraceCapacityReport(msgspec.Struct, frozen=True):
    """What ``capacity --trace --json`` writes; rates in ``settings`` and ``sizings`` are
    scale factors (multiples of today's traffic)."""

    schema: str
    environment: Environment
    profile: str
    trace: TraceReplay
    today: Today
    slo: tuple[str, ...]
    error_limit: float
    settings: SearchSettings
    sizings: tuple[TraceSizing, ...]
    elapsed_s: float


def min_scale(today: Today, criteria: Criteria) -> float:
    """The smallest scale whose replay holds enough events to bound every percentile."""
    needed = max(min_samples_for_upper_bound(o.q, criteria.confidence) for o in criteria.latency)
    return SAMPLE_MARGIN * needed / today.events


def settings_for(
    today: Today,
    criteria: Criteria,
    *,
    start: float,
    max_rate_eps: float,
    precision: float,
    confirmations: int,
    max_steps: int,
) -> SearchSettings:
    """The search in scale factors: from ``start`` (raised to the smallest measurable scale)
    up to ``max_rate_eps`` events/s."""
    if today.phases < 3:
        raise ConfigError(
            f"capacity --trace judges backlog growth over at least 3 phases; the replay has"
            f" {today.phases} (the trace's phase marks): replay a wider --window"
        )
    lowest = min_scale(today, criteria)
    top = min(MAX_SCALE, max_rate_eps / today.eps)
    start = max(start, lowest)
    if start > top:
        raise ConfigError(
            f"the replay holds {today.events} events: bounding the SLO's percentiles needs"
            f" scale >= {lowest:.3g}, above --max-rate ({top:.3g}x today's traffic)"
        )
    return SearchSettings(
        start_rate=start, precision=precision, max_rate=top, min_rate=min(lowest, start),
        confirmations=confirmations, max_steps=max_steps,
    )  # fmt: skip


StepCallback = Callable[[str, StepResult, int, float], None]


def search_scales(
    archs: Sequence[str],
    base: RunSpec,
    today: Today,
    settings: SearchSettings,
    criteria: Criteria,
    launch: Launcher = run_in_subprocess,
    on_step: StepCallback | None = None,
) -> dict[str, SearchOutcome]:
    """One search over ``--scale`` per architecture, their steps interleaved (AB, BA, ...)
    so that background load falls on all alike; ``base.trace`` is the replay at scale 1."""
    if base.trace is None:
        raise ConfigError("search_scales needs a RunSpec replaying a trace")
    replay = base.trace
    machines = {arch: CapacitySearch(settings) for arch in archs}
    # A generator far behind may take up to twice the replay; then the drain, then slack.
    timeout_s = 2 * today.seconds + base.drain_timeout_s + STEP_SLACK_S
    rounds = 0
    while any(m.next_rate() is not None for m in machines.values()):
        order = list(archs) if rounds % 2 == 0 else list(archs)[::-1]
        rounds += 1
        for arch in order:
            machine = machines[arch]
            scale = machine.next_rate()
            if scale is None:
                continue
            spec = msgspec.structs.replace(
                base, arch=arch, duration_s=None, base_rate=None,
                trace=msgspec.structs.replace(replay, scale=scale),
            )  # fmt: skip
            began = time.monotonic()
            result = launch(spec, timeout_s)
            step = judge(
                result, scale, criteria.latency, criteria.error_limit, criteria.confidence,
                criteria.backlog_tolerance, criteria.require_generator,
            )  # fmt: skip
            machine.record(step)
            if on_step is not None:
                on_step(arch, step, len(machine.steps), time.monotonic() - began)
    return {arch: m.outcome() for arch, m in machines.items()}


def sizing(arch: str, outcome: SearchOutcome, today: Today, peak_eps: float | None) -> TraceSizing:
    """:func:`size` in scale factors; memory per 1,000 events/s and the peak in events/s."""
    peak = None if peak_eps is None else peak_eps / today.eps
    s = size(arch, outcome, peak)
    if s.memory_per_1k_eps_bytes is not None:
        # size() divides by the rate it saw, here a scale: turn it into events/s.
        s = msgspec.structs.replace(
            s, memory_per_1k_eps_bytes=s.memory_per_1k_eps_bytes / today.eps
        )
    cap = outcome.capacity
    return TraceSizing(arch, s, None if cap is None else cap * today.eps)


def _x(scale: float | None) -> str:
    return "none" if scale is None else f"{scale:.2f}x"


def _both(scale: float | None, today: Today) -> str:
    """A scale with its events/s: ``2.00x (958 events/s)``."""
    return _x(scale) if scale is None else f"{scale:.2f}x ({scale * today.eps:,.0f} events/s)"


def step_line(arch: str, step: StepResult, n: int, took: float, today: Today) -> str:
    """One progress line of a step, in scale and events/s."""
    upper = step.latency_upper_ns[0] / 1e6 if step.latency_upper_ns else math.nan
    why = f" ({step.reasons[0]})" if step.reasons and step.verdict != "pass" else ""
    return (
        f"[capacity] {arch} step {n}: scale {step.rate:.3g}x ({step.rate * today.eps:,.0f} ev/s)"
        f" -> {step.verdict}{why}; latency bound {upper:.1f} ms, rejected"
        f" {step.reject_rate:.3%} of events, failed {step.failure_rate:.3%} of deliveries,"
        f" {took:.1f} s"
    )


def describe(t: TraceSizing, today: Today) -> list[str]:
    """Plain lines for one architecture: its multiple of today's traffic and what it means."""
    s, o = t.sizing, t.sizing.outcome
    lines = [f"{t.arch}:"]
    if o.capacity is not None:
        lines.append(
            f"  carries {_x(o.capacity)} today's traffic under the SLO (interval"
            f" {_x(o.capacity)}-{_x(o.high)}; confirmed {o.confirmations_passed}/"
            f"{o.confirmations_run}): {o.capacity * today.eps:,.0f} events/s"
        )
    elif o.limited_by == "generator":
        lines.append(
            f"  no capacity claimed: the generator fell behind first at {_both(o.high, today)}"
            f" (the router sustained {_both(o.low, today)})"
        )
    elif o.limited_by == "max_rate":
        lines.append(f"  at least {_both(o.low, today)} today's traffic: --max-rate reached")
    elif o.limited_by == "min_rate":
        lines.append(f"  not even {_both(o.high, today)} met the SLO (the lowest scale measurable)")
    else:
        lines.append(
            f"  search ran out of steps: highest pass {_both(o.low, today)}, lowest non-pass"
            f" {_both(o.high, today)} (more --max-steps would settle it)"
        )
    if s.deliveries_per_s is not None:
        lines.append(f"  at that scale {s.deliveries_per_s:,.0f} deliveries/s completed")
    if s.memory_per_1k_eps_bytes is not None:
        lines.append(f"  memory {s.memory_per_1k_eps_bytes / 2**20:.2f} MiB per 1,000 events/s")
    if s.peak is not None:
        verdict = {True: "meets", False: "cannot meet", None: "undetermined at"}[s.meets_peak]
        lines.append(
            f"  SLO {verdict} the peak of {s.peak * today.eps:,.0f} events/s ({_x(s.peak)})"
        )
    return lines


def summary(sizings: Sequence[TraceSizing], today: Today, slo_text: str) -> list[str]:
    """Which architecture carries more of today's traffic, in plain words."""
    claimed = [t for t in sizings if t.sizing.outcome.capacity is not None]
    lines = [
        f"Today's traffic: {today.events:,} events in {today.seconds:g} s"
        f" ({today.eps:,.0f} events/s mean)."
    ]
    if len(claimed) >= 2:
        ranked = sorted(claimed, key=lambda t: t.sizing.outcome.capacity or 0.0, reverse=True)
        best, other = ranked[0].sizing.outcome, ranked[-1].sizing.outcome
        cb, co = best.capacity or 0.0, other.capacity or 1.0
        overlap = cb <= (other.high or math.inf)
        tail = "; their intervals overlap, so no difference is established." if overlap else "."
        lines.append(
            f"Under {slo_text}, {ranked[0].arch} carries {_x(cb)} today's traffic against"
            f" {ranked[-1].arch}'s {_x(co)} ({cb / co:.2f}x){tail}"
        )
    elif len(claimed) == 1:
        lines.append(f"Only {claimed[0].arch} has a claimed capacity; no comparison is made.")
    return lines
