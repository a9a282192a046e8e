"""A plain-text preview of a trace as it would be replayed, in the pattern preview's terms."""

from __future__ import annotations

import numpy as np

from workload.preview import phase_lines, rate_lines, services_line
from workload.schedule import Schedule
from workload.services import ServiceSpec
from workload.traces.trace import Trace

#: Subject prefixes listed before the rest are summed as "(other)".
TOP_PREFIXES = 10
PERCENTILES = (50, 90, 99)


def prefix_counts(schedule: Schedule) -> list[tuple[str, int]]:
    """Events per first subject token, most frequent first (ties by name)."""
    totals: dict[str, int] = {}
    counts = schedule.subject_counts()
    for index in np.flatnonzero(counts).tolist():
        prefix = schedule.subjects[index].split(".", 1)[0]
        totals[prefix] = totals.get(prefix, 0) + int(counts[index])
    return sorted(totals.items(), key=lambda item: (-item[1], item[0]))


def _window(schedule: Schedule) -> str:
    origin = schedule.trace
    if origin is None:
        return ""
    return f"{origin.window_start_s:g}:{origin.window_end_s:g} s"


def render_trace(
    trace: Trace, schedule: Schedule, services: list[ServiceSpec] | None = None
) -> str:
    """The preview text of ``trace`` replayed as ``schedule`` (no trailing newline)."""
    head = trace.header
    n = len(schedule)
    duration_s = head.duration_ns / 1e9
    origin = schedule.trace
    lines = [
        f"trace {head.name} ({trace.path}), {head.format}, written {head.created} by {head.tool}",
    ]
    if head.source or head.start:
        lines.append(f"from {head.source or '?'}, starting {head.start or '?'}")
    lines.append(
        f"events {len(trace):,} over {duration_s:g} s (mean {len(trace) / duration_s:,.1f}/s),"
        f" distinct subjects {len(trace.subjects):,}, payloads {'kept' if head.payloads else 'no'},"
        f" trace hash {head.hash}"
    )
    if origin is not None:
        lines.append(
            f"replay: speed {origin.speed:g}, scale {origin.scale:g}, window {_window(schedule)},"
            f" seed {origin.seed}: events {n:,} over {schedule.duration_s:g} s"
            f" (mean {n / schedule.duration_s:,.1f}/s)"
        )
    lines += ["", *phase_lines(schedule), "", *rate_lines(schedule), ""]
    counts = np.bincount(schedule.category_idx, minlength=len(schedule.categories)).tolist()
    lines.append(f"{'category':<12} {'events':>10} {'share':>7}")
    for category, count in zip(schedule.categories, counts, strict=True):
        lines.append(f"{category.value:<12} {count:>10,} {count / n:>7.1%}")
    prefixes = prefix_counts(schedule)
    lines += ["", f"{'subject prefix':<20} {'events':>10} {'share':>7}"]
    for prefix, count in prefixes[:TOP_PREFIXES]:
        lines.append(f"{prefix + '.':<20} {count:>10,} {count / n:>7.1%}")
    rest = prefixes[TOP_PREFIXES:]
    if rest:
        other = sum(count for _, count in rest)
        label = f"({len(rest)} others)"
        lines.append(f"{label:<20} {other:>10,} {other / n:>7.1%}")
    sizes = schedule.payload_size
    marks = np.percentile(sizes, PERCENTILES, method="inverted_cdf").tolist()
    lines += [
        "",
        "payload bytes: "
        + ", ".join(f"p{p} {int(v):,}" for p, v in zip(PERCENTILES, marks, strict=True))
        + f", max {int(sizes.max()):,}, mean {float(sizes.mean()):,.0f}",
    ]
    if services is not None:
        lines.append(services_line(services) + " (from the trace's subjects)")
    lines.append(f"schedule hash {schedule.hash}")
    return "\n".join(lines)
