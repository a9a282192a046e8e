"""What building a schedule costs: wall time and peak memory, each in a fresh process.

A child process (``python -m bench.experiments.schedule_cost ...``) imports everything and
loads the scenarios first, then measures only ``build_schedule``:

- ``time`` mode: wall time (``perf_counter``) and the growth of the process's
  peak RSS (VmHWM after minus before, so import costs are excluded);
- ``memory`` mode: the ``tracemalloc`` peak during the build (numpy reports
  its buffers to tracemalloc); kept apart because tracing slows the build.

In ``time`` mode the child then also times ``Schedule.events()`` (the Event
objects a generator emits) and its peak-RSS growth, measured after the build.

The child writes one JSON object on stdout; :func:`run_fresh` starts it.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Sequence
from typing import Literal

import msgspec

import workload
from events.errors import SwitchyardError

Mode = Literal["time", "memory"]
MIB = 1024 * 1024


class CostSample(msgspec.Struct, frozen=True):
    """One measurement of one build."""

    mode: str
    profile: str
    pattern: str
    seed: int
    duration_s: float
    events: int
    build_s: float
    peak_rss_growth_mib: float
    traced_peak_mib: float
    arrays_mib: float
    hash: str
    events_s: float = 0.0
    events_rss_growth_mib: float = 0.0


class ScheduleCostError(SwitchyardError):
    """Raised when the measuring child process fails."""


def duration_for(events: int, profile: str, pattern: str) -> float:
    """The run length whose expected event count under the pattern is ``events``."""
    per_second = sum(
        p.expected_events for p in workload.plan_phases(profile, pattern, duration_s=1.0)
    )
    return events / per_second


def _max_rss_mib() -> float:
    """Peak RSS of this process image.

    VmHWM, not ``ru_maxrss``: Linux carries ``ru_maxrss`` over from the parent
    across fork and exec, so a child of a big parent would show no growth.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def measure(profile: str, pattern: str, seed: int, events: int, mode: Mode) -> CostSample:
    """Build one schedule of about ``events`` events in this process and measure it."""
    scenarios = workload.load_scenarios()
    duration = duration_for(events, profile, pattern)
    # Warm-up on a tiny schedule so first-call costs (numpy paths) are not measured.
    workload.build_schedule(seed + 1, profile, pattern, duration_s=0.01, scenarios=scenarios)
    traced_peak = 0.0
    rss_before = _max_rss_mib()
    if mode == "memory":
        tracemalloc.start()
    start = time.perf_counter()
    schedule = workload.build_schedule(
        seed, profile, pattern, duration_s=duration, scenarios=scenarios
    )
    build_s = time.perf_counter() - start
    if mode == "memory":
        traced_peak = tracemalloc.get_traced_memory()[1] / MIB
        tracemalloc.stop()
    rss_built = _max_rss_mib()
    events_s = events_rss = 0.0
    if mode == "time":
        # After the build is measured: what turning the schedule into Events costs.
        start = time.perf_counter()
        built = schedule.events()
        events_s = time.perf_counter() - start
        events_rss = _max_rss_mib() - rss_built
        del built
    arrays = (
        schedule.t_ns,
        schedule.subject_idx,
        schedule.category_idx,
        schedule.payload_size,
        schedule.phase_idx,
    )
    return CostSample(
        mode=mode,
        profile=profile,
        pattern=pattern,
        seed=seed,
        duration_s=duration,
        events=len(schedule),
        build_s=build_s,
        peak_rss_growth_mib=rss_built - rss_before,
        traced_peak_mib=traced_peak,
        arrays_mib=sum(a.nbytes for a in arrays) / MIB,
        hash=schedule.hash,
        events_s=events_s,
        events_rss_growth_mib=events_rss,
    )


def run_fresh(profile: str, pattern: str, seed: int, events: int, mode: Mode) -> CostSample:
    """Run :func:`measure` in a fresh interpreter and return its sample."""
    argv = [
        sys.executable,
        "-m",
        "bench.experiments.schedule_cost",
        "--mode",
        mode,
        "--profile",
        profile,
    ]
    argv += ["--pattern", pattern, "--seed", str(seed), "--events", str(events)]
    proc = subprocess.run(argv, capture_output=True, check=False, timeout=300)
    if proc.returncode != 0:
        tail = proc.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise ScheduleCostError(f"schedule-cost child exited {proc.returncode}: {tail[0]}")
    return msgspec.json.decode(proc.stdout, type=CostSample)


def main(argv: Sequence[str] | None = None) -> int:
    """The child's entry point: measure once, write the sample as JSON on stdout."""
    parser = argparse.ArgumentParser(prog="python -m bench.experiments.schedule_cost")
    parser.add_argument("--mode", choices=["time", "memory"], default="time")
    parser.add_argument("--profile", default="medium")
    parser.add_argument("--pattern", default="steady")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--events", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    try:
        sample = measure(args.profile, args.pattern, args.seed, args.events, args.mode)
    except SwitchyardError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    sys.stdout.write(msgspec.json.encode(sample).decode() + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
