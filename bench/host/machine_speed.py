"""How fast this machine is right now, and how much that moved during a long search.

A capacity search takes minutes, and on a shared or virtual machine the CPU the
process gets can change within seconds. :func:`sample` hashes for a fixed time
(the same blake2b work the simulated services do, :mod:`workload.cpu`) and
returns bytes per µs; :func:`spread` summarises samples taken between steps so
the report can say how far the machine moved while the search ran. It judges
nothing: steps are judged on what they measured.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence

import msgspec

from workload.cpu import hash_bytes

#: How long one sample hashes: long enough to average over scheduler noise.
SAMPLE_S = 0.1
_CHUNK = 1 << 18


class Spread(msgspec.Struct, frozen=True):
    """Samples (bytes/µs) and where the slowest and fastest lie against their median."""

    samples: tuple[float, ...]
    median: float
    low_ratio: float
    high_ratio: float

    @property
    def deviation(self) -> float:
        """The larger distance from the median, as a fraction (0.2 is ±20%)."""
        return max(1.0 - self.low_ratio, self.high_ratio - 1.0)


def sample(seconds: float = SAMPLE_S) -> float:
    """Hash for ``seconds``; the speed in bytes per µs (this process, this moment)."""
    if seconds <= 0:
        raise ValueError(f"seconds must be > 0, got {seconds}")
    began = time.perf_counter_ns()
    end = began + int(seconds * 1e9)
    done = 0
    while True:
        done += hash_bytes(_CHUNK)
        now = time.perf_counter_ns()
        if now >= end:
            return done / ((now - began) / 1000.0)


def spread(samples: Sequence[float]) -> Spread:
    """Median of ``samples`` and the slowest and fastest as ratios of it."""
    if not samples or min(samples) <= 0:
        raise ValueError("spread needs at least one positive sample")
    median = statistics.median(samples)
    return Spread(tuple(samples), median, min(samples) / median, max(samples) / median)
