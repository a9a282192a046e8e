"""The options several commands share, each defined once: name, type, default and help.

A command calls the functions for the options it takes, giving only what differs
(a default, or its own help sentence). Options one command alone takes stay in it.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from bench.run import services as run_services
from bench.schema import Outage
from events.errors import ConfigError
from workload.traces import add_replay_options

#: A parser or one of its argument groups: both take ``add_argument``.
Target = argparse.ArgumentParser | argparse._ArgumentGroup


def arch(parser: Target, default: str = "coordinator,daemon") -> None:
    """``--arch``: names from the registry, or ``package.module:factory`` of a Router."""
    parser.add_argument(
        "--arch",
        default=default,
        help="comma-separated architectures (registry names or package.module:factory);"
        " ratios are against the first",
    )


def profile(parser: Target, default: str | None = "medium") -> None:
    """``--profile``: a workload profile of configs/scenarios.toml."""
    parser.add_argument(
        "--profile", default=default, help="workload profile (light, medium, heavy, stress, smoke)"
    )


def pattern(parser: Target, default: str | None = "steady", help: str = "load pattern") -> None:
    """``--pattern``: a load pattern of the workload."""
    parser.add_argument("--pattern", default=default, help=help)


def source(parser: argparse.ArgumentParser, default: str | None = "steady") -> None:
    """``--pattern``, or ``--trace FILE`` in its place, with the replay options of a trace
    (``--speed``, ``--scale``, ``--window``, ``--windows``, ``--max-shift``)."""
    group = parser.add_mutually_exclusive_group()
    # argparse tells a given --pattern from the default by identity: a fresh copy of the
    # default keeps `--pattern <default> --trace F` (an interned literal) an error too.
    fresh = None if default is None else default.encode().decode()
    pattern(group, default=fresh, help="load pattern (or give --trace)")
    trace(group)
    add_replay_options(parser)


def trace(
    parser: Target,
    help: str = "replay this trace (docs/traces.md) instead of a pattern: its own timing,"
    " subjects and sizes, open loop; the run lasts the replay (cut it with --window)",
) -> None:
    """``--trace FILE``: a trace replayed in place of a pattern."""
    parser.add_argument("--trace", type=Path, default=None, metavar="FILE", help=help)


def scenarios(parser: Target) -> None:
    """``--scenarios PATH``: the scenarios file (profiles, mix, subjects, services, categories)."""
    parser.add_argument(
        "--scenarios",
        type=Path,
        default=None,
        metavar="PATH",
        help="scenarios TOML (profiles, mix, subject sets, services, categories);"
        " none: the shipped configs/scenarios.toml",
    )


def seed(
    parser: Target, help: str = "seed of schedule and services", default: int | None = 1
) -> None:
    """``--seed``: every random choice of a command derives from it."""
    parser.add_argument("--seed", type=int, default=default, help=help)


def duration(
    parser: Target,
    default: float | None = None,
    help: str = "seconds per run (profile default)",
) -> None:
    """``--duration`` of each measured run."""
    parser.add_argument("--duration", type=float, default=default, help=help)


def base_rate(parser: Target) -> None:
    """``--base-rate``: the rate a pattern's factor 1 stands for."""
    parser.add_argument(
        "--base-rate", type=float, default=None, help="events/s at factor 1 (profile default)"
    )


def runs(parser: Target, default: int | None, help: str) -> None:
    """``--runs``: how many measured runs (each a fresh process)."""
    parser.add_argument("--runs", type=int, default=default, help=help)


def loop(parser: Target) -> None:
    """``--loop``: the event loop every run worker uses."""
    parser.add_argument(
        "--loop", choices=("uvloop", "asyncio"), default="uvloop", help="event loop of each run"
    )


def _services(text: str) -> str:
    try:
        return run_services.normalise(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix(f"--services {text!r}: ")) from None


def services(parser: Target) -> None:
    """``--services``: what subscribes in a run (see :mod:`bench.run.services`)."""
    parser.add_argument(
        "--services",
        type=_services,
        default="sim",
        metavar="sim|noop|MODULE:FACTORY",
        help="sim: the profile's simulated services; noop: one no-op subscriber on '>';"
        " MODULE:FACTORY (a dotted module or a .py file): your own handlers, factory(spec,"
        " seed) -> async handler per service of the profile (e.g."
        " examples.services:make_handler from a checkout)",
    )


def drain_timeout(parser: Target, default: float) -> None:
    """``--drain-timeout``: how long a run's router may take to drain after the load."""
    parser.add_argument(
        "--drain-timeout", type=float, default=default, help="seconds each run may drain"
    )


def run_settings(parser: Target, drain_default: float) -> None:
    """``--loop``, ``--services`` and ``--drain-timeout``: how each run worker runs."""
    loop(parser)
    services(parser)
    drain_timeout(parser, drain_default)


def json_out(parser: Target, what: str = "the versioned results") -> None:
    """``--json PATH``: write the command's versioned record."""
    parser.add_argument("--json", type=Path, default=None, help=f"write {what} here (JSON)")


def markdown_out(parser: Target) -> None:
    """``--markdown PATH``: write the command's tables as Markdown."""
    parser.add_argument("--markdown", type=Path, default=None, help="write Markdown tables here")


def parse_outage(text: str) -> Outage:
    """``SERVICE:START:DURATION`` (seconds, an ``s`` suffix allowed) -> an :class:`Outage`."""
    parts = text.split(":")
    if len(parts) != 3 or not parts[0].strip():
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected SERVICE:START:DURATION, e.g. datastore:2:1.5"
        )
    try:
        start, duration = (float(p.strip().removesuffix("s")) for p in parts[1:])
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: START and DURATION must be seconds, e.g. datastore:2:1.5"
        ) from None
    if not (math.isfinite(start) and start >= 0 and math.isfinite(duration) and duration > 0):
        raise argparse.ArgumentTypeError(f"{text!r}: START must be >= 0 and DURATION > 0")
    return Outage(service=parts[0].strip(), start_s=start, duration_s=duration)


def outage(parser: Target) -> None:
    """``--outage SERVICE:START:DURATION`` (repeatable): the service fails every delivery
    in the window, so its breaker opens and closes."""
    parser.add_argument(
        "--outage",
        action="append",
        type=parse_outage,
        default=[],
        metavar="SERVICE:START:DURATION",
        help="take a simulated service down from START for DURATION seconds of each run"
        " (repeatable): it fails every delivery in the window",
    )


def max_time(parser: Target, help: str) -> None:
    """``--max-time S``: the seconds a command may spend measuring (unset: its default)."""
    parser.add_argument("--max-time", type=float, default=None, metavar="S", help=help)
