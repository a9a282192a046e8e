"""``python -m workload preview``: look at a schedule before running it.

Errors become exit codes here, and only here: 2 with a one-line message for an
unknown pattern or profile, a bad option or a bad configuration.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from events.errors import SwitchyardError
from workload.config import load_scenarios
from workload.files import write_schedule
from workload.patterns import PATTERNS
from workload.preview import render
from workload.schedule import build_schedule
from workload.services import build_services

EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m workload", description="Seeded open-loop workloads for Switchyard."
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    preview = commands.add_parser(
        "preview",
        help="print a schedule's phases, rate over time, mix, count and hash",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    preview.add_argument("--pattern", required=True, help=f"load pattern: {', '.join(PATTERNS)}")
    preview.add_argument("--profile", default="medium", help="profile from the scenarios file")
    preview.add_argument("--seed", type=int, default=1, help="schedule seed")
    preview.add_argument(
        "--duration", type=float, default=None, help="seconds (default: the profile's)"
    )
    preview.add_argument(
        "--base-rate", type=float, default=None, help="events/s (default: the profile's)"
    )
    preview.add_argument(
        "--config", default=None, help="scenarios TOML (default: configs/scenarios.toml)"
    )
    preview.add_argument(
        "--out", default=None, help="also write the schedule to FILE (.jsonl or .msgpack)"
    )
    return parser


def preview(args: argparse.Namespace) -> int:
    scenarios = load_scenarios(args.config)
    schedule = build_schedule(
        args.seed,
        args.profile,
        args.pattern,
        duration_s=args.duration,
        base_rate=args.base_rate,
        scenarios=scenarios,
    )
    services = build_services(schedule.profile, scenarios=scenarios)
    if args.out is not None:
        path = write_schedule(schedule, args.out)
    print(render(schedule, services))
    if args.out is not None:
        print(f"wrote {len(schedule):,} events to {path}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return preview(args)
    except SwitchyardError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
