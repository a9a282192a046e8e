"""Transport benchmark: published -> handler -> acked on JetStream against bare nats-py.

One process, one nats-server (started for the command unless SWITCHYARD_NATS_URL
names one), 1 KiB events, a no-op handler. Each round publishes --events
events through the ``jetstream`` router (one subscription at --concurrency
workers) and, back to back, the same payloads through a bare nats-py
publish/subscribe loop (core NATS: no stream, no acks); one discarded round of
each first, then --rounds of each, alternating, each in a fresh uvloop loop.
The table gives medians and ranges of events/s, and CPU per event of this
process and of nats-server (see bench/experiments/transport.py for the method).

Exit codes: 0 every round valid and the router's median reached --target;
3 a round lost, duplicated or left events (the figures are still written);
5 the median missed --target; 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import msgspec

from bench import exits
from bench.commands import options
from bench.experiments import transport
from bench.host import environment
from bench.host.nats import URL_VARIABLE
from events.errors import ConfigError

NAME = "transport"
HELP = "jetstream published->handler->acked events/s against a bare nats-py loop, same run"

#: The registry name measured; the CLI starts its NATS server because of it.
ARCH = "jetstream"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.set_defaults(arch=ARCH)
    parser.add_argument("--events", type=int, default=50_000, help="events per round")
    parser.add_argument("--rounds", type=int, default=5, help="measured rounds of each side")
    parser.add_argument("--batch", type=int, default=1000, help="events published per loop turn")
    parser.add_argument(
        "--concurrency", type=int, default=32, help="workers of the router's one subscription"
    )
    parser.add_argument(
        "--target",
        type=float,
        default=transport.TARGET_EPS,
        help="events/s the router's median must reach (exit 5 below it)",
    )
    options.json_out(parser, "every round, the summaries and the environment")


def _check(args: argparse.Namespace) -> None:
    for name in ("events", "rounds", "batch", "concurrency"):
        if getattr(args, name) < 1:
            raise ConfigError(f"--{name} must be >= 1, got {getattr(args, name)}")
    if args.target < 0:
        raise ConfigError(f"--target must be >= 0, got {args.target}")


def _line(r: transport.Round) -> str:
    server = "" if r.server_us_per_event is None else f", server {r.server_us_per_event:.1f}"
    extra = f", overloaded {r.retried_overloaded}" if r.retried_overloaded else ""
    drain = f", drain {r.drain_s * 1e3:.0f} ms" if r.kind == "router" else ""
    bad = "" if r.valid else "  INVALID: " + "; ".join(r.problems)
    return (
        f"{r.rate:>10,.0f}/s  wall {r.elapsed_s:.2f} s, CPU us/event: client"
        f" {r.client_us_per_event:.1f}{server}{extra}{drain}{bad}"
    )


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def run(args: argparse.Namespace) -> int:
    _check(args)
    url = os.environ.get(URL_VARIABLE, "")
    if not url:
        raise ConfigError(f"no NATS server: run through python -m bench, or set {URL_VARIABLE}")
    load_before = os.getloadavg()
    print(
        f"python {platform.python_version()}, uvloop, {args.events:,} events of"
        f" {transport.PAYLOAD_BYTES} B per round, batch {args.batch}, concurrency"
        f" {args.concurrency}, {args.rounds} rounds after a discarded one;"
        f" load average {_load()} (other processes share the cores)",
        flush=True,
    )

    def progress(r: transport.Round, warmup: bool) -> None:
        name = "jetstream" if r.kind == "router" else "bare"
        label = "warm-up" if warmup else f"round {r.index + 1}"
        print(f"  {label:<8} {name:<9} {_line(r)}", flush=True)

    began = time.monotonic()
    rounds, version = transport.measure(
        ARCH, url, args.events, args.rounds, args.batch, args.concurrency, progress
    )
    result = transport.assemble(
        rounds,
        transport.Settings(
            arch=ARCH, events=args.events, rounds=args.rounds, batch=args.batch,
            concurrency=args.concurrency, payload_bytes=transport.PAYLOAD_BYTES,
            nats_py=environment.package_version("nats-py"), server_version=version,
        ),
        environment.capture("uvloop", 0, "", environment.command_line()),
        args.target, load_before, time.monotonic() - began,
    )  # fmt: skip
    print()
    print("\n".join(report(result)))
    print(f"load average after: {_load()}")
    if args.json is not None:
        args.json.write_bytes(msgspec.json.encode(result))
    if not all(s.valid for s in result.summaries):
        return exits.EXIT_INVALID
    return exits.EXIT_OK if result.met else exits.EXIT_SLO


def _spread(s: transport.Spread | None, fmt: str) -> str:
    if s is None:
        return "n/a"
    return f"{s.median:{fmt}} ({s.low:{fmt}}-{s.high:{fmt}})"


def report(result: transport.TransportResult) -> list[str]:
    """The table of the medians and ranges, and the verdict against the target."""
    lines = [
        f"{'side':<8} {'events/s median (range)':>32} {'client us/ev':>22} {'server us/ev':>22}"
    ]
    for s in result.summaries:
        name = "jetstream" if s.kind == "router" else "bare"
        lines.append(
            f"{name:<8} {_spread(s.rate, ',.0f'):>32} {_spread(s.client_us_per_event, '.1f'):>22}"
            f" {_spread(s.server_us_per_event, '.1f'):>22}" + ("" if s.valid else "  INVALID")
        )
    r = result.ratio
    lines.append(
        f"jetstream/bare, round by round: median {r.median:.1%} (range {r.low:.1%}-{r.high:.1%})"
    )
    router = next(s for s in result.summaries if s.kind == "router")
    verdict = "reached" if result.met else "NOT reached"
    lines.append(
        f"target {result.target_eps:,.0f} events/s {verdict}: median {router.rate.median:,.0f}"
    )
    if result.cpu_bound_eps is not None:
        lines.append(
            f"projection (not measured): the median CPU per event allows"
            f" {result.cpu_bound_eps:,.0f} events/s on {result.environment.cpu_count} idle cores"
            " (client on one core; client and server on all)"
        )
    return lines
