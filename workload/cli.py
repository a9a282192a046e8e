"""``python -m workload preview|trace``: look at a schedule or a trace, import a trace.

Errors become exit codes here, and only here: 2 with a one-line message for an
unknown pattern or profile, a bad option, a bad configuration, a bad trace or a
bad log line.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from events.errors import ConfigError, SwitchyardError
from workload.config import load_scenarios
from workload.files import write_schedule
from workload.patterns import PATTERNS
from workload.preview import render
from workload.schedule import build_schedule
from workload.services import build_services
from workload.traces.cli import (
    SCENARIOS_HELP,
    add_trace_commands,
    preview_trace,
    run_import,
    run_info,
)
from workload.traces.options import REPLAY_DEFAULTS, add_replay_options

EXIT_USAGE = 2
PREVIEW_EPILOG = """\
With --pattern, the schedule is drawn from (seed, profile, pattern). With --trace,
it replays the trace (docs/traces.md) under --speed, --scale and --window, and the
preview adds the mix by subject prefix, payload-size percentiles and the expected
deliveries per event of the profile's services over the trace's own subjects.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m workload", description="Seeded open-loop workloads for Switchyard."
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    preview = commands.add_parser(
        "preview",
        help="print a schedule's (or a trace's) phases, rate over time, mix, count and hash",
        description="Print what a run would send: phases, rate over time, mix, count, hash.",
        epilog=PREVIEW_EPILOG,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    source = preview.add_mutually_exclusive_group(required=True)
    source.add_argument("--pattern", help=f"load pattern: {', '.join(PATTERNS)}")
    source.add_argument("--trace", metavar="FILE", help="a trace file instead of a pattern")
    preview.add_argument("--profile", default="medium", help="profile from the scenarios file")
    preview.add_argument("--seed", type=int, default=1, help="schedule (or --scale) seed")
    preview.add_argument(
        "--duration", type=float, default=None, help="seconds (default: the profile's)"
    )
    preview.add_argument(
        "--base-rate", type=float, default=None, help="events/s (default: the profile's)"
    )
    preview.add_argument(
        "--scenarios",
        "--config",
        dest="scenarios",
        default=None,
        help=SCENARIOS_HELP + " (default: configs/scenarios.toml)",
    )
    preview.add_argument(
        "--out", default=None, help="also write the schedule to FILE (.jsonl or .msgpack)"
    )
    add_replay_options(preview)
    add_trace_commands(commands)
    return parser


def _only_with(args: argparse.Namespace, source: str, names: dict[str, object]) -> None:
    for name, default in names.items():
        if getattr(args, name.replace("-", "_")) != default:
            raise ConfigError(f"--{name} applies to {source} only")


def preview(args: argparse.Namespace) -> int:
    scenarios = load_scenarios(args.scenarios)
    if args.trace is not None:
        _only_with(args, "--pattern", {"duration": None, "base-rate": None, "out": None})
        print(preview_trace(args, scenarios))
        return 0
    _only_with(args, "--trace", REPLAY_DEFAULTS)
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


def trace(args: argparse.Namespace) -> int:
    scenarios = load_scenarios(args.scenarios)
    run = run_import if args.trace_command == "import" else run_info
    print("\n".join(run(args, scenarios)))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return preview(args) if args.command == "preview" else trace(args)
    except SwitchyardError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
