"""Compare architectures under identical seeded load, with statistics.

Each run of each architecture is a fresh subprocess (``python -m bench run``);
runs are interleaved in randomized ABBA blocks, each after a discarded
warm-up. Every metric gets the ratio (architecture / first architecture) with
a 95% bootstrap CI over runs and a verdict against the ``--noise`` band.

Exit codes: 0 done; 2 usage or configuration error; 3 a run was invalid
(the tables and files are still written, and say which run and why).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from rich.console import Console

from bench import compare, environment, runner, summary
from bench.progress import RunProgress
from bench.schema import (
    SCHEMA,
    CompareResult,
    CompareSettings,
    RunRecord,
    RunResult,
    RunSpec,
    encode,
)
from events.errors import ConfigError

NAME = "compare"
HELP = "compare architectures under the same seeded load, with CIs and verdicts"

#: Seconds per measured run by default: 5 runs each of two architectures, with
#: warm-ups and interpreter start-ups, finish within 90 s on this machine.
DEFAULT_DURATION_S = 4.0
DEFAULT_WARMUP_S = 1.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pattern", default="spike", help="load pattern")
    parser.add_argument("--profile", default="medium", help="workload profile")
    parser.add_argument(
        "--arch",
        default="coordinator,daemon",
        help="comma-separated architectures; ratios are against the first",
    )
    parser.add_argument("--runs", type=int, default=5, help="measured runs per architecture")
    parser.add_argument(
        "--duration", type=float, default=DEFAULT_DURATION_S, help="seconds per measured run"
    )
    parser.add_argument(
        "--warmup", type=float, default=DEFAULT_WARMUP_S, help="seconds of each block's warm-up"
    )
    parser.add_argument("--base-rate", type=float, default=None, help="events/s (profile default)")
    parser.add_argument("--seed", type=int, default=1, help="seed of schedule, services and order")
    parser.add_argument(
        "--noise", type=float, default=0.05, help="relative band within which runs are equivalent"
    )
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    parser.add_argument("--services", choices=("sim", "noop"), default="sim")
    parser.add_argument("--json", type=Path, default=None, help="write the versioned results here")
    parser.add_argument("--markdown", type=Path, default=None, help="write Markdown tables here")
    parser.add_argument(
        "--run-timeout", type=float, default=120.0, help="seconds before a run counts as hung"
    )


def labels(archs: list[str]) -> dict[str, str]:
    """A unique label per position (``daemon``, ``daemon#2`` in an A/A run) -> architecture."""
    out: dict[str, str] = {}
    for arch in archs:
        label, n = arch, 1
        while label in out:
            n += 1
            label = f"{arch}#{n}"
        out[label] = arch
    return out


def _check(args: argparse.Namespace) -> list[str]:
    archs = [a.strip() for a in args.arch.split(",") if a.strip()]
    if len(archs) < 2:
        raise ConfigError(f"--arch needs at least two architectures, got {args.arch!r}")
    if args.runs < 2:
        raise ConfigError(f"--runs must be >= 2 for a confidence interval, got {args.runs}")
    if not args.duration > 0:
        raise ConfigError(f"--duration must be > 0, got {args.duration}")
    if args.warmup < 0:
        raise ConfigError(f"--warmup must be >= 0, got {args.warmup}")
    if not 0.0 <= args.noise < 1.0:
        raise ConfigError(f"--noise must be a fraction in [0, 1), got {args.noise}")
    runner.check_names(sorted(set(archs)), args.profile, args.pattern)
    # Build the schedule once here: a bad rate or duration fails before any run is spawned.
    import workload

    workload.build_schedule(
        args.seed, args.profile, args.pattern, duration_s=args.duration, base_rate=args.base_rate
    )
    return archs


def _command_line() -> list[str]:
    """The command as typed: ``python -m bench …`` rather than the path of ``__main__.py``."""
    if sys.argv and sys.argv[0].endswith("__main__.py"):
        return ["python", "-m", "bench", *sys.argv[1:]]
    return list(sys.argv)


def run(args: argparse.Namespace) -> int:
    archs = _check(args)
    names = labels(archs)
    order = list(names)
    blocks = runner.plan(order, args.runs, args.seed)
    base = RunSpec(
        arch=archs[0],
        profile=args.profile,
        pattern=args.pattern,
        seed=args.seed,
        duration_s=args.duration,
        base_rate=args.base_rate,
        loop=args.loop,
        services=args.services,
    )
    total = sum(len(b) for b in blocks) + (len(blocks) if args.warmup > 0 else 0)
    began = time.monotonic()
    with RunProgress(total) as progress:
        measured = runner.execute(
            blocks, base, args.warmup, progress, timeout_s=args.run_timeout, names=names
        )
    elapsed = time.monotonic() - began

    records = tuple(
        RunRecord(arch=blocks[b][p], block=b, position=p, result=r) for b, p, r in measured
    )
    by_arch: dict[str, list[RunResult]] = {label: [] for label in order}
    for record in records:
        by_arch[record.arch].append(record.result)
    hashes = {r.result.schedule_hash for r in records}
    if len(hashes) != 1:
        raise ConfigError(f"runs saw different schedules ({len(hashes)} hashes): not comparable")
    result = CompareResult(
        schema=SCHEMA,
        environment=environment.capture(args.loop, args.seed, hashes.pop(), _command_line()),
        settings=CompareSettings(
            archs=tuple(order),
            profile=args.profile,
            pattern=args.pattern,
            seed=args.seed,
            runs=args.runs,
            duration_s=args.duration,
            warmup_s=args.warmup,
            noise=args.noise,
            loop=args.loop,
            order=tuple(tuple(b) for b in blocks),
        ),
        runs=records,
        ratios=compare.compare_runs(order, by_arch, args.noise, args.seed),
        elapsed_s=elapsed,
    )
    summary.render(result, Console(file=sys.stdout, width=160))
    if args.json is not None:
        args.json.write_bytes(encode(result))
    if args.markdown is not None:
        args.markdown.write_text(summary.markdown(result))
    return 0 if all(r.result.valid for r in records) else runner.EXIT_INVALID
