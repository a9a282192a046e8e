"""How often this machine stalls a bare Python loop: gaps between clock readings.

Spins for ``--seconds`` reading the clock, in this fresh process, and reports
every gap over ``--gap-us``: time the process did not run (the hypervisor's
steal, the kernel), with nothing of the bench in the way. ``--append`` also
grows two lists as it spins, as the completion recorder does; ``--pin-mmap``
pins glibc's mmap threshold first, as every run worker does, so the stalls list
growth causes can be told from the machine's own. Exit code 0; 2 for bad options.
"""

from __future__ import annotations

import argparse
import sys

from bench import exits
from bench.host import allocator, stall_probe

NAME = "stall-probe"
HELP = "how often this machine stalls a bare Python loop (gaps between clock readings)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seconds", type=float, default=5.0, help="how long to spin")
    parser.add_argument("--gap-us", type=float, default=100.0, help="report gaps over this")
    parser.add_argument("--append", action="store_true", help="grow two lists while spinning")
    parser.add_argument("--pin-mmap", action="store_true", help="pin glibc's mmap threshold")


def run(args: argparse.Namespace) -> int:
    if args.seconds <= 0 or args.gap_us <= 0:
        print("error: --seconds and --gap-us must be > 0", file=sys.stderr)
        return exits.EXIT_USAGE
    pinned = allocator.pin_mmap_threshold() if args.pin_mmap else False
    gaps = stall_probe.probe(args.seconds, int(args.gap_us * 1000), args.append)
    largest = ", ".join(f"{g / 1e6:.2f}" for g in gaps.largest_ns) or "none"
    print(
        f"{gaps.count} gaps over {args.gap_us:g} us in {args.seconds:g} s"
        f" (append {'on' if args.append else 'off'}, mmap threshold"
        f" {'pinned' if pinned else 'default'}): {gaps.total_ns / 1e6:.1f} ms in all,"
        f" largest {largest} ms"
    )
    if gaps.resizes_ns:
        slowest = sorted(gaps.resizes_ns, reverse=True)[:5]
        print(
            f"list growth: {len(gaps.resizes_ns)} steps, {sum(gaps.resizes_ns) / 1e6:.1f} ms"
            f" in all, slowest {', '.join(f'{r / 1e6:.2f}' for r in slowest)} ms"
        )
    return exits.EXIT_OK
