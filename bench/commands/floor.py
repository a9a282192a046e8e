"""The harness floor: the generator against ``null`` at a fixed rate, one process per run.

Each run offers ``--rate`` events/s (steady pattern, medium mix) for
``--duration`` seconds to the ``null`` architecture with one no-op subscriber,
so every cost it shows is the harness's: generator, publish path and
completion recorder. Per run it prints the completed rate, the dispatch lag
(p99, p99.9, max), the generator's time inside publish per event and as a share
of the window (how loaded the loop was), CPU per event (the generator polls the
clock between close events, so at high rates this is near wall time, not the
harness's cost) and the CPU time the hypervisor stole from the machine.

Exit codes: 0 the median run's dispatch-lag p99 is under ``--objective-ms`` and
every run delivered every event; 5 otherwise; 2 usage error; 1 a run crashed.
"""

from __future__ import annotations

import argparse
import sys

import msgspec

from bench import exits
from bench.commands import options
from bench.experiments import floor
from bench.host import environment
from bench.run.progress import wants_plain
from bench.run.runner import RunFailed, run_in_subprocess
from bench.schema import RunSpec

NAME = "floor"
HELP = "harness floor: dispatch lag of the generator against null at a fixed rate"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rate", type=float, default=floor.RATE_EPS, help="events/s offered")
    options.duration(parser, 5.0, "seconds per run")
    options.runs(parser, 5, "runs, each a fresh process")
    options.seed(parser, "schedule seed")
    options.loop(parser)
    options.json_out(parser, "the runs and the verdict")
    parser.add_argument(
        "--objective-ms",
        type=float,
        default=floor.OBJECTIVE_P99_NS / 1e6,
        help="dispatch-lag p99 the median run must stay under",
    )


def _check(args: argparse.Namespace) -> str | None:
    if args.rate <= 0 or args.duration <= 0 or args.objective_ms <= 0:
        return "--rate, --duration and --objective-ms must be > 0"
    if args.runs < 1:
        return "--runs must be >= 1"
    return None


def run(args: argparse.Namespace) -> int:
    problem = _check(args)
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
        return exits.EXIT_USAGE
    spec = RunSpec(
        arch="null", profile="medium", pattern="steady", seed=args.seed,
        duration_s=args.duration, base_rate=args.rate, loop=args.loop, services="noop",
    )  # fmt: skip
    print(
        f"null, noop subscriber on '>', steady {args.rate:,.0f} events/s for {args.duration:g} s,"
        f" {args.runs} runs ({args.loop}); objective: dispatch lag p99 < {args.objective_ms:g} ms",
        flush=True,
    )
    print(
        f"{'run':>3} {'offered/s':>10} {'completed/s':>11} {'lag p99':>9} {'p99.9':>9}"
        f" {'max':>9} {'publish':>10} {'busy':>5} {'CPU':>10} {'steal':>8}"
    )
    runs: list[floor.FloorRun] = []
    schedule_hash = ""
    live = not wants_plain(sys.stderr)
    for index in range(args.runs):
        if live:
            print(f"  run {index + 1}/{args.runs} ...", end="\r", file=sys.stderr, flush=True)
        try:
            result = run_in_subprocess(spec, timeout_s=args.duration * 6 + 60)
        except RunFailed as exc:
            print(f"error: {exc}", file=sys.stderr)
            return exits.EXIT_WORKER
        schedule_hash = result.schedule_hash
        r = floor.floor_run(result)
        runs.append(r)
        print(
            f"{index + 1:>3} {r.offered_eps:>10,.0f} {r.completed_dps:>11,.0f}"
            f" {r.lag_p99_ns / 1e6:>6.3f} ms {r.lag_p999_ns / 1e6:>6.3f} ms"
            f" {r.lag_max_ns / 1e6:>6.2f} ms {r.publish_us_per_event:>5.2f} us/ev"
            f" {r.busy_share:>5.0%} {r.cpu_us_per_event:>5.2f} us/ev {r.steal_s:>6.2f} s"
            + ("" if r.delivered_all else "  LOST DELIVERIES"),
            flush=True,
        )
    v = floor.verdict(runs, int(args.objective_ms * 1e6))
    print(
        f"dispatch lag p99 under {args.objective_ms:g} ms in {v.runs_met} of {v.runs} runs;"
        f" median p99 {v.median_p99_ns / 1e6:.3f} ms: objective {'MET' if v.met else 'NOT MET'}"
    )
    if args.json is not None:
        argv = environment.command_line()
        report = floor.FloorReport(
            schema=floor.FLOOR_SCHEMA,
            environment=environment.capture(args.loop, args.seed, schedule_hash, argv),
            rate_eps=args.rate,
            duration_s=args.duration,
            runs=tuple(runs),
            verdict=v,
        )
        args.json.write_bytes(msgspec.json.encode(report))
    return exits.EXIT_OK if v.met else exits.EXIT_SLO
