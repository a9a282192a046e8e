"""Background watchers of one run: event-loop lag, resident memory, GC pauses.

Each keeps raw samples cheaply during the run and is summarised after it.
"""

from __future__ import annotations

import asyncio
import gc
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import psutil  # type: ignore[import-untyped]

from bench.quantiles import percentile


class LoopLagMonitor:
    """Sleeps ``interval_s`` again and again; how late it wakes is the loop's lag."""

    def __init__(self, interval_s: float = 0.005) -> None:
        self.interval_s = interval_s
        self.lags_ns: list[int] = []

    async def run(self, ready: asyncio.Event) -> None:
        interval_ns = int(self.interval_s * 1e9)
        clock = time.perf_counter_ns
        ready.set()
        while True:
            before = clock()
            await asyncio.sleep(self.interval_s)
            self.lags_ns.append(max(0, clock() - before - interval_ns))

    def percentile_ms(self, q: float) -> float:
        if not self.lags_ns:
            return 0.0
        return percentile(self.lags_ns, q) / 1e6

    def max_ms(self) -> float:
        return max(self.lags_ns, default=0) / 1e6


def list_bytes(*lists: list[int], own_ints: bool = True) -> int:
    """What growing lists of recorded ints hold: each list's buffer plus, with
    ``own_ints``, an int object per entry (False for lists of ints that live elsewhere
    anyway, such as the events' own sequence numbers).

    O(1) per list (``sys.getsizeof`` is the buffer, over-allocation included); ints below
    257 are shared objects and counted anyway, an over-estimate of at most 8 KiB a list.
    """
    return sum(sys.getsizeof(x) + (32 * len(x) if own_ints else 0) for x in lists)


class RssSampler:
    """Samples this process's RSS every ``interval_s``: the peak, and every sample with its
    ``perf_counter_ns`` time (for the run's timeline and the soak trend).

    ``harness`` (when set) says how many bytes the harness's own recordings hold at that
    moment: the recorder, the generator and the monitors keep every completion, batch
    and sample in lists, which grow with the run whatever the router does, so a memory
    trend of the router must leave them out (``harness`` is sampled with each RSS).
    """

    def __init__(self, interval_s: float = 0.02) -> None:
        self.interval_s = interval_s
        self._process = psutil.Process()
        self.peak_bytes = 0
        self.samples = 0
        self.t_ns: list[int] = []
        self.rss: list[int] = []
        self.harness_bytes: list[int] = []
        self.harness: Callable[[], int] | None = None

    def sample_nowait(self) -> int:
        rss = int(self._process.memory_info().rss)
        self.peak_bytes = max(self.peak_bytes, rss)
        self.samples += 1
        self.t_ns.append(time.perf_counter_ns())
        self.rss.append(rss)
        self.harness_bytes.append(
            (self.harness() if self.harness is not None else 0)
            + list_bytes(self.t_ns, self.rss, self.harness_bytes)
        )
        return rss

    async def run(self, ready: asyncio.Event) -> None:
        self.sample_nowait()
        ready.set()
        while True:
            await asyncio.sleep(self.interval_s)
            self.sample_nowait()


class GcPauses:
    """Times every garbage collection through ``gc.callbacks`` while installed."""

    def __init__(self) -> None:
        self.count = 0
        self.total_ns = 0
        self.max_ns = 0
        self._began = 0

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._began = time.perf_counter_ns()
            return
        pause = time.perf_counter_ns() - self._began
        self.count += 1
        self.total_ns += pause
        self.max_ns = max(self.max_ns, pause)

    def install(self) -> None:
        gc.callbacks.append(self._callback)

    def remove(self) -> None:
        if self._callback in gc.callbacks:
            gc.callbacks.remove(self._callback)


def machine_steal_s() -> float:
    """CPU seconds stolen from this (virtual) machine since boot, all CPUs; 0 if unknown.

    Time the hypervisor ran something else: to the guest it looks like a stall
    of whatever was running, which no change to the harness can prevent, so
    each run reports how much of it fell in its window.
    """
    try:
        with open("/proc/stat") as fh:
            fields = fh.readline().split()
        return int(fields[8]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0
