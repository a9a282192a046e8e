"""A baseline's history drawn and tabled: a metric per saved version, with its interval.

The chart puts the versions in saved order on x (1 = oldest; the table gives each
version's date and git sha), each architecture's mean as a line and its 95% interval
as dashed lines of the same colour.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from bench.analysis import baseline
from bench.analysis.history import History, history
from bench.report.svg import PALETTE, Axis, Chart, Series, SeriesKind
from bench.schema import CompareResult

HEADER = ("version", "saved (UTC)", "git", "architecture", "mean", "95% CI", "runs")
#: The metrics a report draws for each matching baseline.
REPORT_METRICS = ("response_p99", "throughput")


def rows(hist: History) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    for index, version in enumerate(hist.versions, start=1):
        for point in version.points:
            if point.mean is None or point.low is None or point.high is None:
                value, ci = "n/a", "n/a"
            else:
                value, ci = f"{point.mean:.4g}", f"{point.low:.4g} to {point.high:.4g}"
            out.append((str(index), version.saved_at, (version.git_sha or "unknown")[:10],
                        point.arch, value, ci, str(point.runs)))  # fmt: skip
    return out


def chart(hist: History) -> Chart:
    """The metric over the versions, one colour per architecture."""
    direction = "higher is better" if hist.higher_is_better else "lower is better"
    c = Chart(
        f"{hist.metric} over baseline {hist.name} ({hist.unit}, {direction})",
        Axis("saved version (1 = oldest)"),
        Axis(f"{hist.metric} ({hist.unit})"),
        width=560,
        height=300,
        note="dashed: 95% interval of the mean",
    )
    archs = list(dict.fromkeys(p.arch for v in hist.versions for p in v.points))
    xs_all: list[float] = []
    ys_all: list[float] = []
    for i, arch in enumerate(archs):
        colour = PALETTE[i % len(PALETTE)]
        xs: list[float] = []
        mean: list[float] = []
        low: list[float] = []
        high: list[float] = []
        for index, version in enumerate(hist.versions, start=1):
            point = next((p for p in version.points if p.arch == arch), None)
            if point is None or point.mean is None or point.low is None or point.high is None:
                continue
            xs.append(float(index))
            mean.append(point.mean)
            low.append(point.low)
            high.append(point.high)
        kind: SeriesKind = "line" if len(xs) > 1 else "points"
        c.series += [
            Series(arch, xs, mean, colour, kind),
            Series("", xs, low, colour, kind, dash="4 3", width=1.0),
            Series("", xs, high, colour, kind, dash="4 3", width=1.0),
        ]
        xs_all += xs
        ys_all += low + high
    c.x.fit([*xs_all, 0.0])
    c.y.fit(ys_all)
    return c


def write_svg(hist: History, path: Path) -> None:
    """The chart as a standalone SVG file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(chart(hist).svg() + "\n", encoding="utf-8")


def matching(comparisons: list[CompareResult], where: Path | None = None) -> list[History]:
    """Histories of every saved baseline of the same workload as a compared one."""
    workloads = {(c.settings.profile, c.settings.pattern) for c in comparisons}
    out = []
    for name in baseline.names(where):
        try:
            settings = baseline.load(name, where).comparison.settings
        except baseline.BaselineError:
            continue
        if (settings.profile, settings.pattern) in workloads:
            out += [history(name, metric, where) for metric in REPORT_METRICS]
    return out


def section(histories: list[History]) -> str:
    """The report's HTML section of baseline histories ("" when there is none)."""
    if not histories:
        return ""
    from bench.report.html import table

    parts = ["<h2>Baseline history</h2>"]
    for hist in histories:
        parts += [
            f"<h3>{escape(hist.metric)} over baseline {escape(hist.name)}</h3>",
            '<div class="grid">' + chart(hist).svg() + "</div>",
            table(HEADER, rows(hist)),
        ]
        if hist.skipped:
            parts.append("<p>Skipped: " + escape("; ".join(hist.skipped)) + "</p>")
    return "".join(parts)


def markdown(histories: list[History]) -> str:
    lines: list[str] = []
    for hist in histories:
        lines += [f"## {hist.metric} over baseline {hist.name}", "",
                  "| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]  # fmt: skip
        lines += ["| " + " | ".join(r) + " |" for r in rows(hist)]
        lines.append("")
    return "\n".join(lines)
