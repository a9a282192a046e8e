"""Profile memory per architecture: the same workload N times under tracemalloc.

Each architecture runs in its own fresh interpreter. Reported per architecture:
heap growth per iteration with its 95% CI and a leak verdict (leak only when the
whole CI lies above max(4 KiB, 1 B x events per iteration)), the allocation sites
that grew most (file:line), bytes the router holds per buffered event, traced peak
and peak RSS (tracemalloc inflates RSS: compare RSS from `compare`, not from here).

Exit codes: 0 no leak; 2 usage or configuration error; 5 a leak was found
(a broken memory-growth objective).
"""

from __future__ import annotations

import argparse
import sys

import msgspec

from bench.commands import options
from bench.exits import EXIT_SLO
from bench.host import environment
from bench.memory import profiles as memory
from bench.memory.probe import run_child
from bench.run import source

NAME = "memory"
HELP = "heap growth per iteration, leak verdict, allocation sites, bytes per buffered event"
#: A leak is a broken memory-growth objective.
EXIT_LEAK = EXIT_SLO


def add_arguments(parser: argparse.ArgumentParser) -> None:
    options.arch(parser)
    options.profile(parser, default="light")
    options.pattern(parser, help="load pattern of each iteration")
    options.scenarios(parser)
    parser.add_argument("--iterations", type=int, default=8, help="workload repetitions (>= 4)")
    options.duration(parser, 2.0, "seconds per iteration")
    options.base_rate(parser)
    options.seed(parser)
    options.json_out(parser, "the memory report")
    options.markdown_out(parser)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    archs = [a.strip() for a in args.arch.split(",") if a.strip()]
    if not archs:
        raise memory.MemoryProfileError("--arch names no architecture")
    if args.iterations < 4:
        raise memory.MemoryProfileError(f"--iterations must be >= 4, got {args.iterations}")
    if args.child:  # the parent checked everything; the child builds what it measures
        profile = run_child(archs[0], args.profile, args.pattern, args.seed, args.iterations,
                            args.duration, args.base_rate, args.scenarios)  # fmt: skip
        if args.json is not None:
            args.json.write_bytes(msgspec.json.encode(profile))
        return 0
    source.resolve(args, archs)

    def one(arch: str) -> memory.MemoryProfile:
        print(
            f"memory: profiling {arch} ({args.iterations} x {args.duration:g} s) ...",
            file=sys.stderr,
            flush=True,
        )
        profile = memory.profile_in_subprocess(
            arch, args.profile, args.pattern, args.seed, args.iterations, args.duration,
            args.base_rate, scenarios=args.scenarios,
        )  # fmt: skip
        print(
            f"memory: {arch}: {profile.verdict.explanation} ({profile.elapsed_s:.0f} s)",
            file=sys.stderr,
            flush=True,
        )
        return profile

    env = environment.capture("uvloop", args.seed, "", environment.command_line())
    report = memory.profile_all(archs, one, env)
    if args.json is not None:
        args.json.write_bytes(msgspec.json.encode(report))
    if args.markdown is not None:
        args.markdown.write_text(memory.memory_markdown(report) + "\n", encoding="utf-8")
    print(memory.memory_markdown(report))
    return EXIT_LEAK if any(p.verdict.leak for p in report.profiles) else 0
