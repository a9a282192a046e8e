"""The comparison's tables as rows of text, rendered with rich or as Markdown.

One table per architecture (means over the runs each metric may use) and one of ratios with their
CI and verdict; invalid runs are named with their reasons in plain words.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from rich.console import Console
from rich.table import Table

from bench.analysis.compare import METRICS, values_of
from bench.report import adaptive, executive
from bench.run import histograms
from bench.schema import CompareResult, Recovery, RunResult

ARCH_HEADER = (
    "architecture", "runs", "throughput (deliv/s)", "payload (MB/s)", "resp p50 (ms)",
    "resp p95 (ms)", "resp p99 (ms)", "resp p99.9 (ms)", "rejected % of events",
    "failed % of deliveries", "status",
)  # fmt: skip
RESOURCE_HEADER = (
    "architecture", "start-up (s)", "idle RSS (MiB)", "peak RSS (MiB)", "CPU (s)",
    "recovery (s)",
)  # fmt: skip
RESOURCE_TITLE = (
    "Process per architecture (means over usable runs; start-up: process start to router"
    " ready; idle RSS: after start-up, before any load; recovery: bench.run.recovery)"
)
RATIO_HEADER = ("metric", "comparison", "ratio", "95% CI", "verdict", "note")


def ratio_header(result: CompareResult) -> tuple[str, ...]:
    """The ratio table's header, naming the interval's level (below 95% per look when the
    comparison looked more than once, bench/analysis/sequential.py)."""
    levels = {r.confidence for r in result.ratios}
    if len(levels) != 1 or levels == {0.95}:
        return RATIO_HEADER
    return (*RATIO_HEADER[:3], f"{levels.pop():.1%} CI", *RATIO_HEADER[4:])


PHASE_HEADER = (
    "phase", "architecture", "offered (ev/s)", "completed (deliv/s)", "payload (MB/s)",
    "resp p50 (ms)", "resp p95 (ms)", "resp p99 (ms)", "rejected", "recovery (s)",
)  # fmt: skip
SERVICE_HEADER = (
    "service", "architecture", "breakers", "breaker trips/run", "not closed (s/run)",
    "dead-lettered/run", "delivered %",
)  # fmt: skip
OUTAGE_HEADER = (
    "outage", "architecture", "recovery (s)", "runs recovered", "baseline p99 (ms)", "note",
)  # fmt: skip
DEAD_LETTER_HEADER = ("architecture", "reason", "dead letters/run")
TREND_HEADER = ("architecture", "run", "RSS trend (MiB/h)", "95% CI", "verdict")
SLO_HEADER = ("level", "architecture", "run", "objective", "detail")


def _mean(values: Sequence[float]) -> float:
    return float(np.mean(values)) if len(values) else math.nan


def _by_arch(result: CompareResult) -> dict[str, list[RunResult]]:
    out: dict[str, list[RunResult]] = {arch: [] for arch in result.settings.archs}
    for record in result.runs:
        out.setdefault(record.arch, []).append(record.result)
    return out


#: Columns of the per-architecture table: (metric of bench.analysis.compare, format).
_ARCH_COLUMNS = (
    ("throughput", "{:,.0f}"),
    ("payload", "{:.2f}"),
    ("response_p50", "{:.2f}"),
    ("response_p95", "{:.2f}"),
    ("response_p99", "{:.2f}"),
    ("response_p99.9", "{:.2f}"),
    ("reject_rate", "{:.3f}%"),
    ("failure_rate", "{:.3f}%"),
)
_RESOURCE_COLUMNS = (
    ("startup", "{:.2f}"),
    ("idle_rss", "{:.1f}"),
    ("peak_rss", "{:.1f}"),
    ("cpu", "{:.2f}"),
    ("recovery", "{:.2f}"),
)


def _status(runs: Sequence[RunResult]) -> str:
    voided = sum(1 for r in runs if any(not g.passed and g.scope == "all" for g in r.gates))
    behind = sum(1 for r in runs if not r.valid) - voided
    if not voided and not behind:
        return "valid"
    parts = [f"INVALID {voided + behind}/{len(runs)}"]
    if behind:
        parts.append(f"{behind} for capacity only")
    return ": ".join(parts)


def arch_rows(result: CompareResult) -> list[tuple[str, ...]]:
    """Means over the runs each metric may use (the rule of :mod:`bench.analysis.compare`)."""
    metrics = {m.name: m for m in METRICS}
    rows: list[tuple[str, ...]] = []
    for arch, runs in _by_arch(result).items():
        cells = []
        for name, fmt in _ARCH_COLUMNS:
            values = values_of(metrics[name], runs)
            cells.append(fmt.format(_mean(values)) if values else "n/a")
        rows.append((arch, str(len(runs)), *cells, _status(runs)))
    return rows


def resource_rows(result: CompareResult) -> list[tuple[str, ...]]:
    """Start-up, memory, CPU and recovery means per architecture (same usable-run rule)."""
    metrics = {m.name: m for m in METRICS}
    rows: list[tuple[str, ...]] = []
    for arch, runs in _by_arch(result).items():
        cells = []
        for name, fmt in _RESOURCE_COLUMNS:
            values = values_of(metrics[name], runs)
            cells.append(fmt.format(_mean(values)) if values else "n/a")
        rows.append((arch, *cells))
    return rows


#: Said beside every latency table: what the percentiles cover, and what they do not.
LATENCY_SCOPE = (
    "Latencies cover completed deliveries only: rejected events and dead-lettered or"
    " dropped deliveries are counted in their own columns, never in latency or"
    " throughput; compare them together."
)

#: Rates are means over runs; percentiles come from the runs' histograms added together.
PHASE_TITLE = "Per phase (rates: mean of runs whose accounting holds; latency: those runs pooled)"


def phase_rows(result: CompareResult) -> list[tuple[str, ...]]:
    """Per phase of the pattern and architecture, over the runs whose accounting holds:
    rates as means, response percentiles from the runs' histograms pooled."""
    by_arch = {
        arch: [r for r in runs if all(g.passed or g.scope != "all" for g in r.gates)]
        for arch, runs in _by_arch(result).items()
    }
    names = [p.name for p in next((r.phases for rs in by_arch.values() for r in rs), ())]
    rows: list[tuple[str, ...]] = []
    for index, name in enumerate(names):
        for arch, runs in by_arch.items():
            phases = [r.phases[index] for r in runs]
            latency = histograms.pooled(
                [h.encoded for r in runs for h in r.histograms
                 if h.metric == "response" and h.scope == f"phase:{name}"]
            )  # fmt: skip
            rows.append(
                (
                    name,
                    arch,
                    f"{_mean([p.offered_eps for p in phases]):,.0f}",
                    f"{_mean([p.completed_dps for p in phases]):,.0f}",
                    f"{_mean([p.completed_mbps for p in phases]):.2f}",
                    _ms(latency.p50, "p50" in latency.thin),
                    _ms(latency.p95, "p95" in latency.thin),
                    _ms(latency.p99, "p99" in latency.thin),
                    f"{_mean([p.rejected for p in phases]):.0f}",
                    recovery_cell([e for r in runs for e in r.recoveries if e.name == name]),
                )
            )
    return rows


def recovery_cell(episodes: Sequence[Recovery]) -> str:
    """Mean recovery time over runs; ``>=`` when a run did not recover within its horizon
    (the horizon counts as a lower bound), ``too short`` when no run could measure it."""
    measured = [e for e in episodes if e.status != "too_short"]
    if not episodes:
        return ""
    if not measured:
        return "too short"
    values = [e.recovery_s if e.recovery_s is not None else e.horizon_s for e in measured]
    prefix = ">=" if any(e.status == "not_recovered" for e in measured) else ""
    return f"{prefix}{_mean(values):.2f}"


def _trusted(result: CompareResult) -> dict[str, list[RunResult]]:
    """Each architecture's runs whose accounting holds."""
    return {
        arch: [r for r in runs if all(g.passed or g.scope != "all" for g in r.gates)]
        for arch, runs in _by_arch(result).items()
    }


def service_rows(result: CompareResult) -> list[tuple[str, ...]]:
    """Services taken down by an outage or whose breaker tripped, per architecture."""
    by_arch = _trusted(result)
    down = {o.service for o in result.settings.outages}
    names = list(
        dict.fromkeys(
            s.service
            for runs in by_arch.values()
            for r in runs
            for s in r.services
            if s.service in down or s.breaker_trips
        )
    )
    rows: list[tuple[str, ...]] = []
    for name in names:
        for arch, runs in by_arch.items():
            found = [s for r in runs for s in r.services if s.service == name]
            if not found:
                continue
            deliveries = sum(s.deliveries for s in found)
            delivered = sum(s.delivered for s in found)
            rows.append(
                (
                    name,
                    arch,
                    str(found[0].copies),
                    f"{_mean([s.breaker_trips for s in found]):.1f}",
                    f"{_mean([s.breaker_open_s for s in found]):.2f}",
                    f"{_mean([s.dead_lettered for s in found]):.1f}",
                    f"{100.0 * delivered / deliveries:.2f}" if deliveries else "n/a",
                )
            )
    return rows


def dead_letter_rows(result: CompareResult) -> list[tuple[str, ...]]:
    """Dead letters by reason, mean per run, per architecture."""
    rows: list[tuple[str, ...]] = []
    for arch, runs in _trusted(result).items():
        reasons = sorted({k for r in runs for k in r.accounting.dead_lettered})
        for reason in reasons:
            per_run = [r.accounting.dead_lettered.get(reason, 0) for r in runs]
            rows.append((arch, reason, f"{_mean(per_run):.1f}"))
    return rows


def outage_rows(result: CompareResult) -> list[tuple[str, ...]]:
    """Recovery after each outage, per architecture (see bench.run.recovery)."""
    rows: list[tuple[str, ...]] = []
    for outage in result.settings.outages:
        name = f"after outage {outage.label}"
        for arch, runs in _trusted(result).items():
            episodes = [e for r in runs for e in r.recoveries if e.name == name]
            if not episodes:
                continue
            recovered = sum(1 for e in episodes if e.status == "recovered")
            measured = [e for e in episodes if e.status != "too_short"]
            base = [e.baseline_p99_ns / 1e6 for e in measured]
            note = "" if measured else episodes[0].detail
            if any(e.status == "not_recovered" for e in measured):
                note = next(e.detail for e in measured if e.status == "not_recovered")
            rows.append(
                (
                    outage.label,
                    arch,
                    recovery_cell(episodes),
                    f"{recovered}/{len(episodes)}",
                    f"{_mean(base):.2f}" if base else "n/a",
                    note,
                )
            )
    return rows


def trend_rows(result: CompareResult) -> list[tuple[str, ...]]:
    """The RSS trend of every run long enough to have one."""
    rows: list[tuple[str, ...]] = []
    for item in result.rss_trends:
        t = item.trend
        if t.verdict == "too short":
            continue
        rows.append(
            (
                item.arch,
                str(item.run + 1),
                f"{t.slope_mib_per_h:+.2f}",
                f"{t.low:+.2f} to {t.high:+.2f}",
                t.explanation,
            )
        )
    return rows


def trend_note(result: CompareResult) -> str | None:
    """Why a soak comparison shows no trend (every run too short), else None."""
    if result.settings.pattern != "soak" or trend_rows(result) or not result.rss_trends:
        return None
    return f"RSS trend: {result.rss_trends[0].trend.explanation}"


def slo_rows(result: CompareResult) -> list[tuple[str, ...]]:
    """Every objective broken, failures first."""
    if result.slo is None:
        return []
    ordered = sorted(result.slo.violations, key=lambda v: (v.level != "fail", v.arch, v.run))
    return [(v.level, v.arch, str(v.run), v.objective, v.detail) for v in ordered]


def _ms(ns: int, thin: bool) -> str:
    """Milliseconds; a percentile resting on too few samples is marked ``(thin)``."""
    return f"{ns / 1e6:.2f}" + (" (thin)" if thin else "")


def _fmt(x: float | None) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x:.3f}"


def ratio_rows(result: CompareResult) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for r in result.ratios:
        ci = "n/a" if r.low is None else f"{_fmt(r.low)}-{_fmt(r.high)}"
        if r.runs_needed:
            note = f"{r.runs_needed} runs/arch needed"
        elif r.ratio is None:
            note = r.explanation  # why there is no ratio at all
        else:
            note = ""
        if r.n_baseline < len(_by_arch(result)[r.baseline]) or r.n_arch < len(
            _by_arch(result)[r.arch]
        ):
            note = (note + "; " if note else "") + f"n={r.n_baseline}/{r.n_arch} usable"
        elif result.sequential is not None:
            note = (note + "; " if note else "") + f"n={r.n_baseline}/{r.n_arch}"
        direction = "higher better" if r.higher_is_better else "lower better"
        rows.append(
            (
                f"{r.metric} ({r.unit}, {direction})",
                f"{r.arch}/{r.baseline}",
                _fmt(r.ratio),
                ci,
                r.verdict,
                note,
            )
        )
    return rows


def invalid_lines(result: CompareResult) -> list[str]:
    """One plain sentence per invalid run."""
    return [
        f"Run {rec.block + 1}.{rec.position + 1} of {rec.arch} is INVALID: "
        + "; ".join(rec.result.reasons)
        for rec in result.runs
        if not rec.result.valid
    ]


#: How each built-in architecture turns a subscription into queues and workers, so a
#: reader sees what topology produced the figures (an architecture from a factory
#: path gets no note: the bench cannot know its topology).
TOPOLOGY = {
    "coordinator": (
        "coordinator: one queue per module; each module runs max(configured workers,"
        " the largest `concurrency` of its subscriptions) workers, and a worker takes"
        " one event at a time and calls its handlers in turn (configs/coordinator.toml)."
    ),
    "daemon": (
        "daemon: one bounded mailbox per subscription with `concurrency` workers each,"
        " behind one compiled routing table (configs/daemon.toml [router])."
    ),
    "jetstream": (
        "jetstream: every accepted event stored once in a JetStream stream on one local"
        " nats-server (file storage, started by the bench unless SWITCHYARD_NATS_URL names"
        " one); each subscription a durable pull consumer feeding `concurrency` workers;"
        " cpu_total adds the server's CPU to the run's (daemon/jetstream/)."
    ),
    "null": (
        "null: the harness floor; no queues, each delivery starts inside publish"
        " (bench/routers/null.py)."
    ),
}


def topology_lines(result: CompareResult) -> list[str]:
    """One sentence per compared built-in architecture on its queues and workers."""
    names = dict.fromkeys(label.split("#")[0] for label in result.settings.archs)
    return [TOPOLOGY[name] for name in names if name in TOPOLOGY]


def headline(result: CompareResult) -> str:
    s = result.settings
    return (
        f"{' vs '.join(s.archs)}: profile {s.profile}, pattern {s.pattern}, {s.runs} runs each"
        f" of {s.duration_s:g} s, seed {s.seed}, noise ±{s.noise * 100:g}%, loop {s.loop},"
        f" {result.elapsed_s:.0f} s in all"
    )


#: Titles of the optional tables, shared by terminal, Markdown and HTML.
SERVICE_TITLE = (
    "Services under outage or with breaker trips (means per run; breaker states sampled"
    " every 25 ms, a re-open within one sample is one trip)"
)
DEAD_LETTER_TITLE = "Dead letters by reason (mean per run)"
OUTAGE_TITLE = "Recovery after each outage (bench.run.recovery; >= : not recovered by then)"
TREND_TITLE = "Resident memory trend (MiB per hour, block means after a 20% warm-up)"
SLO_TITLE = "Objectives broken"


def sections(result: CompareResult) -> list[tuple[str, tuple[str, ...], list[tuple[str, ...]]]]:
    """(title, header, rows) of every table after the per-phase one that has rows."""
    out = [
        (SERVICE_TITLE, SERVICE_HEADER, service_rows(result)),
        (DEAD_LETTER_TITLE, DEAD_LETTER_HEADER, dead_letter_rows(result)),
        (OUTAGE_TITLE, OUTAGE_HEADER, outage_rows(result)),
        (TREND_TITLE, TREND_HEADER, trend_rows(result)),
        (SLO_TITLE, SLO_HEADER, slo_rows(result)),
    ]
    if not result.settings.outages and not service_rows(result):
        out = [t for t in out if t[0] != DEAD_LETTER_TITLE]
    return [(title, header, rows) for title, header, rows in out if rows]


def slo_line(result: CompareResult) -> str | None:
    """One sentence when objectives were checked and none broke."""
    if result.slo is None or result.slo.violations:
        return None
    return f"Every run met every objective of {result.slo.source}."


def render(result: CompareResult, console: Console) -> None:
    """Print the executive summary, the tables and any invalid runs to ``console``."""
    console.print("Executive summary", style="bold", highlight=False)
    for paragraph in executive.paragraphs(result):
        console.print(paragraph, highlight=False, markup=False)
    console.print()
    console.print(headline(result), highlight=False)
    archs = Table(
        *ARCH_HEADER,
        title="Per architecture (means over usable runs)",
    )
    for row in arch_rows(result):
        archs.add_row(*row)
    console.print(archs)
    console.print(LATENCY_SCOPE, highlight=False, markup=False)
    resources = Table(*RESOURCE_HEADER, title=RESOURCE_TITLE)
    for row in resource_rows(result):
        resources.add_row(*row)
    console.print(resources)
    ratios = Table(*ratio_header(result), title="Ratios against the first architecture")
    for row in ratio_rows(result):
        ratios.add_row(*row)
    console.print(ratios)
    for line in adaptive.lines(result):
        console.print(line, highlight=False, markup=False)
    phases = Table(
        *PHASE_HEADER,
        title=PHASE_TITLE,
    )
    for row in phase_rows(result):
        phases.add_row(*row)
    console.print(phases)
    for title, header, rows in sections(result):
        table = Table(*header, title=title)
        for row in rows:
            table.add_row(*row)
        console.print(table)
    for note in (trend_note(result), slo_line(result)):
        if note:
            console.print(note, highlight=False, markup=False)
    for line in topology_lines(result):
        console.print(line, highlight=False, markup=False)
    for line in invalid_lines(result):
        console.print(line, style="bold red", highlight=False, markup=False)


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
    return lines


def markdown(result: CompareResult, with_summary: bool = True) -> str:
    """The same tables as Markdown, with the command and environment; the executive
    summary first unless the caller gives its own (a report of several results)."""
    env = result.environment
    opening = (
        [
            "## Executive summary",
            "",
            *[line for paragraph in executive.paragraphs(result) for line in (paragraph, "")],
            "## Setting",
            "",
        ]
        if with_summary
        else []
    )
    lines = [
        "# Switchyard comparison",
        "",
        *opening,
        headline(result),
        "",
        f"Command: `{' '.join(env.argv)}`",
        "",
        f"Environment: Python {env.python}, uvloop {env.uvloop}, {env.cpu_model}"
        f" x{env.cpu_count}, git {env.git_sha or 'unknown'}, config {env.config_hash},"
        f" schedule {env.schedule_hash}",
        "",
        "## Per architecture (means over usable runs)",
        "",
        "Throughput uses runs that passed every gate; the other columns, runs whose"
        " accounting holds (a generator that fell behind voids throughput claims only).",
        "",
        LATENCY_SCOPE,
        "",
        *_md_table(ARCH_HEADER, arch_rows(result)),
        "",
        f"## {RESOURCE_TITLE}",
        "",
        *_md_table(RESOURCE_HEADER, resource_rows(result)),
        "",
        "## Ratios against the first architecture",
        "",
        *_md_table(ratio_header(result), ratio_rows(result)),
        "",
        *[f"- {line}" for line in adaptive.lines(result)],
        *([""] if result.sequential is not None else []),
        f"## {PHASE_TITLE}",
        "",
        *_md_table(PHASE_HEADER, phase_rows(result)),
        "",
    ]
    for title, header, rows in sections(result):
        lines += [f"## {title}", "", *_md_table(header, rows), ""]
    for line in (trend_note(result), slo_line(result)):
        if line:
            lines += [line, ""]
    topology = topology_lines(result)
    if topology:
        lines += ["## Topology", "", *[f"- {line}" for line in topology], ""]
    invalid = invalid_lines(result)
    if invalid:
        lines += ["## Invalid runs", "", *[f"- {line}" for line in invalid], ""]
    return "\n".join(lines)
