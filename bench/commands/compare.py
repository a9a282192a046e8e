"""Compare architectures under identical seeded load, with statistics.

Each run of each architecture is a fresh subprocess (``python -m bench run``);
runs are interleaved in randomized ABBA blocks, each after a discarded
warm-up. Every metric gets the ratio (architecture / first architecture) with
a 95% bootstrap CI over runs and a verdict against the ``--noise`` band.

The run count adapts: after the first ``--runs`` per architecture, ABBA blocks are
added while a headline metric (throughput, p50, p99) is inconclusive, up to
``--max-runs`` and while another block fits in ``--max-time``; every look's intervals
use the Pocock level for the looks planned (bench/analysis/sequential.py), and the
output says how many runs each verdict used and why it stopped.

``--at-capacity 0.5,0.8`` compares each architecture at those fractions of its own
capacity instead (from ``--capacity-from FILE``, or a quick search first), latency
per level and the capacity ratio (bench/experiments/at_capacity.py).

A run whose generator fell behind its schedule is INVALID for capacity claims:
its throughput is left out and the summary says so, but its latencies (measured
from the intended times) still count and the comparison stands.

Exit codes, first that applies: 0 done; 1 a run worker crashed; 2 usage or
configuration error; 3 a run was invalid (accounting broken, events lost: the
tables and files are still written, and say which run and why); 4 a confirmed
regression against --baseline; 5 an objective of --slo was broken at its fail level
(objectives at the warn level print "SLO warning" and are kept in the JSON; exit 0);
6 (with --at-capacity) an architecture has no capacity to take a fraction of.

--outage SERVICE:START:DURATION (repeatable) takes a simulated service down for a
window of every measured run: its breaker opens and closes, and the tables report
breaker trips, time open, dead letters by reason and the recovery after the outage.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import msgspec
from rich.console import Console

from bench import exits
from bench.analysis import baseline, slo, trend
from bench.commands import options
from bench.experiments import adaptive, at_capacity
from bench.experiments.capacity import SearchOutcome, StepResult
from bench.experiments.capacity_report import load_report
from bench.experiments.capacity_step import STEP_PATTERN, Criteria
from bench.host import environment, machine_speed
from bench.report import at_capacity as at_capacity_report
from bench.report import document as report
from bench.report import summary
from bench.report.capacity import step_line
from bench.run import runner, source
from bench.run.progress import RunProgress
from bench.run.recorder import check_outages
from bench.schema import (
    SCHEMA,
    CompareResult,
    CompareSettings,
    Environment,
    RunSpec,
    SloOutcome,
    encode,
)
from events.errors import ConfigError
from workload import load_scenarios

NAME = "compare"
HELP = "compare architectures under the same seeded load, with CIs and verdicts"

#: Seconds per measured run by default: 5 runs each of two architectures, with
#: warm-ups and interpreter start-ups, finish within 90 s on this machine.
DEFAULT_DURATION_S = 4.0
DEFAULT_WARMUP_S = 1.0
DEFAULT_RUNS = 5
#: The default time budget: the first runs always run; blocks are added while one fits.
DEFAULT_MAX_TIME_S = 85.0
DEFAULT_MAX_RUNS = 9
#: With --at-capacity and no --max-time: the quick search's budget, and each level's.
SEARCH_TIME_S = 150.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    options.source(parser, default="spike")
    options.scenarios(parser)
    options.profile(parser)
    options.arch(parser)
    options.runs(parser, DEFAULT_RUNS, "measured runs per architecture before the first look")
    parser.add_argument(
        "--max-runs",
        type=int,
        default=DEFAULT_MAX_RUNS,
        help="runs per architecture the comparison may grow to while a headline verdict"
        " (throughput, p50, p99) is inconclusive",
    )
    options.max_time(
        parser,
        f"seconds the comparison may take; a block is added only if it fits (default"
        f" {DEFAULT_MAX_TIME_S:g}; with --at-capacity {SEARCH_TIME_S:g} for the search plus"
        f" {DEFAULT_MAX_TIME_S:g} per level)",
    )
    parser.add_argument(
        "--at-capacity",
        default=None,
        metavar="LEVELS",
        help="compare at these fractions of each architecture's own capacity, e.g. 0.5,0.8,0.95",
    )
    parser.add_argument(
        "--capacity-from",
        type=Path,
        default=None,
        metavar="FILE",
        help="with --at-capacity: capacities from this `capacity --json` file (else a quick"
        " search runs first)",
    )
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
    options.outage(parser)
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
    if args.max_time is not None and not args.max_time > 0:
        raise ConfigError(f"--max-time must be > 0 seconds, got {args.max_time}")
    if args.at_capacity is not None:
        at_capacity.parse_levels(args.at_capacity)
        if args.base_rate is not None:
            raise ConfigError("--at-capacity sets each architecture's rate: drop --base-rate")
        if args.capacity_from is not None:
            load_report(args.capacity_from)
    elif args.capacity_from is not None:
        raise ConfigError("--capacity-from needs --at-capacity")
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
    schedule = source.resolve(args, sorted(set(archs)), duration_default=DEFAULT_DURATION_S)
    if args.replay is not None:
        print(f"replaying {source.describe(args.replay)}", file=sys.stderr, flush=True)
    if args.outage:
        if args.services != "sim":
            raise ConfigError("--outage needs the simulated services (--services sim)")
        scenarios = load_scenarios(args.scenarios)
        specs = source.service_specs(args.profile, scenarios, schedule)
        check_outages(specs, args.outage, schedule.duration_s)
    return archs


def _adaptive(args: argparse.Namespace, max_time_s: float | None) -> adaptive.AdaptiveSettings:
    return adaptive.AdaptiveSettings(
        runs=args.runs,
        max_runs=max(args.max_runs, args.runs),
        max_time_s=max_time_s,
        noise=args.noise,
        seed=args.seed,
        warmup_s=args.warmup,
        timeout_s=args.run_timeout,
    )


def run(args: argparse.Namespace) -> int:
    archs = _check(args)
    if args.at_capacity is not None:
        return _at_capacity(args, archs)
    names = labels(archs)
    order = list(names)
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
        outages=tuple(args.outage),
    )
    first = runner.plan(order, args.runs, args.seed)
    total = sum(len(b) for b in first) + (len(first) if args.warmup > 0 else 0)
    settings = _adaptive(args, args.max_time if args.max_time is not None else DEFAULT_MAX_TIME_S)
    began = time.monotonic()
    with RunProgress(total) as progress:
        outcome = adaptive.run_adaptive(order, base, settings, progress, names=names)
    elapsed = time.monotonic() - began

    records = outcome.records
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
            runs=min(sum(1 for r in records if r.arch == label) for label in order),
            duration_s=args.duration,
            warmup_s=args.warmup,
            noise=args.noise,
            loop=args.loop,
            order=outcome.blocks,
            outages=tuple(args.outage),
        ),
        runs=records,
        ratios=outcome.ratios,
        elapsed_s=elapsed,
        sequential=outcome.sequential,
    )
    objectives = slo.load(args.slo if args.slo is not None else slo.DEFAULT_PATH)
    result = msgspec.structs.replace(
        result, rss_trends=trend.run_trends(result, objectives.rss_growth_mib_per_h)
    )
    if args.slo is not None:
        result = msgspec.structs.replace(
            result,
            slo=SloOutcome(
                source=str(args.slo),
                objectives=objectives.texts(),
                violations=tuple(slo.check(result, objectives)),
            ),
        )
    summary.render(result, Console(file=sys.stdout, width=160))
    if args.json is not None:
        args.json.write_bytes(encode(result))
    if args.markdown is not None:
        args.markdown.write_text(summary.markdown(result))
    if args.html is not None:
        report.write_comparison_html(result, args.html, " ".join(environment.command_line()))
    return _verdict(result, args)


class _Steps:
    """Prints each quick-search step and samples the machine's speed after it."""

    def __init__(self) -> None:
        self.speeds: list[float] = []

    def __call__(self, arch: str, step: StepResult, n: int, took: float) -> None:
        print(step_line(arch, step, n, took), file=sys.stderr, flush=True)
        self.speeds.append(machine_speed.sample())


def _at_capacity(args: argparse.Namespace, archs: list[str]) -> int:
    """``--at-capacity``: capacities (file or quick search), then one comparison per level."""
    levels = at_capacity.parse_levels(args.at_capacity)
    names = labels(archs)
    order = list(names)
    unique = list(dict.fromkeys(archs))
    base = RunSpec(
        arch=archs[0], profile=args.profile, pattern=args.pattern, seed=args.seed,
        duration_s=args.duration, loop=args.loop, services=args.services,
    )  # fmt: skip
    budget = args.max_time
    began = time.monotonic()
    outcomes: tuple[SearchOutcome, ...] = ()
    steps = _Steps()
    if args.capacity_from is not None:
        sizings = load_report(args.capacity_from).sizings
        capacities = at_capacity.from_sizings(sizings, unique, str(args.capacity_from))
    else:
        objectives = slo.load(args.slo) if args.slo is not None else slo.load()
        criteria = Criteria(
            objectives.latency, objectives.error_rate, objectives.confidence,
            at_capacity.QUICK_STEP_S,
        )  # fmt: skip
        search_s = SEARCH_TIME_S if budget is None else 0.5 * budget
        step_base = msgspec.structs.replace(base, pattern=STEP_PATTERN, drain_timeout_s=2.0)
        found = at_capacity.quick_search(unique, step_base, criteria, search_s, on_step=steps)
        outcomes = tuple(found[a] for a in unique)
        source = f"quick search ({', '.join(o.text for o in objectives.latency)})"
        try:
            capacities = [at_capacity.from_outcome(a, found[a], source) for a in unique]
        except ConfigError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return exits.EXIT_UNDETERMINED
    by_arch = {c.arch: c for c in capacities}
    per_level = DEFAULT_MAX_TIME_S
    if budget is not None:
        per_level = max(0.0, budget - (time.monotonic() - began)) / len(levels)
    settings = _adaptive(args, per_level)

    def env(schedule: str) -> Environment:
        return environment.capture(args.loop, args.seed, schedule, environment.command_line())

    measured = []
    for level in levels:
        first = runner.plan(order, args.runs, args.seed)
        total = sum(len(b) for b in first) + (len(first) if args.warmup > 0 else 0)
        print(f"[at-capacity] level {level:.0%}", file=sys.stderr, flush=True)
        with RunProgress(total) as progress:
            measured.append(
                at_capacity.measure_level(
                    level, order, names, by_arch, base, settings, progress, env
                )
            )
    deviation = machine_speed.spread(steps.speeds).deviation if steps.speeds else None
    result = at_capacity.AtCapacityResult(
        schema=at_capacity.AT_CAPACITY_SCHEMA,
        environment=env(""),
        profile=args.profile,
        pattern=args.pattern,
        capacities=tuple(capacities),
        ratios=tuple(
            at_capacity.capacity_ratio(by_arch[archs[0]], by_arch[a], args.noise, deviation)
            for a in archs[1:]
        ),
        levels=tuple(measured),
        elapsed_s=time.monotonic() - began,
        search=outcomes,
        machine_speed=tuple(steps.speeds),
    )
    print("\n".join(at_capacity_report.text(result)))
    if args.json is not None:
        args.json.write_bytes(msgspec.json.encode(result))
    if args.markdown is not None:
        args.markdown.write_text(at_capacity_report.markdown(result))
    if args.html is not None:
        at_capacity_report.write_html(result, args.html, " ".join(environment.command_line()))
    voided = any(
        not g.passed and g.scope == "all"
        for level in measured for r in level.comparison.runs for g in r.result.gates
    )  # fmt: skip
    return exits.EXIT_INVALID if voided else exits.EXIT_OK


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
    violations = [] if result.slo is None else list(result.slo.violations)
    for violation in violations:
        head = "SLO broken" if violation.level == "fail" else "SLO warning"
        print(f"{head}: run {violation.run} of {violation.arch}: {violation.detail}")
    if args.slo is not None and not violations:
        print(f"Every run met the objectives of {args.slo}.")
    if voided:
        return exits.EXIT_INVALID
    if regression:
        return exits.EXIT_REGRESSION
    if any(v.level == "fail" for v in violations):
        return exits.EXIT_SLO
    return exits.EXIT_OK
