"""Scale out: N daemon processes on one JetStream stream, per N throughput, latency and a USL fit.

  python -m bench scale --arch jetstream --processes 1,2,4 [--pattern steady|--trace FILE]

Each point starts N `python -m daemon` processes (the jetstream transport, one
no-op subscription on `>`, sharing its durable consumer) on the command's
nats-server (started for it unless SWITCHYARD_NATS_URL names one), drives them
over HTTP in turn with the seeded open-loop schedule (--base-rate events/s at
the pattern's factor 1), and reports deliveries/s until nothing is pending,
acceptance and delivery latency, the daemons' and nats-server's CPU. The USL
is fitted with 3+ process counts (with 2, sigma alone), and the fitted curve
is evaluated at M machines: a projection (bench/experiments/scale.py).

Exit codes: 0 done; 3 a point was invalid (the figures are still printed);
2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import math
import os
import time

import msgspec

from bench import exits
from bench.commands import options
from bench.experiments import scale
from bench.host import environment, external
from bench.host.nats import SERVER_NAME, URL_VARIABLE
from bench.http.driver import LoadConfig
from bench.run import source
from bench.schema import SCHEMA, Environment
from events.errors import ConfigError

NAME = "scale"
HELP = "N daemon processes on one JetStream stream: throughput per N, USL fit, projection"


class ScaleReport(msgspec.Struct, frozen=True):
    """What ``scale --json`` writes."""

    schema: str
    environment: Environment
    settings: scale.ScaleSettings
    offered_eps: float
    points: tuple[scale.ScalePoint, ...]
    analysis: scale.ScaleAnalysis
    elapsed_s: float


def add_arguments(parser: argparse.ArgumentParser) -> None:
    options.arch(parser, default="jetstream")
    parser.add_argument("--processes", default="1,2,4", help="daemon process counts, e.g. 1,2,4")
    options.source(parser, default="steady")
    options.scenarios(parser)
    options.profile(parser, default="light")
    options.seed(parser)
    options.duration(parser, 5.0, "seconds of load per point (a pattern's)")
    parser.add_argument(
        "--base-rate", type=float, default=20_000.0, help="events/s offered at factor 1"
    )
    options.runs(parser, 1, "points per process count (order reversed each round)")
    parser.add_argument("--batch", type=int, default=50, help="events per request")
    parser.add_argument("--connections", type=int, default=64, help="pooled HTTP connections")
    parser.add_argument("--concurrency", type=int, default=16, help="workers of each daemon's sink")
    parser.add_argument("--settle", type=float, default=120.0, help="max s to wait for pending==0")
    parser.add_argument("--max-lag-ms", type=float, default=10.0, help="dispatch-lag p99 gate")
    parser.add_argument(
        "--resamples", type=int, default=1000, help="bootstrap resamples of the fit"
    )
    options.json_out(parser, "every point, the fit and the projection")


def parse_processes(text: str) -> tuple[int, ...]:
    """'1,2,4' -> (1, 2, 4); raise ConfigError on anything but distinct positive integers."""
    try:
        levels = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise ConfigError(f"--processes {text!r}: expected comma-separated integers") from None
    if not levels or min(levels) < 1 or len(set(levels)) != len(levels):
        raise ConfigError(f"--processes {text!r}: need distinct integers >= 1")
    return levels


def _check(args: argparse.Namespace) -> tuple[int, ...]:
    if [a.strip() for a in args.arch.split(",")] != ["jetstream"]:
        raise ConfigError(f"--arch {args.arch!r}: scale runs daemon processes on 'jetstream' only")
    for name in ("runs", "batch", "connections", "concurrency"):
        if getattr(args, name) < 1:
            raise ConfigError(f"--{name} must be >= 1, got {getattr(args, name)}")
    return parse_processes(args.processes)


def _settings(args: argparse.Namespace) -> scale.ScaleSettings:
    load = LoadConfig(
        url="", pattern=args.pattern, profile=args.profile, seed=args.seed,
        duration_s=args.duration if args.replay is None else None, base_rate=args.base_rate
        if args.replay is None else None, batch=args.batch, connections=args.connections,
        settle_s=args.settle, max_dispatch_lag_ms=args.max_lag_ms, source="bench-scale",
        **source.spec_fields(args),
    )  # fmt: skip
    return scale.ScaleSettings(load=load, concurrency=args.concurrency)


def _point_line(p: scale.ScalePoint) -> str:
    nats = (
        f"nats-server {p.nats_cpu_s:.2f} s ({p.nats_cpu_us_per_event:.1f} us/event)"
        if p.nats_cpu_s is not None and p.nats_cpu_us_per_event is not None
        else "nats-server CPU not measured"
    )
    flags = ("" if p.valid else "  INVALID: " + "; ".join(p.reasons)) + (
        "  (load-limited)" if p.load_limited else ""
    )
    return (
        f"  N={p.processes:<2} {p.throughput_dps:>9,.0f} deliveries/s  accepted"
        f" {p.accepted_per_s:,.0f}/s  202 p50/p99 {p.acceptance_p50_ms:.1f}/"
        f"{p.acceptance_p99_ms:.1f} ms  delivery p50/p99 {p.delivery_p50_ms:.1f}/"
        f"{p.delivery_p99_ms:.1f} ms  CPU: daemons {p.daemon_cpu_s:.2f} s, {nats},"
        f" driver {p.driver_cpu_s:.2f} s = {p.cores_busy:.2f} cores busy{flags}"
    )


def describe(points: list[scale.ScalePoint], a: scale.ScaleAnalysis) -> list[str]:
    """The plain-text report: the points, speed-ups, fit and the labelled projection."""
    lines = [_point_line(p) for p in points]
    if a.speedups:
        lines.append(
            "  speed-up over N=1 (medians): "
            + ", ".join(f"N={n}: {s:.2f}x" for n, s in a.speedups.items())
        )
    f = a.fit
    if f is not None:
        n_star = "inf" if math.isinf(f.n_star) else f"{f.n_star:.3g}"
        lines.append(
            f"  USL: lambda {f.lambda_:,.0f}/s (CI {f.lambda_ci[0]:,.0f}-{f.lambda_ci[1]:,.0f}),"
            f" sigma {f.sigma:.3g} (CI {f.sigma_ci[0]:.3g}-{f.sigma_ci[1]:.3g}),"
            f" kappa {f.kappa:.3g} (CI {f.kappa_ci[0]:.3g}-{f.kappa_ci[1]:.3g}), N* {n_star}"
        )
    for pr in a.projections:
        bound = (
            f"; CPU-bound {pr.cpu_bound_dps:,.0f}/s (a core per daemon), at which nats-server"
            f" needs {pr.nats_cores:.2f} cores"
            if pr.cpu_bound_dps and pr.nats_cores
            else ""
        )
        label = "PROJECTION (extrapolated)" if pr.extrapolated else "PROJECTION"
        lines.append(
            f"  {label}: {pr.machines} machines -> fitted {pr.throughput_dps:,.0f} deliveries/s"
            f" ({pr.speedup:.2f}x){bound}"
        )
    lines += [f"  note: {n}" for n in a.notes]
    return lines


def run(args: argparse.Namespace) -> int:
    levels = _check(args)
    schedule = source.resolve(args, [], duration_default=5.0)
    url = os.environ.get(URL_VARIABLE, "")
    if not url:
        raise ConfigError(f"no NATS server: {URL_VARIABLE} is not set (--arch jetstream sets it)")
    pid = external.decode(os.environ.get(external.VARIABLE, "")).get(SERVER_NAME)
    span_s = float(schedule.t_ns.max()) / 1e9 if len(schedule.t_ns) else 0.0
    offered = len(schedule.t_ns) / span_s if span_s > 0 else 0.0
    settings = _settings(args)
    began = time.monotonic()
    print(
        f"Scale on JetStream: {len(schedule.t_ns):,} events per point ({args.pattern},"
        f" {offered:,.0f} events/s offered), processes {levels}, batch {args.batch}",
        flush=True,
    )
    points = scale.sweep(
        levels, args.runs, url, pid, settings, offered,
        on_point=lambda p: print(_point_line(p), flush=True),
    )  # fmt: skip
    analysis = scale.analyse(points, args.resamples)
    print("\n".join(describe(points, analysis)[len(points) :]))
    if args.json is not None:
        report = ScaleReport(
            schema=SCHEMA, environment=environment.capture("uvloop", args.seed, "",
            environment.command_line()), settings=settings, offered_eps=offered,
            points=tuple(points), analysis=analysis, elapsed_s=time.monotonic() - began,
        )  # fmt: skip
        args.json.write_bytes(msgspec.json.encode(report))
    return exits.EXIT_OK if all(p.valid for p in points) else exits.EXIT_INVALID
