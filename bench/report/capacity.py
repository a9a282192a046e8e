"""Capacity results in the report: the latency-throughput curve, the SLO line, capacity marked.

Reads what ``python -m bench capacity --json`` writes, decoded with its own
type (:class:`bench.experiments.capacity_report.CapacityReport`: each architecture's
:class:`~bench.experiments.capacity_step.Sizing` with every measured step, and the SLO), so
a change of that format fails here loudly rather than drawing something wrong. Steps
are drawn at their offered rate with the first latency objective's point
estimate (solid) and its upper confidence bound (dashed), the bound the
search judged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

import msgspec
import numpy as np

from bench.analysis.slo import parse_latency
from bench.experiments.capacity import StepResult
from bench.experiments.capacity_report import CapacityReport
from bench.experiments.capacity_step import Sizing
from bench.experiments.planning import ArchPlan
from bench.report.svg import PALETTE, Axis, Chart, Marker, Series
from bench.schema import SCHEMA, SchemaError
from events.errors import SwitchyardError


@dataclass
class CapacityView:
    """What the report needs of one capacity search file."""

    where: str
    sizings: tuple[Sizing, ...]
    slo_text: str
    slo_ms: float | None
    command: str
    #: Per architecture, the CPU-demand plan (absent in files written before it was kept).
    plans: tuple[ArchPlan, ...] = ()
    migration: str = ""


def is_capacity(raw: dict[str, Any]) -> bool:
    return isinstance(raw.get("sizings"), list)


def view(raw: dict[str, Any], where: str) -> CapacityView:
    """Decode a capacity file with its own type; raise :class:`SchemaError` saying why not."""
    try:
        report = msgspec.convert(raw, type=CapacityReport)
    except msgspec.ValidationError as exc:
        raise SchemaError(f"{where}: capacity results: {exc}") from None
    if report.schema != SCHEMA:
        raise SchemaError(f"{where}: schema {report.schema!r} is not {SCHEMA!r}")
    try:
        threshold_ms: float | None = parse_latency(report.slo[0]).threshold_ns / 1e6
    except (IndexError, SwitchyardError):
        threshold_ms = None
    texts = [*report.slo, f"errors<={report.error_limit * 100:g}%"]
    return CapacityView(
        where=where,
        sizings=report.sizings,
        slo_text=", ".join(texts),
        slo_ms=threshold_ms,
        command=" ".join(report.environment.argv),
        plans=report.plans,
        migration=report.migration,
    )


def _medians(steps: Sequence[StepResult]) -> tuple[list[float], list[float], list[float]]:
    """Per measured rate: the median point estimate and median upper bound (ms)."""
    rates = sorted({s.rate for s in steps})
    point: list[float] = []
    upper: list[float] = []
    for rate in rates:
        at = [s for s in steps if s.rate == rate]
        point.append(float(np.median([s.latency_ns[0] for s in at])) / 1e6)
        bounds = [s.latency_upper_ns[0] for s in at if s.latency_upper_ns]
        upper.append(float(np.median(bounds)) / 1e6 if bounds else math.nan)
    return rates, point, upper


def curve(cap: CapacityView) -> Chart:
    """Latency against offered rate per architecture, with the SLO line and capacities."""
    chart = Chart(
        f"Latency against offered load (SLO {cap.slo_text})",
        Axis("offered events/s (log)", "log"),
        Axis("latency (ms, log)", "log"),
        width=1300,
        height=420,
        note="lines: median per rate (solid: estimate; dashed: upper bound judged)",
    )
    rates: list[float] = []
    values: list[float] = []
    for i, sizing in enumerate(cap.sizings):
        colour = PALETTE[i % len(PALETTE)]
        steps = [s for s in sizing.outcome.steps if s.latency_ns]
        xs, point, upper = _medians(steps)
        chart.series += [
            Series(sizing.arch, xs, point, colour, "line"),
            Series("", xs, upper, colour, "line", dash="4 3", width=1.2),
        ]
        passed = [s for s in steps if s.passed]
        other = [s for s in steps if not s.passed]
        chart.series += [
            Series(f"{sizing.arch} step passed", [s.rate for s in passed],
                   [s.latency_ns[0] / 1e6 for s in passed], colour, "points"),
            Series(f"{sizing.arch} step not passed", [s.rate for s in other],
                   [s.latency_ns[0] / 1e6 for s in other], colour, "rings"),
        ]  # fmt: skip
        rates += xs
        values += point + upper + [s.latency_ns[0] / 1e6 for s in steps]
        outcome = sizing.outcome
        if outcome.capacity is not None:
            label = f"{sizing.arch} capacity {outcome.capacity:,.0f}/s"
            chart.markers.append(Marker("x", outcome.capacity, label, colour, "2 2"))
        if sizing.knee_rate is not None:
            chart.markers.append(
                Marker("x", sizing.knee_rate, f"{sizing.arch} knee", colour, "1 5")
            )
    if cap.slo_ms is not None:
        chart.markers.append(Marker("y", cap.slo_ms, f"SLO {cap.slo_ms:g} ms", "#b00020", "8 4"))
        values.append(cap.slo_ms)
    chart.x.fit(rates)
    chart.y.fit(values)
    return chart


HEADER = (
    "architecture", "capacity (events/s)", "bracket", "limited by", "knee (events/s)",
    "headroom", "instances (projection)", "meets peak", "memory per 1k ev/s (MiB)", "steps",
    "CPU-demand bound (events/s)",
)  # fmt: skip


def _num(x: float | None, fmt: str = ",.0f") -> str:
    return "n/a" if x is None else format(x, fmt)


def _bound(plan: ArchPlan | None) -> str:
    if plan is None or plan.demand is None:
        return "n/a"
    d = plan.demand
    high = _num(d.bound_high) if d.bound_high is not None else "unbounded"
    suspect = "; claim SUSPECT (above it)" if plan.suspect else ""
    return f"{_num(d.bound)} ({_num(d.bound_low)} to {high}){suspect}"


def rows(cap: CapacityView) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    plans = {p.arch: p for p in cap.plans}
    for s in cap.sizings:
        o = s.outcome
        bracket = f"{_num(o.low)} to {_num(o.high)}"
        headroom = "n/a" if s.headroom is None else f"{s.headroom * 100:+.0f}%"
        meets = {True: "yes", False: "NO", None: "not determined"}[s.meets_peak]
        mem = None if s.memory_per_1k_eps_bytes is None else s.memory_per_1k_eps_bytes / 2**20
        out.append(
            (
                s.arch,
                _num(o.capacity) if o.capacity is not None else "no claim",
                bracket,
                o.limited_by,
                _num(s.knee_rate),
                headroom,
                _num(s.instances, "d") if s.instances is not None else "n/a",
                meets,
                _num(mem, ".2f"),
                str(len(o.steps)),
                _bound(plans.get(s.arch)),
            )
        )
    return out


def capacity_section(cap: CapacityView) -> str:
    from bench.report.html import table

    parts = [
        f"<h2>Capacity (SLO {escape(cap.slo_text)})</h2>",
        f'<p class="meta">From <code>{escape(cap.where)}</code>'
        + (f"; command: <code>{escape(cap.command)}</code>" if cap.command else "")
        + ". Instances needed are a projection from one process's capacity.</p>",
        table(HEADER, rows(cap)),
        '<div class="grid">' + curve(cap).svg() + "</div>",
    ]
    if cap.migration:
        parts.append(f"<h3>Migration answer</h3><p>{escape(cap.migration)}</p>")
    return "".join(parts)


def capacity_markdown(cap: CapacityView) -> str:
    lines = [f"## Capacity (SLO {cap.slo_text})", ""]
    if cap.command:
        lines += [f"Command: `{cap.command}`", ""]
    lines += ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(r) + " |" for r in rows(cap)]
    if cap.migration:
        lines += ["", f"Migration answer: {cap.migration}"]
    return "\n".join(lines)


def step_line(arch: str, step: StepResult, n: int, took: float) -> str:
    """One progress line for a measured capacity step."""
    upper = step.latency_upper_ns[0] / 1e6 if step.latency_upper_ns else math.nan
    why = f" ({step.reasons[0]})" if step.reasons and step.verdict != "pass" else ""
    return (
        f"[capacity] {arch} step {n}: {step.rate:,.0f} ev/s -> {step.verdict}{why};"
        f" latency bound {upper:.1f} ms, rejected {step.reject_rate:.3%} of events,"
        f" failed {step.failure_rate:.3%} of deliveries,"
        f" backlog {step.backlog_slope[0]:+,.0f}/s, {took:.1f} s"
    )
