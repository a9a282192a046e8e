"""Memory profiles in the report: heap per iteration with the fitted growth, and tables."""

from __future__ import annotations

from html import escape

from bench.memory.profiles import MEMORY_HEADER, MemoryReport, memory_rows
from bench.report.svg import PALETTE, Axis, Chart, Series


def heap_chart(report: MemoryReport) -> Chart:
    """Traced heap after each iteration; dashed: the fitted growth (first iteration left out)."""
    chart = Chart(
        "Traced heap after each iteration (tracemalloc, after a full collection)",
        Axis("iteration"),
        Axis("traced heap (KiB)"),
        width=1300,
        height=360,
        note="dashed: OLS growth over iterations 2..N",
    )
    values: list[float] = []
    for i, p in enumerate(report.profiles):
        colour = PALETTE[i % len(PALETTE)]
        xs = [float(n + 1) for n in range(len(p.traced_bytes))]
        ys = [b / 1024 for b in p.traced_bytes]
        chart.series += [
            Series(f"{p.arch} ({'LEAK' if p.verdict.leak else 'no leak'})", xs, ys, colour),
            Series("", xs, ys, colour, "points"),
        ]
        if len(xs) > 1:
            kept = ys[1:]
            mid_x = sum(xs[1:]) / len(kept)
            mid_y = sum(kept) / len(kept)
            slope = p.verdict.slope / 1024
            fit = [mid_y + slope * (x - mid_x) for x in xs[1:]]
            chart.series.append(Series("", xs[1:], fit, colour, "line", dash="6 4", width=1.2))
        values += ys
    chart.x.fit([1.0, *[float(len(p.traced_bytes)) for p in report.profiles]], include_zero=False)
    chart.y.fit(values, include_zero=False, pad=0.2)
    return chart


def memory_section(report: MemoryReport) -> str:
    from bench.report.html import table

    parts = ["<h2>Memory profile</h2>"]
    if report.profiles:
        p = report.profiles[0]
        parts.append(
            f"<p>Profile {escape(p.profile)}, pattern {escape(p.pattern)}, {p.iterations}"
            f" iterations of {p.duration_s:g} s ({p.events_per_iteration:,} events each), seed"
            f" {p.seed}, each architecture in its own process under tracemalloc."
            " A leak is claimed only when the whole 95% CI of the growth lies above the"
            " threshold.</p>"
        )
    parts.append(
        f'<p class="meta">Command: <code>{escape(" ".join(report.environment.argv))}</code></p>'
    )
    parts.append(table(MEMORY_HEADER, memory_rows(report)))
    parts.append('<div class="grid">' + heap_chart(report).svg() + "</div>")
    for p in report.profiles:
        parts.append(f"<h3>{escape(p.arch)}: {escape(p.verdict.explanation)}</h3>")
        site_rows = [
            (f"{s.file}:{s.line}", f"{s.size_diff:,}", f"{s.count_diff:,}", f"{s.size:,}")
            for s in p.top_sites
        ]
        parts.append(table(("allocation site", "growth (B)", "blocks", "held (B)"), site_rows))
    return "".join(parts)
