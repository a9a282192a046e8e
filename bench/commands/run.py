"""Measure one run of one architecture in this process (the worker ``compare`` spawns).

Exit codes: 0 the run is valid; 2 usage or configuration error; 3 the run
completed but failed a validity gate (its result is still written).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import msgspec

from bench import exits
from bench.commands import options
from bench.run import source, worker
from bench.schema import RunResult, RunSpec, encode
from events.errors import ConfigError

NAME = "run"
HELP = "measure one run of one architecture (the worker behind compare)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    options.arch(parser, default="null")
    options.profile(parser)
    options.source(parser)
    options.scenarios(parser)
    options.seed(parser)
    options.duration(parser)
    options.base_rate(parser)
    options.run_settings(parser, drain_default=10.0)
    options.outage(parser)
    options.json_out(parser, "the run's result")
    parser.add_argument("--quiet", action="store_true", help="print nothing on success")
    parser.add_argument("--spawned-at", type=float, default=None, help=argparse.SUPPRESS)
    # The runner hands its RunSpec over whole, msgspec-encoded; it replaces the options above.
    parser.add_argument("--spec", type=Path, default=None, help=argparse.SUPPRESS)


def _print_summary(result: RunResult) -> None:
    res = result.resources
    acc = result.accounting
    print(f"{result.spec.arch} {result.spec.profile}/{result.spec.pattern} seed {result.spec.seed}")
    if result.spec.trace is not None:
        print("  " + source.describe(result.spec.trace))
    print(f"  events {result.events} in {result.window_s:.1f} s, schedule {result.schedule_hash}")
    rates = result.rates()
    print(
        f"  throughput {result.throughput_dps:,.0f} deliveries/s"
        f" ({result.payload_mbps:.2f} MB/s of payload);"
        f" rejected {rates.reject_rate:.4%} of events published,"
        f" failed (dead-lettered or dropped) {rates.failure_rate:.4%} of deliveries started"
    )
    for metric in ("response", "service", "dispatch_lag"):
        s = result.summary(metric)
        thin = f" (thin: {', '.join(s.thin)})" if s.thin else ""
        print(
            f"  {metric:<12} n={s.count} p50 {s.p50 / 1e6:.3f} p90 {s.p90 / 1e6:.3f}"
            f" p95 {s.p95 / 1e6:.3f} p99 {s.p99 / 1e6:.3f} p99.9 {s.p999 / 1e6:.3f}"
            f" max {s.max / 1e6:.3f} ms{thin}"
        )
    for phase in result.phases:
        print(
            f"  phase {phase.name:<10} offered {phase.offered_eps:,.0f} ev/s,"
            f" published {phase.published_eps:,.0f}, accepted {phase.accepted_eps:,.0f},"
            f" completed {phase.completed_dps:,.0f} deliveries/s ({phase.completed_mbps:.2f} MB/s),"
            f" rejected {phase.rejected}"
        )
    print(
        f"  accounting: published {acc.published} accepted {acc.accepted} rejected {acc.rejected}"
        f" delivered {acc.delivered}/{acc.deliveries} dead-lettered {acc.dead_lettered}"
        f" dropped {acc.dropped} unrouted {acc.unrouted} unaccounted {acc.unaccounted}"
    )
    print(
        f"  start-up {res.startup_s:.2f} s, RSS idle {res.rss_idle_bytes / 2**20:.1f} MiB"
        f" setup {res.rss_setup_bytes / 2**20:.1f} MiB"
        f" peak {res.rss_peak_bytes / 2**20:.1f} MiB, CPU {res.cpu_s:.2f} s"
        f" ({res.cpu_us_per_event:.2f} us/event), GC {res.gc_pauses} pauses"
        f" max {res.gc_pause_max_s * 1e3:.2f} ms, loop lag p99 {res.loop_lag_p99_ms:.2f} ms"
    )
    print(
        f"  generator inside publish {res.publish_s:.2f} s"
        f" ({res.publish_s * 1e6 / max(1, result.events):.2f} us/event,"
        f" {res.publish_s / max(result.window_s, 1e-9):.0%} of the window),"
        f" machine steal {res.steal_s:.2f} CPU-s"
    )
    for name, seconds in res.external_cpu_s.items():
        print(
            f"  {name} CPU {seconds:.2f} s ({seconds * 1e6 / max(1, result.events):.2f} us/event);"
            f" with this process {res.cpu_s + seconds:.2f} s"
        )
    for svc in result.services:
        trips = (
            f", breaker tripped {svc.breaker_trips}x, not closed {svc.breaker_open_s:.2f} s"
            if svc.breaker_trips or svc.breaker_open_s
            else ""
        )
        print(
            f"  service {svc.service:<14} {svc.copies} cop{'y' if svc.copies == 1 else 'ies'},"
            f" delivered {svc.delivered}/{svc.deliveries}, dead-lettered {svc.dead_lettered},"
            f" dropped {svc.dropped}{trips}"
        )
    for rec in result.recoveries:
        print(f"  recovery {rec.name:<14} {rec.status}: {rec.detail}")
    from bench.analysis import slo, trend

    growth = slo.load().rss_growth_mib_per_h
    rss = trend.rss_trend(
        result.timeline, trend.DEFAULT_THRESHOLD_MIB_PER_H if growth is None else growth
    )
    if rss.verdict != "too short":
        print(f"  RSS trend: {rss.explanation}")
    if result.valid:
        print("  VALID")
    else:
        print("  INVALID: " + "; ".join(result.reasons))


def _spec(args: argparse.Namespace) -> RunSpec:
    if args.spec is not None:
        try:
            return msgspec.json.decode(args.spec.read_bytes(), type=RunSpec)
        except (OSError, msgspec.DecodeError) as exc:
            raise ConfigError(f"{args.spec}: not a run spec: {exc}") from None
    source.resolve(args, [args.arch])
    return RunSpec(
        arch=args.arch,
        profile=args.profile,
        pattern=args.pattern,
        seed=args.seed,
        **source.spec_fields(args),
        duration_s=args.duration,
        base_rate=args.base_rate,
        loop=args.loop,
        services=args.services,
        drain_timeout_s=args.drain_timeout,
        outages=tuple(args.outage),
    )


def run(args: argparse.Namespace) -> int:
    # A spec from the runner was checked by its parent; the worker refuses what is wrong.
    spec = _spec(args)
    result = worker.run(spec, args.spawned_at)
    if args.json is not None:
        args.json.write_bytes(encode(result))
    if not args.quiet:
        _print_summary(result)
    elif not result.valid:
        print("INVALID: " + "; ".join(result.reasons), file=sys.stderr)
    return 0 if result.valid else exits.EXIT_INVALID


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.commands.run`` = ``python -m bench run``, without importing every other
    sub-command first (their imports, scipy's above all, cost seconds per spawned run)."""
    from events.errors import SwitchyardError

    parser = argparse.ArgumentParser(prog="python -m bench run", description=__doc__)
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except SwitchyardError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exits.EXIT_USAGE


if __name__ == "__main__":
    raise SystemExit(main())
