"""Find each architecture's maximum sustainable throughput under an SLO.

Per architecture: a geometric ramp, a binary search over offered rate, then
confirmation runs at the rate found. Every step is a fresh `python -m bench run`
subprocess (steady Poisson load, the soak pattern's segments, at that base rate);
the architectures' steps are interleaved so background load hits both alike.
With --trace FILE the search is over --scale instead: each step replays the whole
trace at a multiple of today's traffic, and capacity is that multiple and its
events/s (bench/experiments/trace_capacity.py, docs/traces.md).

A step passes when the SLO holds on the upper 95% bound of each latency
percentile, the share of events rejected and the share of deliveries failed are
each within --errors, the backlog is not growing and the generator kept to its
schedule (see bench/experiments/capacity_step.py). Capacity is the highest confirmed passing
rate; its interval runs to the lowest failing rate.
When the generator, not the router, failed first, no capacity is claimed.

With --max-time the search is bounded in time and judges each rate by the majority
of its steps, repeating unconfirmed ones (bench/experiments/capacity_bounded.py); it
always ends with an interval. Beside each result: the CPU-demand bound (CPU seconds
per event from the steps, and what one core can carry by the utilisation law), with
--growth the months of headroom at --peak, with --target-host the bound on another
machine (both projections). The summary ends with the migration answer, whose latency
at --latency-at of each capacity (and recovery, where measured) comes from a short
equal-utilisation run of the spike pattern (or --at-capacity-from FILE).

Exit codes:
  0  every architecture sustains --peak (or no --peak was given)
  1  a run worker crashed or produced no result
  2  usage or configuration error
  5  an architecture cannot meet the SLO at --peak
  6  whether an architecture sustains --peak could not be determined
     (the generator or the step budget ran out first)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import msgspec

from bench.analysis.projection import parse_growth
from bench.analysis.slo import load, parse_error_rate, parse_latencies
from bench.commands import options
from bench.exits import EXIT_SLO, EXIT_UNDETERMINED, EXIT_WORKER
from bench.experiments import adaptive, at_capacity, planning, trace_capacity
from bench.experiments.at_capacity import Level
from bench.experiments.capacity import SearchOutcome, SearchSettings, StepResult
from bench.experiments.capacity_report import CapacityReport
from bench.experiments.capacity_step import (
    STEP_PATTERN,
    Criteria,
    Sizing,
    measure_step,
    search_architectures,
    size,
)
from bench.host import calibrate, machine_speed
from bench.host.calibrate import HOST_SCHEMA, HostSpeed
from bench.host.environment import capture, command_line
from bench.report import at_capacity as at_capacity_report
from bench.report import migration
from bench.report.capacity import step_line
from bench.report.capacity_text import describe, migration_summary, speed_line
from bench.run import source
from bench.run.progress import RunProgress
from bench.run.runner import RunFailed
from bench.schema import SCHEMA, RunSpec
from events.errors import ConfigError
from workload.traces import add_replay_options

NAME = "capacity"
HELP = "maximum sustainable throughput per architecture under an SLO"

EXIT_SLO_AT_PEAK = EXIT_SLO


def add_arguments(parser: argparse.ArgumentParser) -> None:
    options.arch(parser)
    options.profile(parser)
    parser.add_argument(
        "--slo",
        default=None,
        help="latency objectives, e.g. 'p99<=50ms,p99.9<=200ms'; unset: configs/slo.toml",
    )
    parser.add_argument(
        "--errors",
        default=None,
        help="limit on rejected events and on failed deliveries (each), e.g. 0.1%%;"
        " unset: configs/slo.toml",
    )
    parser.add_argument("--peak", type=float, default=None, help="production peak, events/s")
    options.json_out(parser, "the capacity report")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="~1 min: 2 s steps, 10%% precision, 1 confirmation, <= 10 steps",
    )
    parser.add_argument("--step", type=float, default=4.0, help="seconds per step (at least)")
    parser.add_argument("--start", type=float, default=500.0, help="first rate, events/s")
    parser.add_argument("--max-rate", type=float, default=64_000.0, help="events/s")
    parser.add_argument(
        "--precision", type=float, default=0.05, help="stop bisecting at high/low <= 1 + this"
    )
    parser.add_argument(
        "--confirm", type=int, default=2, help="confirmation runs at the found rate"
    )
    parser.add_argument("--max-steps", type=int, default=20, help="per architecture")
    options.trace(
        parser,
        "search over --scale of this trace instead (docs/traces.md): how many times today's"
        " traffic each architecture carries; the search starts at --scale (1: today)",
    )
    add_replay_options(parser)
    options.scenarios(parser)
    options.seed(parser)
    options.run_settings(parser, drain_default=2.0)
    options.max_time(
        parser,
        "bound the whole command to S seconds: the search repeats unconfirmed steps until it"
        " can claim or time runs out, and ends with an interval either way",
    )
    parser.add_argument(
        "--growth", default=None, help="growth of the peak, e.g. 8%%/month: months of headroom"
    )
    parser.add_argument(
        "--target-host",
        type=Path,
        default=None,
        metavar="FILE",
        help="a `host calibrate --out` file of another machine: scale the CPU-demand bound to it",
    )
    parser.add_argument(
        "--latency-at",
        type=float,
        default=0.8,
        metavar="U",
        help="for the migration answer: measure latency at U x each capacity (spike pattern,"
        " 2 runs each); 0 skips it",
    )
    parser.add_argument(
        "--at-capacity-from",
        type=Path,
        default=None,
        metavar="FILE",
        help="take that latency from a `compare --at-capacity --json` file instead",
    )


def _progress(arch: str, step: StepResult, n: int, took: float) -> None:
    print(step_line(arch, step, n, took), file=sys.stderr, flush=True)


#: Seconds kept from --max-time for the latency measurement after the search.
LATENCY_RESERVE_S = 40.0
#: Seconds kept for the demand probes (two per architecture, if the steps need them).
PROBE_RESERVE_S = 25.0
#: What one probe step is expected to cost (window, interpreter start, drain).
PROBE_COST_S = 6.0
#: Runs per architecture behind the migration answer's latency (figures, not verdicts).
LATENCY_RUNS = 2
#: Seconds per such run: compare's default.
LATENCY_RUN_S = 4.0


def _check(args: argparse.Namespace) -> None:
    if args.max_time is not None and not args.max_time > 0:
        raise ConfigError(f"--max-time must be > 0 seconds, got {args.max_time}")
    if args.growth is not None and args.peak is None:
        raise ConfigError("--growth needs --peak (the peak that grows)")
    if not 0.0 <= args.latency_at <= 1.5:
        raise ConfigError(f"--latency-at must lie in [0, 1.5], got {args.latency_at}")


def _target(path: Path) -> HostSpeed:
    try:
        target = msgspec.json.decode(path.read_bytes(), type=HostSpeed)
    except OSError as exc:
        raise ConfigError(f"--target-host {path}: cannot read: {exc.strerror}") from None
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ConfigError(f"--target-host {path}: not a host calibration: {exc}") from None
    if target.schema != HOST_SCHEMA:
        raise ConfigError(f"--target-host {path}: schema {target.schema!r} is not {HOST_SCHEMA!r}")
    return target


def _latency_level(
    args: argparse.Namespace, archs: list[str], sizings: list[Sizing]
) -> Level | None:
    """The equal-utilisation runs behind the migration answer (or one from a file)."""
    if args.at_capacity_from is not None:
        data = args.at_capacity_from.read_bytes()
        stored = at_capacity_report.decode(data, str(args.at_capacity_from))
        if not stored.levels:
            return None
        return min(stored.levels, key=lambda lv: abs(lv.level - (args.latency_at or 0.8)))
    if args.latency_at <= 0:
        return None
    try:
        capacities = at_capacity.from_sizings(sizings, archs, "this search")
    except ConfigError as exc:
        print(f"no latency at {args.latency_at:.0%}: {exc}", file=sys.stderr)
        return None
    base = RunSpec(
        arch=archs[0], profile=args.profile, pattern="spike", seed=args.seed,
        duration_s=LATENCY_RUN_S, loop=args.loop, services=args.services,
    )  # fmt: skip
    settings = adaptive.AdaptiveSettings(
        runs=LATENCY_RUNS, max_runs=LATENCY_RUNS, max_time_s=None, noise=0.05, seed=args.seed,
        warmup_s=1.0,
    )  # fmt: skip
    names = {a: a for a in archs}
    print(f"[capacity] latency at {args.latency_at:.0%} of each capacity", file=sys.stderr)
    with RunProgress(LATENCY_RUNS * len(archs) + 1) as progress:
        return at_capacity.measure_level(
            args.latency_at, archs, names, {c.arch: c for c in capacities}, base, settings,
            progress, lambda h: capture(args.loop, args.seed, h, command_line()),
        )  # fmt: skip


def _probes(
    args: argparse.Namespace,
    archs: list[str],
    outcomes: dict[str, SearchOutcome],
    base: RunSpec,
    criteria: Criteria,
    max_rate: float,
    began: float,
) -> dict[str, list[StepResult]]:
    """Steps for the CPU demand alone, where the search's rates span too little."""
    wanted = {a: planning.probe_rates(outcomes[a].steps, max_rate) for a in archs}
    count = sum(len(v) for v in wanted.values())
    if not count:
        return {}
    if args.max_time is not None:
        left = args.max_time - (time.monotonic() - began)
        left -= LATENCY_RESERVE_S if args.latency_at > 0 and not args.at_capacity_from else 0.0
        if left < count * PROBE_COST_S:
            print("[capacity] no time left for demand probes", file=sys.stderr)
            return {}
    out: dict[str, list[StepResult]] = {a: [] for a in archs}
    for i in range(max(len(v) for v in wanted.values())):
        for arch in archs if i % 2 == 0 else archs[::-1]:
            if i < len(wanted[arch]):
                rate = wanted[arch][i]
                began_step = time.monotonic()
                step = measure_step(
                    arch, rate, planning.PROBE_S, base, criteria,
                    drain_timeout_s=max(base.drain_timeout_s, 3 * planning.PROBE_S),
                )  # fmt: skip
                out[arch].append(step)
                print(
                    f"[capacity] {arch} demand probe: {rate:,.0f} ev/s, CPU"
                    f" {step.cpu_s:.2f} s for {step.events:,} events"
                    f" ({time.monotonic() - began_step:.1f} s)",
                    file=sys.stderr,
                    flush=True,
                )
    return out


def run(args: argparse.Namespace) -> int:
    _check(args)
    archs = [a.strip() for a in args.arch.split(",") if a.strip()]
    if args.trace is not None:
        return _run_trace(args, archs)
    source.resolve(args, archs, pattern=STEP_PATTERN)
    defaults = load()
    latency = parse_latencies(args.slo) if args.slo else defaults.latency
    error_limit = parse_error_rate(args.errors) if args.errors else defaults.error_rate
    growth = parse_growth(args.growth) if args.growth is not None else None
    target = _target(args.target_host) if args.target_host is not None else None
    if args.at_capacity_from is not None:
        at_capacity_report.decode(args.at_capacity_from.read_bytes(), str(args.at_capacity_from))
    step_s, precision, confirm, steps = args.step, args.precision, args.confirm, args.max_steps
    if args.quick:
        step_s, precision, confirm = min(step_s, 2.0), max(precision, 0.10), min(confirm, 1)
        steps = min(steps, 10)
    if args.max_time is not None:
        steps = max(steps, 200)  # the budget, not a step count, ends a bounded search
    settings = SearchSettings(
        start_rate=args.start, precision=precision, max_rate=args.max_rate,
        confirmations=confirm, max_steps=steps,
    )  # fmt: skip
    slo_text = ", ".join(o.text for o in latency) + f", errors<={error_limit:.3%}"
    base = RunSpec(
        arch=archs[0], profile=args.profile, pattern=STEP_PATTERN, seed=args.seed,
        loop=args.loop, services=args.services, drain_timeout_s=args.drain_timeout,
        **source.spec_fields(args),
    )  # fmt: skip
    criteria = Criteria(latency, error_limit, defaults.confidence, step_s)
    began = time.monotonic()
    here = calibrate.measure() if target is not None else None
    speeds: list[float] = []

    def on_step(arch: str, step: StepResult, n: int, took: float) -> None:
        _progress(arch, step, n, took)
        speeds.append(machine_speed.sample())

    search_s = None
    if args.max_time is not None:
        reserve = LATENCY_RESERVE_S if args.latency_at > 0 and not args.at_capacity_from else 0.0
        reserve += PROBE_RESERVE_S + (5.0 if target is not None else 0.0)
        search_s = max(0.0, args.max_time - reserve - (time.monotonic() - began))
    try:
        outcomes = search_architectures(
            archs, base, settings, criteria, on_step=on_step, max_time_s=search_s
        )
    except RunFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_WORKER
    try:
        probes = _probes(args, archs, outcomes, base, criteria, settings.max_rate, began)
    except RunFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_WORKER
    if target is not None and here is not None:
        here = calibrate.merge([here, calibrate.measure()])
    ratio = calibrate.speed_ratio(target, here) if target is not None and here else None
    sizings = [size(arch, outcomes[arch], args.peak) for arch in archs]
    plans = planning.plans(sizings, args.peak, growth, ratio, probes)
    sizings = [planning.settle_peak(s, p) for s, p in zip(sizings, plans, strict=True)]
    spread = machine_speed.spread(speeds) if speeds else None
    try:
        level = _latency_level(args, archs, sizings)
    except RunFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_WORKER
    answer = migration.paragraph(
        sizings, plans, slo_text, level, args.peak, growth, ratio,
        spread.deviation if spread is not None else None,
    )  # fmt: skip
    print(f"Capacity, profile {args.profile}, SLO {slo_text}")
    if args.max_time is not None:
        print(
            f"Bounded search (--max-time {args.max_time:g} s): each rate judged by the majority"
            " of its steps; every interval runs from the highest rate that passed by majority"
            " to the lowest the router failed by majority (open where none did)."
        )
    for s, p in zip(sizings, plans, strict=True):
        print("\n".join(describe(s)))
        print("\n".join(migration.plan_lines(s, p, spread, args.peak, growth, ratio)))
    deviation = spread.deviation if spread is not None else None
    print("\n".join(migration_summary(sizings, slo_text, deviation)))
    if spread is not None:
        print(speed_line(spread))
    print("Migration answer:")
    print(f"  {answer}")
    if args.json is not None:
        report = CapacityReport(
            schema=SCHEMA, environment=capture(args.loop, args.seed, "", command_line()),
            profile=args.profile, slo=tuple(o.text for o in latency), error_limit=error_limit,
            settings=settings, step_s=step_s, sizings=tuple(sizings),
            elapsed_s=time.monotonic() - began, machine_speed=tuple(speeds),
            max_time_s=args.max_time, plans=tuple(plans), growth=growth, here=here,
            target_host=target, speed_ratio=ratio, latency_at=level, migration=answer,
        )  # fmt: skip
        args.json.write_bytes(msgspec.json.encode(report))
    if any(s.meets_peak is False for s in sizings):
        return EXIT_SLO_AT_PEAK
    if any(s.meets_peak is None and s.peak is not None for s in sizings):
        return EXIT_UNDETERMINED
    return 0


def _run_trace(args: argparse.Namespace, archs: list[str]) -> int:
    """``capacity --trace``: the search over --scale (bench/experiments/trace_capacity.py)."""
    for name, default in (("start", 500.0), ("step", 4.0)):
        if getattr(args, name) != default:
            raise ConfigError(
                f"--{name} applies without --trace (a --trace step replays the whole trace,"
                " from --scale, 1 = today's traffic)"
            )
    start = args.scale
    args.scale = 1.0  # the replay at scale 1 is today's traffic
    schedule = source.resolve(args, archs)
    today = trace_capacity.Today(len(schedule), schedule.duration_s, len(schedule.phases))
    defaults = load()
    latency = parse_latencies(args.slo) if args.slo else defaults.latency
    error_limit = parse_error_rate(args.errors) if args.errors else defaults.error_rate
    precision, confirm, steps = args.precision, args.confirm, args.max_steps
    if args.quick:
        precision, confirm, steps = max(precision, 0.10), min(confirm, 1), min(steps, 10)
    criteria = Criteria(latency, error_limit, defaults.confidence)
    settings = trace_capacity.settings_for(
        today, criteria, start=start, max_rate_eps=args.max_rate, precision=precision,
        confirmations=confirm, max_steps=steps,
    )  # fmt: skip
    slo_text = ", ".join(o.text for o in latency) + f", errors<={error_limit:.3%}"
    base = RunSpec(
        arch=archs[0], profile=args.profile, pattern=args.pattern, seed=args.seed,
        loop=args.loop, services=args.services, drain_timeout_s=args.drain_timeout,
        **source.spec_fields(args),
    )  # fmt: skip
    print(f"[capacity] {source.describe(args.replay)}", file=sys.stderr, flush=True)
    began = time.monotonic()

    def on_step(arch: str, step: StepResult, n: int, took: float) -> None:
        print(trace_capacity.step_line(arch, step, n, took, today), file=sys.stderr, flush=True)

    try:
        outcomes = trace_capacity.search_scales(
            archs, base, today, settings, criteria, on_step=on_step
        )
    except RunFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_WORKER
    sizings = [trace_capacity.sizing(a, outcomes[a], today, args.peak) for a in archs]
    print(f"Capacity over {source.describe(args.replay)}, profile {args.profile}, SLO {slo_text}")
    for t in sizings:
        print("\n".join(trace_capacity.describe(t, today)))
    print("\n".join(trace_capacity.summary(sizings, today, slo_text)))
    if args.json is not None:
        report = trace_capacity.TraceCapacityReport(
            schema=SCHEMA, environment=capture(args.loop, args.seed, schedule.hash, command_line()),
            profile=args.profile, trace=args.replay, today=today,
            slo=tuple(o.text for o in latency), error_limit=error_limit, settings=settings,
            sizings=tuple(sizings), elapsed_s=time.monotonic() - began,
        )  # fmt: skip
        args.json.write_bytes(msgspec.json.encode(report))
    if any(t.sizing.meets_peak is False for t in sizings):
        return EXIT_SLO_AT_PEAK
    if any(t.sizing.meets_peak is None and t.sizing.peak is not None for t in sizings):
        return EXIT_UNDETERMINED
    return 0
