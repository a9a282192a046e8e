"""A profile in the report: a link to its flame graph and the top functions by self time."""

from __future__ import annotations

import os
from html import escape
from pathlib import Path

from bench.experiments.profiling import ProfileResult

HEADER = ("self %", "total %", "function")


def rows(profile: ProfileResult) -> list[tuple[str, ...]]:
    return [(f"{r.self_share:.1%}", f"{r.total_share:.1%}", r.function) for r in profile.top]


def title(profile: ProfileResult) -> str:
    s = profile.spec
    return (
        f"Profile: {s.arch}, {s.profile}/{s.pattern}, {s.duration_s or 0:g} s ({profile.profiler})"
    )


def link(profile: ProfileResult, folder: Path, base: Path | None) -> str:
    """The flame graph's path as the page should link it: relative to the page's folder."""
    target = folder / profile.flame_svg
    return os.path.relpath(target, base) if base is not None else str(target)


def profile_section(profile: ProfileResult, folder: Path, base: Path | None) -> str:
    from bench.report.html import table

    href = link(profile, folder, base)
    status = "valid" if profile.run_valid else "INVALID: " + "; ".join(profile.run_reasons)
    return "".join(
        [
            f"<h2>{escape(title(profile))}</h2>",
            f'<p><a href="{escape(href)}">Flame graph (SVG)</a> — {escape(profile.note)}.'
            f" The run: {profile.throughput_dps:,.0f} deliveries/s, {escape(status)}.</p>",
            f"<h3>Top {len(profile.top)} functions by self time"
            f" ({profile.total:,.0f} {escape(profile.unit)})</h3>",
            table(HEADER, rows(profile)),
        ]
    )


def profile_markdown(profile: ProfileResult, folder: Path) -> str:
    lines = [
        f"## {title(profile)}",
        "",
        f"Flame graph: `{folder / profile.flame_svg}` ({profile.note}).",
        "",
        "| " + " | ".join(HEADER) + " |",
        "|" + "---|" * len(HEADER),
        *["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows(profile)],
    ]
    return "\n".join(lines)
