"""Router micro-benchmark: deliveries/s at fan-out 1, 10 and 3-of-100, against a ceiling.

Each architecture (and the ceiling, bench/routers/ceiling.py) runs every scenario
--reps times, interleaved, each repetition in a fresh uvloop loop; the table
gives the median and min-max of deliveries/s (counted from the router's own
stats after drain) and router/ceiling. Then the bytes held per buffered event
are measured with tracemalloc. Exit code 1 when any repetition broke the
accounting identity or delivered less than expected.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys

import msgspec

from bench.commands import options
from bench.experiments import micro

NAME = "micro"
HELP = "router micro-benchmark (deliveries/s vs a minimal ceiling, bytes per buffered event)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    options.arch(parser, default="daemon")
    parser.add_argument(
        "--scenario",
        default=",".join(micro.SCENARIOS),
        help=f"comma-separated, from {', '.join(micro.SCENARIOS)}",
    )
    parser.add_argument("--reps", type=int, default=5, help="repetitions of each measurement")
    parser.add_argument(
        "--deliveries", type=int, default=300_000, help="about this many deliveries per repetition"
    )
    parser.add_argument("--batch", type=int, default=1000, help="events published per loop turn")
    parser.add_argument(
        "--memory-events", type=int, default=100_000, help="events buffered for the memory figure"
    )
    parser.add_argument("--no-memory", action="store_true", help="skip the memory measurement")
    parser.add_argument(
        "--breakdown",
        action="store_true",
        help="only the cost breakdown at fan-out 1 (best of 30 rounds of 20,000 events)",
    )
    options.json_out(parser, "every repetition")


def run(args: argparse.Namespace) -> int:
    archs = [a for a in args.arch.split(",") if a]
    scenarios = [s for s in args.scenario.split(",") if s]
    unknown = [s for s in scenarios if s not in micro.SCENARIOS]
    if unknown or not archs or args.reps < 1 or args.deliveries < 1 or args.batch < 1:
        print(f"error: bad arguments (unknown scenarios: {unknown})", file=sys.stderr)
        return 2
    everyone = [*archs, micro.CEILING]
    if args.breakdown:
        return _breakdown(everyone)
    print(
        f"python {platform.python_version()}, uvloop, {args.reps} reps, ~{args.deliveries}"
        f" deliveries each, batch {args.batch}, 1 KiB payloads;"
        f" load average {_load()} (other processes share the 2 cores)",
        flush=True,
    )

    def progress(rep: micro.Repetition) -> None:
        flag = "" if rep.valid else f"  INVALID {rep.identity_errors} delivered={rep.delivered}"
        print(
            f"  {rep.scenario:<10} {rep.arch:<28} {rep.rate:>12,.0f}/s"
            f" {rep.cpu_rate:>12,.0f}/cpu-s{flag}",
            flush=True,
        )

    results = micro.interleaved(
        everyone, scenarios, args.reps, args.deliveries, args.batch, progress
    )
    summaries = {key: micro.summarize(reps) for key, reps in results.items()}
    print()
    print(
        f"{'scenario':<10} {'arch':<28} {'median/s':>12} {'min-max/s':>25} {'vs ceiling':>10}"
        f" {'median/cpu-s':>13} {'vs ceiling':>10}"
    )
    for scenario in scenarios:
        ceiling = summaries[(scenario, micro.CEILING)]
        for arch in everyone:
            s = summaries[(scenario, arch)]
            ratio = s.median / ceiling.median
            cpu_ratio = s.cpu_median / ceiling.cpu_median
            span = f"{s.low:,.0f}-{s.high:,.0f}"
            mark = "" if s.valid else "  INVALID"
            print(
                f"{scenario:<10} {arch:<28} {s.median:>12,.0f} {span:>25} {ratio:>10.2f}"
                f" {s.cpu_median:>13,.0f} {cpu_ratio:>10.2f}{mark}"
            )
    print(f"load average after: {_load()}")
    memory = []
    if not args.no_memory:
        print()
        for arch in everyone:
            m = micro.run_memory(arch, args.memory_events)
            memory.append(m)
            print(
                f"memory {arch:<28} router {m.router_bytes_per_event:7.1f} B/event;"
                f" all beyond payload {m.total_bytes_per_event_beyond_payload:7.1f} B/event"
                f" ({m.events} buffered)"
            )
    if args.json is not None:
        doc = {
            "repetitions": [rep for reps in results.values() for rep in reps],
            "summaries": list(summaries.values()),
            "memory": memory,
        }
        args.json.write_bytes(msgspec.json.encode(doc))
    return 0 if all(s.valid for s in summaries.values()) else 1


def _breakdown(everyone: list[str]) -> int:
    print(f"python {platform.python_version()}, uvloop; load average {_load()}", flush=True)
    rows, (pipeline_ns, bare_ns) = micro.run_breakdown(everyone)
    print(f"best of {rows[0].rounds} rounds of {rows[0].events} events, fan-out 1, ns:")
    print(f"{'arch':<28} {'publish/event':>14} {'start+drain/delivery':>21} {'total':>8}")
    for row in rows:
        total = row.publish_ns + row.worker_ns
        print(f"{row.arch:<28} {row.publish_ns:>14.0f} {row.worker_ns:>21.0f} {total:>8.0f}")
    print(
        f"events.Pipeline.run alone: {pipeline_ns:.0f} ns;"
        f" awaiting the bare handler: {bare_ns:.0f} ns"
    )
    print(f"load average after: {_load()}")
    return 0


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())
