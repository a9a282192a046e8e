"""Drive a running daemon over HTTP with a seeded open-loop schedule, or compare its ingress.

  python -m bench load --url http://127.0.0.1:8470 --pattern spike [--profile light] [--batch N]
  python -m bench load --spawn sink --pattern steady --base-rate 100000 --batch 100
  python -m bench load --wrk-compare [--rounds 3] [--wrk-duration 10] [--json PATH]
  python -m bench load --wrk-compare --wrk-sides floor,daemon --py-spy DIR
  python -m bench load --idle-rss
  SWITCHYARD_TOKEN=… python -m bench load --url http://127.0.0.1:8470   (a daemon with [auth])

``--spawn CONFIG`` starts ``python -m daemon`` itself (``sink``: a generated config
whose one subscriber does no work, the ingress measured alone), pinned to CPU 0,
and SIGTERMs it afterwards, printing its final counts. ``--wrk-compare`` runs
Debian's ``wrk`` (``make wrk``) against the bare aiohttp app (bench/http/bare.py:
reads the body, answers a fixed 202), the floor (bench/http/floor.py: the least
work any ingress must do: decode, id, route, deliver to a no-op sink, encode the
202) and the sink daemon, rounds alternating bare,floor,daemon and the reverse,
each pinned to CPU 0 with wrk on CPU 1. It prints server CPU per request and rate
for each, the ratios daemon/bare, floor/bare and daemon/floor, and how much of
the daemon's gap to bare the floor accounts for; ``--json`` writes every run. A
run's "server busy" is its CPU time over wrk's duration: well below 100% the
server waited for a starved wrk, and its CPU per request counts more loop
wake-ups per request than when saturated (compare sides at like busy shares).
``--idle-rss`` starts the daemon with configs/daemon.toml and reads its RSS idle.
Exit code: 0, or 1 when the run is invalid (driver behind schedule, work pending).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import msgspec
import uvloop

from bench.commands import options
from bench.experiments.profiling import py_spy
from bench.http import wrk_compare
from bench.http.bare import Server, spawn_daemon
from bench.http.driver import LoadConfig, LoadResult, run_load
from bench.http.wrk_compare import WrkRun
from bench.run import source
from events.config import CONFIG_DIR

NAME = "load"
#: The environment variable holding the bearer token (a flag would show in `ps`).
TOKEN_VARIABLE = "SWITCHYARD_TOKEN"
HELP = "drive a running daemon over HTTP (open loop), or compare its ingress with wrk"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help="the daemon, e.g. http://127.0.0.1:8470")
    parser.add_argument("--spawn", metavar="CONFIG", help="start a daemon: a config path or 'sink'")
    options.source(parser, default="spike")
    options.scenarios(parser)
    options.profile(parser, default="light")
    options.seed(parser)
    options.duration(parser, help="seconds of load (profile default)")
    options.base_rate(parser)
    parser.add_argument("--batch", type=int, default=1, help="events per request (1: /v1/events)")
    parser.add_argument("--linger-ms", type=float, default=2.0, help="max wait to fill a batch")
    parser.add_argument("--connections", type=int, default=64, help="pooled connections")
    parser.add_argument("--codec", choices=["msgpack", "json"], default="msgpack")
    parser.add_argument("--settle", type=float, default=30.0, help="max s to wait for pending==0")
    parser.add_argument("--max-lag-ms", type=float, default=10.0, help="dispatch-lag p99 gate")
    options.json_out(parser, "the result")
    parser.add_argument(
        "--wrk-compare", action="store_true", help="bare aiohttp vs the floor vs the daemon, wrk"
    )
    parser.add_argument(
        "--wrk-sides",
        type=_sides,
        default=list(wrk_compare.SIDES),
        metavar="LIST",
        help="servers --wrk-compare runs, some of bare,floor,daemon, comma-separated",
    )
    parser.add_argument("--rounds", type=int, default=3, help="ABBA rounds of --wrk-compare")
    parser.add_argument("--wrk-duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--wrk-connections", type=int, default=50)
    parser.add_argument(
        "--py-spy",
        type=Path,
        metavar="DIR",
        help="--wrk-compare: sample each server with py-spy (raw stacks, 250 Hz) into DIR",
    )
    parser.add_argument("--idle-rss", action="store_true", help="RSS of an idle daemon")
    parser.add_argument(
        "--token",
        default=os.environ.get(TOKEN_VARIABLE) or None,
        help=f"bearer token for a daemon with [auth] enabled (default: ${TOKEN_VARIABLE});"
        " it needs publish on the run's subjects and monitor = true",
    )


def _sides(text: str) -> list[str]:
    try:
        return wrk_compare.parse_sides(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _ms(p: msgspec.Struct) -> str:
    d = msgspec.structs.asdict(p)
    return (
        f"p50 {d['p50_ms']:.2f}  p90 {d['p90_ms']:.2f}  p99 {d['p99_ms']:.2f}"
        f"  max {d['max_ms']:.2f} ms"
    )


def _print_result(r: LoadResult) -> None:
    c = r.config
    print(
        f"load: pattern={c.pattern} profile={c.profile} seed={c.seed} batch={c.batch}"
        f" linger={c.linger_ms}ms codec={c.codec} connections={c.connections}"
        f"  schedule {r.schedule_hash[:12]}"
    )
    if c.trace is not None:
        print(f"  {source.describe(c.trace)}")
    print(f"  events {r.events} in {r.requests} requests over {r.sent_window_s:.2f} s")
    print(f"  accepted {r.accepted} ({r.accepted_per_s:,.0f} events/s)  outcomes {r.outcomes}")
    print(f"  acceptance latency (intended -> 202): {_ms(r.acceptance)}")
    print(f"  driver dispatch lag (sent - intended): {_ms(r.dispatch_lag)}")
    print(
        f"  delivered {r.delivered} of {r.deliveries} deliveries"
        f" ({r.delivered_per_s:,.0f}/s incl. {r.settle_s:.2f} s settle)"
        f"  dead-lettered {r.dead_lettered}  pending after {r.pending_after}"
    )
    print(
        f"  daemon CPU {r.daemon_cpu_s:.2f} s = {r.daemon_cpu_us_per_event:.1f} us per accepted"
        f" event (projection, one free core: {1e6 / max(r.daemon_cpu_us_per_event, 1e-9):,.0f}"
        " events/s)"
    )
    lat = r.delivery_latency
    if lat.get("count"):
        print(
            "  delivery latency (intended -> handler done, daemon histogram):"
            f" p50 {lat['p50_ms']:.2f}  p90 {lat['p90_ms']:.2f}  p99 {lat['p99_ms']:.2f} ms"
        )
    for ph in r.phases:
        print(
            f"    {ph.name:<14} events {ph.events:>8}  accepted {ph.accepted:>8}"
            f"  acceptance p99 {ph.acceptance.p99_ms:.2f} ms"
        )
    print("  VALID" if r.valid else f"  INVALID: {'; '.join(r.invalid_reasons)}")


def _load_config(args: argparse.Namespace, url: str) -> LoadConfig:
    return LoadConfig(
        url=url,
        pattern=args.pattern,
        profile=args.profile,
        seed=args.seed,
        duration_s=args.duration,
        base_rate=args.base_rate,
        batch=args.batch,
        linger_ms=args.linger_ms,
        connections=args.connections,
        codec=args.codec,
        settle_s=args.settle,
        max_dispatch_lag_ms=args.max_lag_ms,
        **source.spec_fields(args),
    )


def _drive(args: argparse.Namespace) -> int:
    source.resolve(args, [])  # options, scenarios and trace checked before any daemon starts
    server: Server | None = None
    url = args.url
    if args.spawn:
        server = spawn_daemon(None if args.spawn == "sink" else args.spawn, cpu=0)
        url = server.url
        if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
            os.sched_setaffinity(0, {1})
    if not url:
        print("error: give --url of a running daemon, or --spawn CONFIG|sink")
        return 2
    try:
        result = uvloop.run(run_load(_load_config(args, url), args.token))
    finally:
        final = server.stop() if server is not None else ""
    _print_result(result)
    for line in final.splitlines():
        if line.startswith("final "):
            report = json.loads(line[len("final ") :])
            print(
                f"  daemon final: accepted {report['accepted']} delivered {report['delivered']}"
                f" identity_errors {report['identity_errors']}"
            )
    if args.json:
        args.json.write_bytes(msgspec.json.encode(result))
    return 0 if result.valid else 1


def _print_wrk_run(run: WrkRun) -> None:
    print(
        f"  {run.side:<7} {run.requests_per_s:>10,.0f} req/s"
        f"  server CPU {run.cpu_us_per_request:.1f} us/request"
        f"  non-2xx {run.non_2xx:.0f}  socket errors {bool(run.socket_errors)}"
        # Below ~100% the server waited for wrk (a shared machine): its CPU per
        # request then includes more loop wake-ups per request than when saturated.
        f"  server busy {run.cpu_us_per_request * run.requests_per_s / 1e4:.0f}%"
    )


def _wrk_compare(args: argparse.Namespace) -> int:
    sides = args.wrk_sides
    order = wrk_compare.rotation(sides, args.rounds)
    spy = None
    if args.py_spy:
        exe = py_spy()
        if exe is None:
            print("error: --py-spy: py-spy is not installed (pip install py-spy)")
            return 2
        spy = (exe, args.py_spy)
    print(f"wrk -t1 -c{args.wrk_connections} -d{args.wrk_duration}s, ABBA order: {order}")
    print(f"load average before: {os.getloadavg()}")
    result = wrk_compare.compare(
        sides, args.rounds, args.wrk_duration, args.wrk_connections, spy, _print_wrk_run
    )
    rate, cpu = result.median_requests_per_s, result.median_cpu_us_per_request
    if "bare" in sides and "daemon" in sides:
        bare, daemon = rate["bare"], rate["daemon"]
        print(
            f"median: bare {bare:,.0f} req/s, daemon {daemon:,.0f} req/s, ratio {daemon / bare:.3f}"
        )
        cb, cd = cpu["bare"], cpu["daemon"]
        print(
            f"median server CPU per request: bare {cb:.1f} us, daemon {cd:.1f} us;"
            f" CPU-bound rate ratio (projection) {cb / cd:.3f}"
        )
    if "floor" in sides:
        medians = ", ".join(f"{s} {rate[s]:,.0f} req/s {cpu[s]:.1f} us" for s in sides)
        print(f"median with the floor: {medians}")
        for pair, ratio in result.cpu_ratios.items():
            a, b = pair.split("/")
            print(
                f"  {pair}: server CPU per request {ratio:.3f} (median of per-round ratios"
                f" {result.round_ratios[pair]:.3f}), {cpu[a] - cpu[b]:+.1f} us;"
                f" rate {rate[a] / rate[b]:.3f}"
            )
        if "bare" in sides and "daemon" in sides:
            gap, floor = cpu["daemon"] - cpu["bare"], cpu["floor"] - cpu["bare"]
            print(
                f"  of the daemon's {gap:.1f} us per request over bare aiohttp: {floor:.1f} us"
                f" the floor's decode+route+deliver, {gap - floor:.1f} us the daemon's features"
            )
    print(f"load average after: {os.getloadavg()}")
    if args.json:
        args.json.write_bytes(msgspec.json.format(msgspec.json.encode(result)) + b"\n")
    if args.py_spy:
        print(f"py-spy raw stacks (250 Hz) per run in {args.py_spy}/NN-SIDE.txt")
    return 0


def _idle_rss(args: argparse.Namespace) -> int:
    config = str(CONFIG_DIR / "daemon.toml")
    server = spawn_daemon(config, cpu=0)
    try:
        samples = []
        for _ in range(5):
            time.sleep(1.0)  # idle on purpose: the daemon's steady state without load
            samples.append(server.rss_bytes())
    finally:
        server.stop()
    print(f"idle RSS of `python -m daemon --config {config}`: samples (MiB)")
    print("  " + "  ".join(f"{s / 2**20:.1f}" for s in samples))
    print(f"  max {max(samples) / 2**20:.1f} MiB")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.wrk_compare:
        return _wrk_compare(args)
    if args.idle_rss:
        return _idle_rss(args)
    return _drive(args)
