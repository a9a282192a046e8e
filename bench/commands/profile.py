"""Profile one run of one architecture: a flame graph (SVG) and the top functions by self time.

py-spy samples the run worker from outside (``pip install py-spy``; it is in the dev
extra and the ``profile`` extra); where it is missing or cannot attach, cProfile runs
instead and the output says so (cProfile slows the run several times over, and its
flame graph is an approximation rebuilt from the call graph). Writes into --out:
``flame.svg``, ``stacks.txt`` (collapsed stacks, for other flame-graph tools) and
``profile.json`` (give it to ``python -m bench report`` to link the flame graph).

Exit codes: 0 profiled; 2 usage error, or --profiler py-spy when py-spy cannot run;
1 the profiled run produced no result.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.commands import options
from bench.experiments import profiling
from bench.host import environment
from bench.report import flame
from bench.run import runner
from bench.run.recorder import check_outages
from bench.schema import RunSpec
from events.errors import ConfigError

NAME = "profile"
HELP = "one run under py-spy (or cProfile): flame graph SVG and the top 20 functions"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    options.arch(parser, default="daemon")
    options.profile(parser)
    options.pattern(parser, default="spike")
    options.seed(parser)
    options.duration(parser, 8.0, "seconds of the profiled run")
    options.base_rate(parser)
    options.run_settings(parser, drain_default=10.0)
    options.outage(parser)
    parser.add_argument(
        "--profiler",
        choices=("auto", "py-spy", "cProfile"),
        default="auto",
        help="auto: py-spy, falling back to cProfile when it cannot attach",
    )
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--top", type=int, default=20, help="functions in the self-time table")
    parser.add_argument(
        "--out", type=Path, default=Path("profile"), help="folder for flame.svg and the rest"
    )


def _spec(args: argparse.Namespace) -> RunSpec:
    archs = [a.strip() for a in args.arch.split(",") if a.strip()]
    if len(archs) != 1:
        raise ConfigError(f"--arch: profile one architecture at a time, got {args.arch!r}")
    if not args.duration > 0:
        raise ConfigError(f"--duration must be > 0, got {args.duration}")
    if not 1 <= args.rate <= 2000:
        raise ConfigError(f"--rate must be 1 to 2000 samples/s, got {args.rate}")
    runner.check_names(archs, args.profile, args.pattern)
    if args.outage:
        check_outages(args.profile, args.outage, args.duration)
    return RunSpec(
        arch=archs[0], profile=args.profile, pattern=args.pattern, seed=args.seed,
        duration_s=args.duration, base_rate=args.base_rate, loop=args.loop,
        services=args.services, drain_timeout_s=args.drain_timeout, outages=tuple(args.outage),
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    spec = _spec(args)
    print(f"profiling {spec.arch} {spec.profile}/{spec.pattern} for {spec.duration_s:g} s ...",
          file=sys.stderr, flush=True)  # fmt: skip
    try:
        result = profiling.profile(
            spec, args.out, flame.svg, profiler=args.profiler, rate=args.rate, top=args.top,
            argv=tuple(environment.command_line()),
        )  # fmt: skip
    except profiling.ProfileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2 if args.profiler == "py-spy" and "py-spy" in str(exc) else 1
    json_path = args.out / "profile.json"
    json_path.write_bytes(profiling.encode(result))
    print(f"profiler: {result.profiler} ({result.note})")
    status = "valid" if result.run_valid else "INVALID: " + "; ".join(result.run_reasons)
    print(f"run: {result.throughput_dps:,.0f} deliveries/s, {status}")
    print(f"top {len(result.top)} functions by self time ({result.total:,.0f} {result.unit}):")
    print(f"{'self %':>7} {'total %':>8}  function")
    for row in result.top:
        print(f"{row.self_share:>7.1%} {row.total_share:>8.1%}  {row.function}")
    written = ", ".join(str(args.out / name) for name in (result.flame_svg, result.stacks_file))
    print(f"wrote {written}, {json_path}")
    return 0
