"""``python -m workload trace import|info`` and the trace side of ``preview``.

Only parsing and printing live here; errors reach ``workload.cli`` which turns
them into exit 2 with a one-line message.
"""

from __future__ import annotations

import argparse

import numpy as np

from events.errors import ConfigError
from workload.config import Scenarios
from workload.services import build_services
from workload.traces.fields import FIELDS, parse_map
from workload.traces.importer import ImportOptions, ImportReport, import_log
from workload.traces.options import transform_from
from workload.traces.preview import render_trace
from workload.traces.reader import read_trace
from workload.traces.replay import event_categories, trace_schedule
from workload.traces.timestamps import TS_UNITS
from workload.traces.trace import CATEGORIES

SCENARIOS_HELP = "scenarios TOML: profiles, mix, subject sets, services, categories"
IMPORT_EPILOG = f"""\
Input: JSON lines (one object per line) or CSV with a header row; chosen by the
extension (.jsonl, .ndjson, .json, .csv; .gz is read compressed) or else by the
first character. Fields: ts (epoch number in --ts-unit, or an RFC 3339 time with
a zone), subject, size or payload (a string counts its UTF-8 bytes, any other
JSON value its compact encoding), and optionally source, priority (0-3),
category, headers_size. Other fields are ignored.

--map PATH=FIELD takes FIELD from PATH instead of a key named FIELD: dotted keys
(a.b.c, optional leading $.), [N] for a list item, ["x.y"] for a key with dots;
for CSV, PATH is a column name. Fields:
{", ".join(FIELDS)}.

A bad line stops the import with its line number and reason (exit 2) unless
--skip-bad counts and skips it. Events are sorted by timestamp; t counts from the
earliest. An event without a category gets the one of its subject's longest
[categories] prefix in the scenarios file, else its default. Nothing is written
to --out unless the import succeeds. The format is described in docs/traces.md.
"""


def preview_trace(args: argparse.Namespace, scenarios: Scenarios) -> str:
    """The text of ``preview --trace``."""
    trace = read_trace(args.trace)
    schedule = trace_schedule(
        trace,
        profile=args.profile,
        transform=transform_from(args),
        windows=args.windows,
        scenarios=scenarios,
    )
    services = build_services(schedule.profile, scenarios=scenarios, schedule=schedule)
    return render_trace(trace, schedule, services)


def add_trace_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    trace = commands.add_parser(
        "trace",
        help="import a log as a trace, or check one",
        description="Traces: your own traffic as JSON lines (docs/traces.md).",
    )
    sub = trace.add_subparsers(dest="trace_command", metavar="COMMAND", required=True)
    imp = sub.add_parser(
        "import",
        help="make a trace from JSON-lines or CSV logs",
        description="Make a trace from a JSON-lines or CSV log.",
        epilog=IMPORT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    imp.add_argument("src", metavar="SRC", help="the log file (.gz allowed)")
    imp.add_argument("--out", required=True, metavar="DST", help="the trace to write")
    imp.add_argument("--format", choices=("auto", "jsonl", "csv"), default="auto")
    imp.add_argument(
        "--map", action="append", default=[], metavar="PATH=FIELD", help="rename a field"
    )
    imp.add_argument("--skip-bad", action="store_true", help="count and skip bad lines")
    imp.add_argument("--with-payloads", action="store_true", help="keep payloads (base64)")
    imp.add_argument(
        "--ts-unit", choices=tuple(TS_UNITS), default="s", help="unit of epoch numbers"
    )
    imp.add_argument("--name", default="", help="the trace's name (default: SRC's stem)")
    imp.add_argument(
        "--phase",
        action="append",
        default=[],
        metavar="NAME=SECONDS",
        help="a phase mark, seconds from the first event (repeatable)",
    )
    imp.add_argument("--scenarios", "--config", dest="scenarios", default=None, help=SCENARIOS_HELP)
    info = sub.add_parser(
        "info",
        help="check a trace (format, every line, hash) and print its header and mix",
        description="Check a trace and print its header and category mix.",
    )
    info.add_argument("file", metavar="FILE")
    info.add_argument(
        "--scenarios", "--config", dest="scenarios", default=None, help=SCENARIOS_HELP
    )


def _phases(specs: list[str]) -> tuple[tuple[str, float], ...]:
    out = []
    for spec in specs:
        name, sep, start = spec.rpartition("=")
        try:
            seconds = float(start)
        except ValueError:
            seconds = -1.0
        if not sep or not name or not seconds >= 0:
            raise ConfigError(f"--phase must be NAME=SECONDS (>= 0), got {spec!r}")
        out.append((name, seconds))
    return tuple(out)


def run_import(args: argparse.Namespace, scenarios: Scenarios) -> list[str]:
    options = ImportOptions(
        format=args.format,
        mapping=parse_map(args.map),
        skip_bad=args.skip_bad,
        with_payloads=args.with_payloads,
        ts_unit=args.ts_unit,
        name=args.name,
        phases=_phases(args.phase),
        categories=scenarios.categories,
    )
    return import_lines(import_log(args.src, args.out, options))


def import_lines(report: ImportReport) -> list[str]:
    head = report.trace.header
    lines = [
        f"imported {report.events:,} events from {report.source} to {report.out}"
        f" ({head.duration_ns / 1e9:g} s from {head.start}, {len(report.trace.subjects):,}"
        " distinct subjects)"
    ]
    if report.bad:
        reasons = ", ".join(
            f"{count:,} {kind}" for kind, count in sorted(report.bad_reasons.items())
        )
        lines.append(f"skipped {report.bad:,} bad lines ({reasons}); first:")
        lines += [f"  {example}" for example in report.examples]
    if report.out_of_order:
        lines.append(
            f"{report.out_of_order:,} events came before the one above them; sorted by timestamp"
        )
    lines.append(f"trace hash {head.hash}")
    return lines


def run_info(args: argparse.Namespace, scenarios: Scenarios) -> list[str]:
    trace = read_trace(args.file)
    head = trace.header
    lines = [
        f"{trace.path}: {head.format}, {len(trace):,} events, hash verified",
        f"name {head.name}, created {head.created} by {head.tool}",
        f"source {head.source or '-'}, start {head.start or '-'},"
        f" duration {head.duration_ns / 1e9:g} s, payloads {'kept' if head.payloads else 'no'}",
        "phases " + (", ".join(f"{m.name}@{m.start_ns / 1e9:g}s" for m in head.phases) or "none"),
    ]
    own = int(np.count_nonzero(trace.category_idx >= 0))
    counts = np.bincount(event_categories(trace, scenarios.categories), minlength=len(CATEGORIES))
    total = max(1, len(trace))
    lines.append(
        "categories: "
        + ", ".join(
            f"{c.value} {n / total:.1%}" for c, n in zip(CATEGORIES, counts.tolist(), strict=True)
        )
        + f" ({own:,} events carry their own, the rest by [categories] prefix)"
    )
    return lines
