"""The report as one self-contained HTML page: inline CSS, inline SVG, no scripts.

Nothing is fetched when the page is viewed (no fonts, scripts or images from
elsewhere), so it opens the same offline, in CI artefacts and in a mail.
Tables reuse the comparison's own rows (:mod:`bench.report.summary`) so the report
and the terminal never disagree.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from html import escape

from bench.report import adaptive, figures, summary
from bench.report.svg import Chart
from bench.schema import CompareResult

CSS = """
body { font-family: sans-serif; margin: 24px; color: #222; max-width: 1340px; }
h1 { font-size: 22px; } h2 { font-size: 18px; border-bottom: 1px solid #ccc; margin-top: 32px; }
h3 { font-size: 15px; margin-top: 20px; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 12px; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.grid { display: flex; flex-wrap: wrap; gap: 12px; }
.grid svg { border: 1px solid #e4e4e4; background: #fff; }
.bad { color: #b00020; font-weight: bold; } .good { color: #11772d; font-weight: bold; }
.meta { color: #555; font-size: 12px; } code { background: #f6f6f6; padding: 1px 4px; }
.verdict-worse { color: #b00020; font-weight: bold; }
.verdict-better { color: #11772d; font-weight: bold; }
.verdict-inconclusive { color: #8a6d00; }
.summary { background: #f7f9fc; border-left: 4px solid #0072B2; padding: 4px 14px; }
"""


def table(header: Sequence[str], rows: Sequence[Sequence[str]], verdict_col: int = -1) -> str:
    """An HTML table; numbers right-aligned, a verdict column coloured by its label."""
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            text = escape(cell)
            if i == verdict_col:
                cells.append(f'<td class="verdict-{escape(cell.split()[0] if cell else "")}">'
                             f"{text}</td>")  # fmt: skip
            elif _numeric(cell):
                cells.append(f'<td class="num">{text}</td>')
            else:
                cells.append(f"<td>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _numeric(cell: str) -> bool:
    stripped = cell.replace(",", "").replace("%", "").replace("-", "", 1).replace(".", "", 1)
    return stripped.isdigit()


def charts(items: Sequence[Chart]) -> str:
    return '<div class="grid">' + "".join(c.svg() for c in items) + "</div>"


def comparison_section(result: CompareResult, index: int) -> str:
    """Tables, invalid runs and every figure of one comparison."""
    s = result.settings
    env = result.environment
    thr, lat = figures.over_time(result)
    invalid = summary.invalid_lines(result)
    parts = [
        f'<h2 id="compare-{index}">Comparison: pattern {escape(s.pattern)},'
        f" profile {escape(s.profile)}</h2>",
        f"<p>{escape(summary.headline(result))}</p>",
        f'<p class="meta">Command: <code>{escape(" ".join(env.argv))}</code></p>',
        "<h3>Per architecture (means over valid runs, or all runs when none is valid)</h3>",
        table(summary.ARCH_HEADER, summary.arch_rows(result)),
        f"<h3>{escape(summary.RESOURCE_TITLE)}</h3>",
        table(summary.RESOURCE_HEADER, summary.resource_rows(result)),
        "<h3>Ratios against the first architecture</h3>",
        table(summary.ratio_header(result), summary.ratio_rows(result), verdict_col=4),
        "".join(f'<p class="meta">{escape(line)}</p>' for line in adaptive.lines(result)),
    ]
    parts += [f"<h3>{escape(summary.PHASE_TITLE)}</h3>",
              table(summary.PHASE_HEADER, summary.phase_rows(result))]  # fmt: skip
    for title, header, rows in summary.sections(result):
        parts += [f"<h3>{escape(title)}</h3>", table(header, rows)]
    for line in (summary.trend_note(result), summary.slo_line(result)):
        if line:
            parts.append(f"<p>{escape(line)}</p>")
    if invalid:
        parts.append(
            "<ul>" + "".join(f'<li class="bad">{escape(x)}</li>' for x in invalid) + "</ul>"
        )
    parts += [
        "<h3>Latency distribution</h3>",
        charts([figures.latency_cdf(result), figures.hdr_percentiles(result)]),
        "<h3>Over time (per phase; the grey area is the load pattern)</h3>",
        charts([thr, lat]),
        charts([figures.phase_latency_throughput(result)]),
        "<h3>Through the run (250 ms windows; red and green lines: an outage begins and ends)</h3>",
        charts(figures.timeline_charts(result)),
    ]
    return "".join(parts)


def summary_block(paragraphs: Sequence[str]) -> str:
    """The executive summary, the report's first section."""
    body = "".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    return f'<h2 id="summary">Executive summary</h2><div class="summary">{body}</div>'


def environment_block(results: Sequence[CompareResult]) -> str:
    if not results:
        return ""
    env = results[0].environment
    rows = [
        ("Python", f"{env.python} ({env.implementation})"),
        ("uvloop", env.uvloop),
        ("CPU", f"{env.cpu_model} x{env.cpu_count}"),
        ("platform", env.platform),
        ("git", env.git_sha or "unknown"),
        ("config hash", env.config_hash),
    ]
    return "<h2>Environment</h2>" + table(("what", "value"), rows)


def page(title: str, sections: Sequence[str], generated_by: str) -> str:
    """The whole document."""
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
        f"<h1>{escape(title)}</h1>"
        f'<p class="meta">Generated {when} by <code>{escape(generated_by)}</code>.'
        " Latency counts from each event's intended send time (coordinated omission is not"
        " hidden); throughput counts completed deliveries only.</p>"
        + "".join(sections)
        + "</body></html>\n"
    )
