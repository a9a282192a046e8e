"""Sweep worker concurrency and fit the Universal Scalability Law per architecture.

Every subscription of the profile runs with N workers (N from --levels); each
point is a fresh `python -m bench run` subprocess offering steady load at --rate,
its throughput the deliveries completed per second in the window. The USL
X(N) = lambda N / (1 + sigma (N - 1) + kappa N (N - 1)) is fitted to the valid
points with residual-bootstrap 95% CIs (bench/analysis/usl.py). The profile's I/O-bound
services (datastore, mcp-gateway: awaited waits of 1-5 ms) are the ones that gain
from workers; CPU-bound ones share one core whatever N is. Points whose throughput
reached the offered load are capped by the load, not by N: they are flagged and
left out of the fit. N* outside the measured levels is flagged as an extrapolation.

Exit codes: 0 done; 2 usage or configuration error; 1 a run worker crashed.
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import msgspec

import workload
from bench.commands import options
from bench.exits import EXIT_WORKER
from bench.experiments.scalability import LEVELS, Point, Scaling, analyse, arch_at, sweep
from bench.host.environment import capture, command_line
from bench.run import source
from bench.run.runner import RunFailed
from bench.schema import SCHEMA, Environment, RunSpec
from events.errors import ConfigError

NAME = "scalability"
HELP = "throughput against worker concurrency, with a USL fit per architecture"
#: Default offered rate, in multiples of the profile's base rate: enough to saturate
#: the I/O-bound services at the low concurrencies without saturating the CPU.
RATE_FACTOR = 8.0


class ScalabilityReport(msgspec.Struct, frozen=True):
    """What ``scalability --json`` writes."""

    schema: str
    environment: Environment
    profile: str
    rate: float
    duration_s: float
    levels: tuple[int, ...]
    scalings: tuple[Scaling, ...]
    elapsed_s: float


def add_arguments(parser: argparse.ArgumentParser) -> None:
    options.arch(parser)
    options.profile(parser, default="light")
    options.scenarios(parser)
    parser.add_argument("--levels", default=",".join(map(str, LEVELS)), help="concurrency levels")
    parser.add_argument(
        "--rate", type=float, default=None, help="offered events/s (default: 8x the profile's)"
    )
    options.duration(parser, 3.0, "seconds per point")
    options.runs(parser, 1, "points per (arch, level)")
    options.seed(parser)
    options.loop(parser)
    options.drain_timeout(parser, 2.0)
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples")
    options.json_out(parser, "the scalability report")


def parse_levels(text: str) -> tuple[int, ...]:
    """'1,2,4' -> (1, 2, 4); raise ConfigError on anything but distinct positive integers."""
    try:
        levels = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise ConfigError(f"--levels {text!r}: expected comma-separated integers") from None
    if not levels or min(levels) < 1 or len(set(levels)) != len(levels):
        raise ConfigError(f"--levels {text!r}: need distinct integers >= 1")
    return levels


def _progress(point: Point, took: float) -> None:
    flags = ("" if point.valid else " INVALID") + (" load-limited" if point.load_limited else "")
    print(
        f"[scalability] {point.arch} N={point.concurrency}: {point.throughput_dps:,.0f}"
        f" deliveries/s of {point.offered_dps:,.0f} offered{flags}, {took:.1f} s",
        file=sys.stderr,
        flush=True,
    )


def _ci(interval: tuple[float, float], fmt: str = ".3g") -> str:
    return f"{interval[0]:{fmt}}-{interval[1]:{fmt}}"


def describe(s: Scaling) -> list[str]:
    """Plain lines for one architecture: its points, the fit and the notes."""
    lines = [f"{s.arch}:"]
    for p in s.points:
        flag = "" if p.valid else "  (invalid: " + "; ".join(p.reasons) + ")"
        lines.append(
            f"  N={p.concurrency:<3} {p.throughput_dps:>10,.0f} deliveries/s"
            f" (offered {p.offered_dps:,.0f}, rejected {p.reject_rate:.2%} of events,"
            f" failed {p.failure_rate:.2%} of deliveries){flag}"
        )
    f = s.fit
    if f is not None:
        n_star = "inf (no retrograde region)" if math.isinf(f.n_star) else f"{f.n_star:.3g}"
        lines.append(
            f"  USL: lambda {f.lambda_:,.0f}/s (CI {_ci(f.lambda_ci, ',.0f')}),"
            f" sigma {f.sigma:.3g} (CI {_ci(f.sigma_ci)}), kappa {f.kappa:.3g}"
            f" (CI {_ci(f.kappa_ci)})"
        )
        lines.append(
            f"  peak concurrency N* {n_star} (CI {_ci(f.n_star_ci)}),"
            f" model peak {f.peak_throughput:,.0f} deliveries/s"
        )
    lines += [f"  note: {n}" for n in s.notes]
    return lines


def run(args: argparse.Namespace) -> int:
    archs = [a.strip() for a in args.arch.split(",") if a.strip()]
    levels = parse_levels(args.levels)
    if args.duration <= 0 or args.runs < 1:
        raise ConfigError("--duration must be > 0 and --runs >= 1")
    source.resolve(args, [arch_at(a, levels[0]) for a in archs], pattern="steady")
    scenarios = workload.load_scenarios(args.scenarios)
    default_rate = RATE_FACTOR * scenarios.profile(args.profile).base_rate
    rate = args.rate if args.rate is not None else default_rate
    base = RunSpec(
        arch=archs[0], profile=args.profile, pattern="steady", seed=args.seed,
        duration_s=args.duration, base_rate=rate, loop=args.loop,
        drain_timeout_s=args.drain_timeout, **source.spec_fields(args),
    )  # fmt: skip
    began = time.monotonic()
    try:
        points = sweep(archs, levels, base, args.runs, on_point=_progress)
    except RunFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_WORKER
    scalings = [analyse(arch, points[arch], args.resamples) for arch in archs]
    print(f"Scalability, profile {args.profile}, {rate:,.0f} events/s offered, levels {levels}")
    for s in scalings:
        print("\n".join(describe(s)))
    if args.json is not None:
        report = ScalabilityReport(
            schema=SCHEMA, environment=capture(args.loop, args.seed, "", command_line()),
            profile=args.profile, rate=rate, duration_s=args.duration, levels=levels,
            scalings=tuple(scalings), elapsed_s=time.monotonic() - began,
        )  # fmt: skip
        args.json.write_bytes(msgspec.json.encode(report))
    return 0
