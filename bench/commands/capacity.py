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
import math
import sys
import time

import msgspec

from bench.analysis.slo import load, parse_error_rate, parse_latencies
from bench.commands import options
from bench.exits import EXIT_SLO, EXIT_UNDETERMINED, EXIT_WORKER
from bench.experiments import trace_capacity
from bench.experiments.capacity import SearchSettings, StepResult
from bench.experiments.capacity_report import CapacityReport
from bench.experiments.capacity_step import (
    STEP_PATTERN,
    Criteria,
    Sizing,
    search_architectures,
    size,
)
from bench.host import machine_speed
from bench.host.environment import capture, command_line
from bench.run import source
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


def _progress(arch: str, step: StepResult, n: int, took: float) -> None:
    upper = step.latency_upper_ns[0] / 1e6 if step.latency_upper_ns else math.nan
    why = f" ({step.reasons[0]})" if step.reasons and step.verdict != "pass" else ""
    print(
        f"[capacity] {arch} step {n}: {step.rate:,.0f} ev/s -> {step.verdict}{why};"
        f" latency bound {upper:.1f} ms, rejected {step.reject_rate:.3%} of events,"
        f" failed {step.failure_rate:.3%} of deliveries,"
        f" backlog {step.backlog_slope[0]:+,.0f}/s, {took:.1f} s",
        file=sys.stderr,
        flush=True,
    )


def _describe(s: Sizing) -> list[str]:
    o = s.outcome
    lines = [f"{s.arch}:"]
    if o.capacity is not None:
        high = f"{o.high:,.0f}" if o.high is not None else "?"
        lines.append(
            f"  capacity {o.capacity:,.0f} events/s (interval {o.capacity:,.0f}-{high};"
            f" confirmed {o.confirmations_passed}/{o.confirmations_run})"
        )
    elif o.limited_by == "generator":
        shown = f"{o.low:,.0f}" if o.low is not None else "no"
        lines.append(
            f"  no capacity claimed: the generator fell behind first at {o.high:,.0f} events/s"
            f" (the router sustained {shown} events/s)"
        )
    elif o.limited_by == "max_rate":
        lines.append(f"  capacity at least {o.low:,.0f} events/s: --max-rate reached")
    elif o.limited_by == "min_rate":
        lines.append("  no rate down to the minimum met the SLO")
    else:
        low = f"{o.low:,.0f} events/s" if o.low is not None else "none"
        high = f"{o.high:,.0f} events/s" if o.high is not None else "none"
        lines.append(f"  search ran out of steps: highest pass {low}, lowest non-pass {high}")
    if s.deliveries_per_s is not None:
        lines.append(f"  at that rate {s.deliveries_per_s:,.0f} deliveries/s completed")
    if s.knee_rate is not None and s.low_load_latency_ns is not None:
        lines.append(
            f"  knee {s.knee_rate:,.0f} events/s (latency above 2x its low-load"
            f" {s.low_load_latency_ns / 1e6:.1f} ms beyond it)"
        )
    elif s.low_load_latency_ns is not None:
        top = max(t.rate for t in o.steps if t.verdict in ("pass", "fail"))
        lines.append(
            f"  no knee up to {top:,.0f} events/s: latency stayed within 2x its low-load"
            f" {s.low_load_latency_ns / 1e6:.1f} ms"
        )
    if s.memory_per_1k_eps_bytes is not None:
        lines.append(
            f"  memory {s.memory_per_1k_eps_bytes / 2**20:.2f} MiB per 1,000 events/s"
            f" (RSS growth over set-up at {o.low:,.0f} events/s)"
        )
    if s.peak is not None:
        if s.headroom is not None and s.instances is not None:
            lines.append(
                f"  peak {s.peak:,.0f}: headroom {s.headroom:+.0%};"
                f" instances needed {s.instances} (projection)"
            )
        verdict = {True: "meets", False: "cannot meet", None: "undetermined at"}[s.meets_peak]
        lines.append(f"  SLO {verdict} the peak of {s.peak:,.0f} events/s")
    return lines


def speed_line(spread: machine_speed.Spread) -> str:
    """The machine's speed during the search in plain words, and what it means."""
    return (
        f"Machine speed during the search (hashing {machine_speed.SAMPLE_S:g} s after each of"
        f" {len(spread.samples)} steps): median {spread.median:,.0f} bytes/us, slowest"
        f" {spread.low_ratio:.2f}x and fastest {spread.high_ratio:.2f}x of it. The steps ran"
        f" on a machine this variable: expect a capacity measured here to move by about"
        f" ±{spread.deviation:.0%} from one search to the next."
    )


def migration_summary(sizings: list[Sizing], slo_text: str) -> list[str]:
    """Plain words: which architecture carries more under the SLO, and what it means."""
    claimed = [s for s in sizings if s.outcome.capacity is not None]
    lines = ["Migration summary:"]
    for s in sizings:
        if s.outcome.capacity is None:
            shown = s.outcome.low
            bound = (
                f": it met the SLO up to {shown:,.0f} events/s, a lower bound only"
                if shown is not None
                else ""
            )
            lines.append(f"  {s.arch} has no capacity claim ({s.outcome.limited_by} limit){bound}.")
    if len(claimed) >= 2:
        ranked = sorted(claimed, key=lambda s: s.outcome.capacity or 0.0, reverse=True)
        best, other = ranked[0], ranked[-1]
        cb, co = best.outcome.capacity or 0.0, other.outcome.capacity or 1.0
        # Each capacity lies in [highest pass, lowest failure]; overlapping intervals
        # mean the search cannot tell the two apart.
        overlap = cb <= (other.outcome.high or math.inf)
        tail = "; their intervals overlap, so no difference is established." if overlap else "."
        lines.append(
            f"  Under {slo_text}, {best.arch} sustains {cb:,.0f} events/s against"
            f" {other.arch}'s {co:,.0f} ({cb / co:.2f}x){tail}"
        )
        if not overlap:
            lines.append(
                f"  Per instance, moving from {other.arch} to {best.arch} carries"
                f" {cb / co:.2f}x the load within the SLO."
                if best.arch != sizings[0].arch
                else f"  Per instance, {other.arch} would carry only {co / cb:.2f}x the load"
                f" {best.arch} carries within the SLO."
            )
        if best.instances is not None and other.instances is not None:
            lines.append(
                f"  At the stated peak that is {best.instances} instance(s) of {best.arch}"
                f" against {other.instances} of {other.arch} (a projection)."
            )
    elif len(claimed) == 1:
        lines.append(f"  Only {claimed[0].arch} has a claimed capacity; no comparison is made.")
    return lines


def run(args: argparse.Namespace) -> int:
    archs = [a.strip() for a in args.arch.split(",") if a.strip()]
    if args.trace is not None:
        return _run_trace(args, archs)
    source.resolve(args, archs, pattern=STEP_PATTERN)
    defaults = load()
    latency = parse_latencies(args.slo) if args.slo else defaults.latency
    error_limit = parse_error_rate(args.errors) if args.errors else defaults.error_rate
    step_s, precision, confirm, steps = args.step, args.precision, args.confirm, args.max_steps
    if args.quick:
        step_s, precision, confirm = min(step_s, 2.0), max(precision, 0.10), min(confirm, 1)
        steps = min(steps, 10)
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
    speeds: list[float] = []

    def on_step(arch: str, step: StepResult, n: int, took: float) -> None:
        _progress(arch, step, n, took)
        speeds.append(machine_speed.sample())

    try:
        outcomes = search_architectures(archs, base, settings, criteria, on_step=on_step)
    except RunFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_WORKER
    sizings = [size(arch, outcomes[arch], args.peak) for arch in archs]
    print(f"Capacity, profile {args.profile}, SLO {slo_text}")
    for s in sizings:
        print("\n".join(_describe(s)))
    print("\n".join(migration_summary(sizings, slo_text)))
    if speeds:
        print(speed_line(machine_speed.spread(speeds)))
    if args.json is not None:
        report = CapacityReport(
            schema=SCHEMA, environment=capture(args.loop, args.seed, "", command_line()),
            profile=args.profile, slo=tuple(o.text for o in latency), error_limit=error_limit,
            settings=settings, step_s=step_s, sizings=tuple(sizings),
            elapsed_s=time.monotonic() - began, machine_speed=tuple(speeds),
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
