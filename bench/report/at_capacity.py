"""The equal-utilisation comparison as text, Markdown and HTML: latency against utilisation.

Reads :class:`bench.experiments.at_capacity.AtCapacityResult`. Per level, each
architecture's latency (means over the runs each metric may use, as in the
comparison's own tables) and the ratios with their verdicts; the capacities the levels
scale and their ratio; a chart of p50 and p99 against utilisation for every
architecture.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape
from pathlib import Path

import msgspec
import numpy as np

from bench.analysis.compare import METRICS, values_of
from bench.experiments.at_capacity import AT_CAPACITY_SCHEMA, AtCapacityResult
from bench.report import adaptive, summary
from bench.report import html as report_html
from bench.report.svg import PALETTE, Axis, Chart, Series
from bench.schema import RunResult, SchemaError

CAPACITY_HEADER = ("architecture", "capacity used (events/s)", "interval", "claimed", "source")
RATIO_HEADER = ("comparison", "capacity ratio", "interval", "verdict", "note")
LEVEL_HEADER = (
    "level", "architecture", "mean offered (ev/s)", "peak offered (ev/s)", "peak / capacity",
    "runs", "resp p50 (ms)", "resp p99 (ms)", "resp p99.9 (ms)",
)  # fmt: skip
LEVEL_RATIO_HEADER = ("level", "metric", "comparison", "ratio", "CI", "verdict", "runs", "note")


def is_at_capacity(raw: dict[str, object]) -> bool:
    return raw.get("schema") == AT_CAPACITY_SCHEMA


def decode(data: bytes, where: str) -> AtCapacityResult:
    """Validate and decode an at-capacity file; raise :class:`SchemaError` saying why not."""
    try:
        return msgspec.json.decode(data, type=AtCapacityResult)
    except msgspec.DecodeError as exc:
        raise SchemaError(f"{where}: at-capacity results: {exc}") from None


def _num(x: float | None, fmt: str = ",.0f") -> str:
    return "n/a" if x is None or not math.isfinite(x) else format(x, fmt)


def capacity_rows(result: AtCapacityResult) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for c in result.capacities:
        high = _num(c.high) if c.high is not None else "open"
        claim = "yes" if c.claimed else f"no ({c.limited_by}): interval's low end used"
        rows.append((c.arch, _num(c.rate), f"{_num(c.low)} to {high}", claim, c.source))
    return rows


def ratio_rows(result: AtCapacityResult) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for r in result.ratios:
        interval = f"{_num(r.low, '.3f')}-{_num(r.high, '.3f')}"
        pair = f"{r.arch}/{r.baseline}"
        rows.append((pair, f"{r.ratio:.3f}", interval, r.verdict, r.explanation))
    return rows


def _by_label(runs: Sequence[tuple[str, RunResult]], label: str) -> list[RunResult]:
    return [r for a, r in runs if a == label]


def _mean_ms(name: str, runs: Sequence[RunResult]) -> float:
    metric = next(m for m in METRICS if m.name == name)
    values = values_of(metric, runs)
    return float(np.mean(values)) if values else math.nan


def level_rows(result: AtCapacityResult) -> list[tuple[str, ...]]:
    capacity = {c.arch: c.rate for c in result.capacities}
    rows: list[tuple[str, ...]] = []
    for level in result.levels:
        comparison = level.comparison
        runs = [(r.arch, r.result) for r in comparison.runs]
        for label in comparison.settings.archs:
            mine = _by_label(runs, label)
            arch = label.split("#")[0]
            rows.append(
                (
                    f"{level.level:.0%}", label, _num(level.mean_rate[label]),
                    _num(level.peak_rate[label]),
                    f"{level.peak_rate[label] / capacity[arch]:.2f}x" if arch in capacity else "",
                    str(len(mine)),
                    *(f"{_mean_ms(m, mine):.2f}"
                      for m in ("response_p50", "response_p99", "response_p99.9")),
                )
            )  # fmt: skip
    return rows


def level_ratio_rows(result: AtCapacityResult) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for level in result.levels:
        for r in level.comparison.ratios:
            ci = "n/a" if r.low is None else f"{r.low:.3f}-{r.high:.3f}"
            note = f"{r.runs_needed} runs/arch needed" if r.runs_needed else ""
            if r.ratio is None:
                note = r.explanation
            rows.append(
                (
                    f"{level.level:.0%}", f"{r.metric} ({r.unit})", f"{r.arch}/{r.baseline}",
                    _num(r.ratio, ".3f"), f"{ci} ({r.confidence:.1%})", r.verdict,
                    f"{r.n_baseline}/{r.n_arch}", note,
                )
            )  # fmt: skip
    return rows


def chart(result: AtCapacityResult) -> Chart:
    """p50 (solid) and p99 (dashed) against utilisation, per architecture."""
    chart = Chart(
        "Latency against utilisation (mean offered rate / own capacity)",
        Axis("utilisation", "linear"),
        Axis("response latency (ms, log)", "log"),
        width=900,
        height=380,
        note="solid: p50, dashed: p99; means over usable runs at each level",
    )
    labels = list(result.levels[0].comparison.settings.archs) if result.levels else []
    xs = [level.level for level in result.levels]
    values: list[float] = []
    for i, label in enumerate(labels):
        colour = PALETTE[i % len(PALETTE)]
        for metric, dash in (("response_p50", ""), ("response_p99", "5 3")):
            ys = [
                _mean_ms(metric, [r.result for r in lv.comparison.runs if r.arch == label])
                for lv in result.levels
            ]
            chart.series.append(
                Series(f"{label} {metric.split('_')[1]}", xs, ys, colour, "line", dash=dash)
            )
            chart.series.append(Series("", xs, ys, colour, "points"))
            values += [y for y in ys if math.isfinite(y) and y > 0]
    chart.x.fit([0.0, *xs, 1.0])
    chart.y.fit(values or [1.0])
    return chart


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]


def headline(result: AtCapacityResult) -> str:
    levels = ", ".join(f"{lv.level:.0%}" for lv in result.levels)
    return (
        f"Equal-utilisation comparison, profile {result.profile}, pattern {result.pattern},"
        f" levels {levels} of each architecture's own capacity, {result.elapsed_s:.0f} s in all"
    )


def text(result: AtCapacityResult) -> list[str]:
    """The terminal summary, line by line."""
    lines = [headline(result), "Capacities:"]
    lines += [f"  {' | '.join(row)}" for row in capacity_rows(result)]
    lines += [f"  capacity {' | '.join(row)}" for row in ratio_rows(result)]
    lines.append("Per level (means over usable runs):")
    lines += [f"  {' | '.join(row)}" for row in level_rows(result)]
    lines.append("Ratios per level:")
    lines += [f"  {' | '.join(row)}" for row in level_ratio_rows(result)]
    for level in result.levels:
        for line in adaptive.lines(level.comparison):
            lines.append(f"  {level.level:.0%}: {line}")
    return lines


def markdown(result: AtCapacityResult, depth: int = 1) -> str:
    """The tables as Markdown; ``depth`` is the level of the title heading."""
    env = result.environment
    h = "#" * depth
    lines = [
        f"{h} Switchyard equal-utilisation comparison", "", headline(result), "",
        f"Command: `{' '.join(env.argv)}`", "",
        f"Environment: Python {env.python}, uvloop {env.uvloop}, {env.cpu_model}"
        f" x{env.cpu_count}, git {env.git_sha or 'unknown'}", "",
        f"{h}# Capacities", "", *_md_table(CAPACITY_HEADER, capacity_rows(result)), "",
        *_md_table(RATIO_HEADER, ratio_rows(result)), "",
        f"{h}# Latency per level (means over usable runs)", "", summary.LATENCY_SCOPE, "",
        *_md_table(LEVEL_HEADER, level_rows(result)), "",
        f"{h}# Ratios per level", "",
        *_md_table(LEVEL_RATIO_HEADER, level_ratio_rows(result)), "",
    ]  # fmt: skip
    for level in result.levels:
        lines += [f"- {level.level:.0%}: {line}" for line in adaptive.lines(level.comparison)]
    return "\n".join(lines) + "\n"


def section(result: AtCapacityResult) -> str:
    """The HTML section: tables and the latency-utilisation chart."""
    table = report_html.table
    parts = [
        f"<h2>{escape(headline(result))}</h2>",
        f'<p class="meta">Command: <code>{escape(" ".join(result.environment.argv))}</code></p>',
        "<h3>Capacities</h3>", table(CAPACITY_HEADER, capacity_rows(result)),
        table(RATIO_HEADER, ratio_rows(result), verdict_col=3),
        report_html.charts([chart(result)]),
        "<h3>Latency per level</h3>", table(LEVEL_HEADER, level_rows(result)),
        "<h3>Ratios per level</h3>",
        table(LEVEL_RATIO_HEADER, level_ratio_rows(result), verdict_col=5),
        "<ul>" + "".join(
            f"<li>{level.level:.0%}: {escape(line)}</li>"
            for level in result.levels for line in adaptive.lines(level.comparison)
        ) + "</ul>",
    ]  # fmt: skip
    return "".join(parts)


def write_html(result: AtCapacityResult, path: Path, command: str) -> None:
    title = f"Switchyard at equal utilisation: {result.pattern} / {result.profile}"
    path.write_text(report_html.page(title, [section(result)], command), encoding="utf-8")
