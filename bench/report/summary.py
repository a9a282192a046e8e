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
from bench.run import histograms
from bench.schema import CompareResult, RunResult

ARCH_HEADER = (
    "architecture", "runs", "throughput (deliv/s)", "resp p50 (ms)", "resp p99 (ms)",
    "resp p99.9 (ms)", "peak RSS (MiB)", "rejected % of events", "failed % of deliveries",
    "status",
)  # fmt: skip
RATIO_HEADER = ("metric", "comparison", "ratio", "95% CI", "verdict", "note")
PHASE_HEADER = (
    "phase", "architecture", "offered (ev/s)", "completed (deliv/s)", "resp p50 (ms)",
    "resp p99 (ms)", "rejected",
)  # fmt: skip


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
    ("response_p50", "{:.2f}"),
    ("response_p99", "{:.2f}"),
    ("response_p99.9", "{:.2f}"),
    ("peak_rss", "{:.1f}"),
    ("reject_rate", "{:.3f}%"),
    ("failure_rate", "{:.3f}%"),
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
                    _ms(latency.p50, "p50" in latency.thin),
                    _ms(latency.p99, "p99" in latency.thin),
                    f"{_mean([p.rejected for p in phases]):.0f}",
                )
            )
    return rows


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


def render(result: CompareResult, console: Console) -> None:
    """Print both tables and any invalid runs to ``console``."""
    console.print(headline(result), highlight=False)
    archs = Table(
        *ARCH_HEADER,
        title="Per architecture (means over usable runs)",
    )
    for row in arch_rows(result):
        archs.add_row(*row)
    console.print(archs)
    console.print(LATENCY_SCOPE, highlight=False, markup=False)
    ratios = Table(*RATIO_HEADER, title="Ratios against the first architecture")
    for row in ratio_rows(result):
        ratios.add_row(*row)
    console.print(ratios)
    phases = Table(
        *PHASE_HEADER,
        title=PHASE_TITLE,
    )
    for row in phase_rows(result):
        phases.add_row(*row)
    console.print(phases)
    for line in topology_lines(result):
        console.print(line, highlight=False, markup=False)
    for line in invalid_lines(result):
        console.print(line, style="bold red", highlight=False, markup=False)


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
    return lines


def markdown(result: CompareResult) -> str:
    """The same tables as Markdown, with the command and environment."""
    env = result.environment
    lines = [
        "# Switchyard comparison",
        "",
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
        "## Ratios against the first architecture",
        "",
        *_md_table(RATIO_HEADER, ratio_rows(result)),
        "",
        f"## {PHASE_TITLE}",
        "",
        *_md_table(PHASE_HEADER, phase_rows(result)),
        "",
    ]
    topology = topology_lines(result)
    if topology:
        lines += ["## Topology", "", *[f"- {line}" for line in topology], ""]
    invalid = invalid_lines(result)
    if invalid:
        lines += ["## Invalid runs", "", *[f"- {line}" for line in invalid], ""]
    return "\n".join(lines)
