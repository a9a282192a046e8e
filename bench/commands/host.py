"""The machine under the bench: ``python -m bench host calibrate --out host.json``.

``calibrate`` measures this machine's single-core speed on the work a run does: the
daemon's and the coordinator's hot path (publish, route, deliver to handlers that do
nothing, in CPU seconds) and the simulated services' hashing (bench/host/calibrate.py).
Run it on the production machine and give the file to ``bench capacity --target-host``
to scale the CPU-demand bound to that machine (a projection).

Exit codes: 0 written; 2 usage error.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import msgspec

from bench.host import calibrate
from events.errors import ConfigError

NAME = "host"
HELP = "measure this machine (calibrate: single-core speed on the router's hot path)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    cal = actions.add_parser("calibrate", help="single-core speed per kernel, to a JSON file")
    cal.add_argument("--out", type=Path, required=True, help="write the calibration here")
    cal.add_argument("--rounds", type=int, default=5, help="rounds per kernel (median kept)")
    cal.add_argument("--events", type=int, default=calibrate.EVENTS, help="events per router round")


def run(args: argparse.Namespace) -> int:
    if args.rounds < 1:
        raise ConfigError(f"--rounds must be >= 1, got {args.rounds}")
    if args.events < calibrate.BATCH:
        raise ConfigError(f"--events must be >= {calibrate.BATCH}, got {args.events}")
    if not args.out.parent.is_dir():
        raise ConfigError(f"--out {args.out}: folder {args.out.parent} does not exist")
    speed = calibrate.measure(rounds=args.rounds, events=args.events)
    args.out.write_bytes(msgspec.json.format(msgspec.json.encode(speed)))
    print(f"{speed.cpu_model} x{speed.cpu_count}, Python {speed.python}:")
    for k in speed.kernels:
        low, high = min(k.rounds), max(k.rounds)
        print(f"  {k.name:<12} {k.median:,.0f} {k.unit} (rounds {low:,.0f} to {high:,.0f})")
    print(f"written to {args.out}")
    return 0
