"""Schedule building cost: wall time and peak memory of build_schedule, in fresh processes.

Each repetition is a fresh interpreter (``python -m bench.experiments.schedule_cost``) that
measures wall time and peak-RSS growth of one build; one more fresh process
measures the tracemalloc peak. Targets (issue 2): a 1,000,000-event schedule
builds in under 3 s and under 300 MB. Exit code 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys

from bench.commands import options
from bench.experiments.schedule_cost import CostSample, run_fresh

NAME = "schedule-cost"
HELP = "wall time and peak memory of building a schedule (fresh process per measurement)"

TARGET_S = 3.0
TARGET_MB = 300.0
MB_PER_MIB = 1024 * 1024 / 1e6


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--events", type=int, default=1_000_000, help="expected event count")
    options.profile(parser)
    options.pattern(parser, default="steady,spike", help="comma-separated workload patterns")
    options.seed(parser, "schedule seed")
    parser.add_argument("--reps", type=int, default=3, help="timed fresh processes per pattern")


def _row(pattern: str, timed: list[CostSample], traced: CostSample) -> tuple[str, bool]:
    walls = [s.build_s for s in timed]
    rss = [s.peak_rss_growth_mib * MB_PER_MIB for s in timed]
    worst_mb = max(max(rss), traced.traced_peak_mib * MB_PER_MIB)
    ok = max(walls) < TARGET_S and worst_mb < TARGET_MB
    traced_mb = traced.traced_peak_mib * MB_PER_MIB
    events_s = statistics.median(s.events_s for s in timed)
    events_mb = max(s.events_rss_growth_mib for s in timed) * MB_PER_MIB
    line = (
        f"{pattern:<11} {timed[0].events:>10,} {statistics.median(walls):>8.3f}"
        f" {min(walls):>7.3f}-{max(walls):<7.3f} {max(rss):>9.1f} {traced_mb:>10.1f}"
        f" {timed[0].arrays_mib * MB_PER_MIB:>8.1f}  {'ok' if ok else 'MISSED':<6}"
        f" {events_s:>10.2f} {events_mb:>10.0f}"
    )
    return line, ok


def run(args: argparse.Namespace) -> int:
    patterns = [p for p in args.pattern.split(",") if p]
    if args.events < 1 or args.reps < 1 or not patterns:
        print("error: --events and --reps must be >= 1 and --pattern non-empty", file=sys.stderr)
        return 2
    print(
        f"python {platform.python_version()}, profile {args.profile}, seed {args.seed},"
        f" ~{args.events:,} events, {args.reps} timed fresh processes + 1 traced per pattern;"
        f" targets < {TARGET_S:g} s and < {TARGET_MB:g} MB",
        flush=True,
    )
    print(
        f"{'pattern':<11} {'events':>10} {'median s':>8} {'min-max s':^15} {'RSS+ MB':>9}"
        f" {'traced MB':>10} {'kept MB':>8}  {'target':<6} {'events() s':>10}"
        f" {'events() MB':>10}"
    )
    all_ok = True
    for pattern in patterns:
        timed = [
            run_fresh(args.profile, pattern, args.seed, args.events, "time")
            for _ in range(args.reps)
        ]
        traced = run_fresh(args.profile, pattern, args.seed, args.events, "memory")
        if len({s.hash for s in [*timed, traced]}) != 1:
            print(f"error: {pattern}: the same seed gave different hashes", file=sys.stderr)
            return 1
        line, ok = _row(pattern, timed, traced)
        all_ok = all_ok and ok
        print(line, flush=True)
    print(
        "RSS+ = growth of peak RSS during the build (worst rep); traced = tracemalloc peak;"
        " kept = the schedule's arrays; events() = building the Event objects afterwards"
        " (median s, worst peak-RSS growth; not part of the target)"
    )
    return 0 if all_ok else 1
