"""The replay options every command that takes ``--trace`` shares, and the Transform they make.

``add_replay_options(parser)`` adds ``--speed``, ``--scale``, ``--window``,
``--windows`` and ``--max-shift``; ``transform_from(args)`` turns them (with
``--seed``, which the command defines) into a validated :class:`Transform`.
"""

from __future__ import annotations

import argparse

from workload.traces.replay import DEFAULT_WINDOWS
from workload.traces.transforms import Transform, parse_window

#: Option name -> default, for commands that refuse replay options without --trace.
REPLAY_DEFAULTS: dict[str, object] = {
    "speed": 1.0,
    "scale": 1.0,
    "window": None,
    "windows": DEFAULT_WINDOWS,
    "max-shift": 1.0,
}


def add_replay_options(parser: argparse.ArgumentParser) -> None:
    """--speed, --scale, --window, --windows, --max-shift (with --trace)."""
    group = parser.add_argument_group("trace replay (with --trace)")
    group.add_argument(
        "--speed", type=float, default=1.0, help="compress time: 2 replays twice as fast"
    )
    group.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="multiply the rate, keeping the mix: seeded thinning below 1, seeded"
        " time-shifted copies above (the seed is --seed)",
    )
    group.add_argument(
        "--window", default=None, metavar="START:END", help="replay this slice (trace seconds)"
    )
    group.add_argument(
        "--windows",
        type=int,
        default=DEFAULT_WINDOWS,
        help="phases when the trace has no phase marks: this many equal slices w01, w02...",
    )
    group.add_argument(
        "--max-shift",
        type=float,
        default=1.0,
        help="seconds: the largest offset of a --scale copy",
    )


def transform_from(args: argparse.Namespace) -> Transform:
    start, end = (0.0, None) if args.window is None else parse_window(args.window)
    return Transform(
        speed=args.speed,
        scale=args.scale,
        window_start_s=start,
        window_end_s=end,
        seed=args.seed,
        max_shift_s=args.max_shift,
    )
