"""Memory of each router topology, measured with tracemalloc (bench/memory/topology.py).

For each architecture (built through the registry): the empty router, built
and started; bytes per subscription on '>' (which the coordinator registers in
all six modules) and on one category ('db.>'), registered and with workers
started; bytes per buffered event at fan-out 1 and 10 with the workers held
blocked; and the workload profile's services, registered and started. Each
architecture first runs once small and discarded, so first-use allocations
(caches, lazily built objects) are not charged to whichever runs first.
Exit code 1 when a measured router broke the accounting identity.
"""

from __future__ import annotations

import argparse
import platform
import sys

import msgspec

from bench.commands import options
from bench.memory import topology as mt

NAME = "topology-memory"
HELP = "tracemalloc bytes per router, per subscription and per buffered event, per architecture"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    options.arch(parser)
    parser.add_argument("--subscriptions", type=int, default=100, help="subscriptions per shape")
    parser.add_argument("--events", type=int, default=50_000, help="events buffered per fan-out")
    parser.add_argument("--fanout", default="1,10", help="comma-separated matching subscriptions")
    parser.add_argument(
        "--profile",
        default="medium",
        help="workload profile whose services to subscribe ('' skips)",
    )
    options.json_out(parser, "the results")


def _kib(n: float) -> str:
    return f"{n / 1024:,.1f} KiB"


def run(args: argparse.Namespace) -> int:
    archs = [a for a in args.arch.split(",") if a]
    try:
        fanouts = [int(f) for f in args.fanout.split(",") if f]
    except ValueError:
        print(f"error: --fanout must be integers, got {args.fanout!r}", file=sys.stderr)
        return 2
    if not archs or args.subscriptions < 1 or args.events < 1 or any(f < 1 for f in fanouts):
        print("error: need an architecture, and positive counts", file=sys.stderr)
        return 2
    print(
        f"python {platform.python_version()}, uvloop, tracemalloc; {args.subscriptions} subs per"
        f" shape, {args.events} buffered events per fan-out, profile {args.profile or '-'}",
        flush=True,
    )
    results = []
    try:
        for arch in archs:
            mt.measure(arch, subscriptions=2, fanouts=[1], events=100, profile="")
            results.append(
                mt.measure(
                    arch,
                    subscriptions=args.subscriptions,
                    fanouts=fanouts,
                    events=args.events,
                    profile=args.profile,
                )
            )
    except mt.MemoryRunError as exc:
        print(f"INVALID: {exc}", file=sys.stderr)
        return 1
    print(f"\n{'arch':<14} {'empty built':>14} {'empty started':>14}")
    for r in results:
        print(f"{r.arch:<14} {_kib(r.empty_built):>14} {_kib(r.empty_started):>14}")
    print(f"\n{'arch':<14} {'subscription':<22} {'B/sub registered':>17} {'B/sub started':>14}")
    for r in results:
        for s in r.subscriptions:
            print(
                f"{r.arch:<14} {s.label:<22} {s.per_sub_registered:>17,.0f}"
                f" {s.per_sub_started:>14,.0f}"
            )
    print(f"\n{'arch':<14} {'fan-out':>8} {'B/buffered event':>17} {'B/queued delivery':>18}")
    for r in results:
        for b in r.buffers:
            print(f"{r.arch:<14} {b.fanout:>8} {b.per_event:>17,.1f} {b.per_delivery:>18,.1f}")
    profiled = [r for r in results if r.profile is not None]
    if profiled:
        print(f"\n{'arch':<14} {'profile':<8} {'subs':>5} {'registered':>12} {'started':>12}")
        for r in profiled:
            p = r.profile
            assert p is not None
            print(
                f"{r.arch:<14} {p.profile:<8} {p.subscriptions:>5} {_kib(p.registered):>12}"
                f" {_kib(p.started):>12}"
            )
    if args.json:
        env = {"python": platform.python_version(), "machine": platform.machine()}
        args.json.write_bytes(msgspec.json.encode({"env": env, "results": results}))
        print(f"\nwrote {args.json}")
    return 0
