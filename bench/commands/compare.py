"""Compare architectures under identical seeded load, with statistics.

Each run of each architecture is a fresh subprocess (``python -m bench run``);
runs are interleaved in randomized ABBA blocks, each after a discarded
warm-up. Every metric gets the ratio (architecture / first architecture) with
a 95% bootstrap CI over runs and a verdict against the ``--noise`` band.

A run whose generator fell behind its schedule is INVALID for capacity claims:
its throughput is left out and the summary says so, but its latencies (measured
from the intended times) still count and the comparison stands.

Exit codes, first that applies: 0 done; 1 a run worker crashed; 2 usage or
configuration error; 3 a run was invalid (accounting broken, events lost: the
tables and files are still written, and say which run and why); 4 a confirmed
regression against --baseline; 5 an objective of --slo was broken.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from rich.console import Console

from bench import exits
from bench.analysis import baseline, compare, slo
from bench.commands import options
from bench.host import environment
from bench.report import document as report
from bench.report import summary
from bench.run import runner, source
from bench.run.progress import RunProgress
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
    options.source(parser, default="spike")
    options.scenarios(parser)
    options.profile(parser)
    options.arch(parser)
    options.runs(parser, 5, "measured runs per architecture")
    options.duration(parser, DEFAULT_DURATION_S, "seconds per measured run")
    parser.add_argument(
        "--warmup", type=float, default=DEFAULT_WARMUP_S, help="seconds of each block's warm-up"
    )
    options.base_rate(parser)
    options.seed(parser, "seed of schedule, services and run order")
    parser.add_argument(
        "--noise", type=float, default=0.05, help="relative band within which runs are equivalent"
    )
    options.loop(parser)
    options.services(parser)
    options.json_out(parser)
    options.markdown_out(parser)
    parser.add_argument(
        "--html", type=Path, default=None, help="write a self-contained HTML report"
    )
    parser.add_argument(
        "--baseline",
        default=None,
        metavar="NAME",
        help="judge every metric against saved baseline NAME (python -m bench baseline save)",
    )
    parser.add_argument(
        "--allow-mismatch",
        action="store_true",
        help="with --baseline: warn instead of refusing when the environment differs",
    )
    parser.add_argument(
        "--slo",
        nargs="?",
        type=Path,
        const=slo.DEFAULT_PATH,
        default=None,
        metavar="PATH",
        help="check every run against the objectives of PATH (configs/slo.toml if no PATH)",
    )
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
    if args.slo is not None:
        slo.load(args.slo)  # a bad objectives file fails before any run is spawned
    if args.baseline is not None:
        baseline.load(args.baseline)
    # Builds the schedule once here: a bad rate, duration or trace fails before any run.
    source.resolve(args, sorted(set(archs)), duration_default=DEFAULT_DURATION_S)
    if args.replay is not None:
        print(f"replaying {source.describe(args.replay)}", file=sys.stderr, flush=True)
    return archs


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
        **source.spec_fields(args),
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
        environment=environment.capture(
            args.loop, args.seed, hashes.pop(), environment.command_line()
        ),
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
    if args.html is not None:
        report.write_comparison_html(result, args.html, " ".join(environment.command_line()))
    return _verdict(result, args)


def _verdict(result: CompareResult, args: argparse.Namespace) -> int:
    """Judge the finished comparison: validity, then the baseline, then the objectives."""
    voided = [
        (record, gate)
        for record in result.runs
        for gate in record.result.gates
        if not gate.passed and gate.scope == "all"
    ]
    regression = False
    if args.baseline is not None:
        verdicts, regression, warnings = baseline.compare_to_baseline(
            result, args.baseline, allow_mismatch=args.allow_mismatch
        )
        for warning in warnings:
            print(f"warning: {warning}", file=sys.stderr)
        print(f"\nAgainst baseline {args.baseline!r}:")
        for ratio in verdicts:
            print(f"  {ratio.arch:<14} {ratio.metric:<18} {ratio.verdict:<12} {ratio.explanation}")
        for line in baseline.regressions(verdicts):
            print(f"REGRESSION: {line}")
    violations = [] if args.slo is None else slo.check(result, slo.load(args.slo))
    for violation in violations:
        print(f"SLO broken: run {violation.run} of {violation.arch}: {violation.detail}")
    if args.slo is not None and not violations:
        print(f"Every run met the objectives of {args.slo}.")
    if voided:
        return exits.EXIT_INVALID
    if regression:
        return exits.EXIT_REGRESSION
    if violations:
        return exits.EXIT_SLO
    return exits.EXIT_OK
