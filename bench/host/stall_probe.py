"""How often this machine stalls a Python loop, with nothing of the bench in the way.

:func:`probe` spins reading the clock and keeps every gap between two readings
over a threshold: time the process did not run (the hypervisor's steal, the
kernel). With ``append`` it also appends each reading and a counter to two
lists, as the recorder does, so that (with and without
:func:`bench.host.allocator.pin_mmap_threshold`) the stalls list growth causes can be
told from the machine's own. ``python -m bench stall-probe`` is its command.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence

import msgspec

#: A block under glibc's largest dynamic mmap threshold (32 MiB on 64-bit), which it raises to.
SETUP_BLOCK_BYTES = 16 * 1024 * 1024


class Gaps(msgspec.Struct, frozen=True):
    """Gaps over the threshold in one probe: how many, their total and the largest.

    ``resizes_ns`` holds, with ``append``, how long each step took in which both
    lists outgrew their blocks (the copy glibc may make), whatever the threshold.
    """

    seconds: float
    threshold_ns: int
    count: int
    total_ns: int
    largest_ns: tuple[int, ...]
    resizes_ns: tuple[int, ...] = ()


def summarise(
    gaps_ns: Sequence[int],
    seconds: float,
    threshold_ns: int,
    top: int = 5,
    resizes_ns: Sequence[int] = (),
) -> Gaps:
    """The gaps over ``threshold_ns`` among ``gaps_ns``, the ``top`` largest first."""
    over = sorted((g for g in gaps_ns if g > threshold_ns), reverse=True)
    return Gaps(seconds, threshold_ns, len(over), sum(over), tuple(over[:top]), tuple(resizes_ns))


def probe(seconds: float, threshold_ns: int, append: bool) -> Gaps:
    """Spin for ``seconds``; keep every gap between clock readings over ``threshold_ns``."""
    if append:
        # A run's set-up frees large blocks before the window (the schedule's arrays);
        # glibc then raises its mmap threshold unless it was pinned. Do the same here.
        block = bytearray(SETUP_BLOCK_BYTES)
        del block
    clock = time.perf_counter_ns
    sizeof = sys.getsizeof
    stamps: list[int] = []
    counts: list[int] = []
    gaps: list[int] = []
    resizes: list[int] = []
    size = sizeof(stamps)
    end = clock() + int(seconds * 1e9)
    previous = clock()
    n = 0
    while previous < end:
        now = clock()
        if append:
            stamps.append(now)
            counts.append(n)
            n += 1
            grown = sizeof(stamps)
            if grown != size:
                # Both lists (same length) outgrew their blocks in these two appends.
                size = grown
                resizes.append(clock() - now)
        if now - previous > threshold_ns:
            gaps.append(now - previous)
        previous = now
    return summarise(gaps, seconds, threshold_ns, resizes_ns=resizes)
