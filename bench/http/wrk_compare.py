"""``bench load --wrk-compare``'s measurement: wrk against bare, floor and daemon in turn.

Each run starts one server (bench/http/bare.py's bare app, the floor of
bench/http/floor.py, or the sink daemon) pinned to CPU 0, drives it with ``wrk``
pinned to CPU 1, and divides the server's CPU time by wrk's request count. Rounds
alternate the order (bare, floor, daemon, then the reverse), so a load drifting
through the run weighs on each side alike. With ``py_spy_dir`` every server is
also sampled by py-spy (raw collapsed stacks, 250 Hz, ``--nonblocking``: the
interpreter is not paused), pinned beside wrk.
"""

from __future__ import annotations

import os
import statistics
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

import msgspec

from bench.http.bare import Server, run_wrk, spawn_bare, spawn_daemon, spawn_floor

#: The servers, in the order of an even round.
SIDES = ("bare", "floor", "daemon")
#: The CPU-per-request ratios reported, when both sides ran.
PAIRS = (("daemon", "bare"), ("floor", "bare"), ("daemon", "floor"))


class WrkRun(msgspec.Struct, frozen=True):
    """One server under one wrk run; ``final`` is the server's last ``final {...}`` line."""

    side: str
    requests_per_s: float
    cpu_us_per_request: float
    non_2xx: float
    socket_errors: float
    final: str


class WrkCompare(msgspec.Struct, frozen=True):
    """Every run, then per side the medians, and per pair the CPU-per-request ratios.

    ``cpu_ratios`` divides the medians; ``round_ratios`` is the median over rounds of
    each round's own ratio (robust to load drifting between rounds).
    """

    order: list[str]
    duration_s: int
    connections: int
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]
    runs: list[WrkRun]
    median_requests_per_s: dict[str, float]
    median_cpu_us_per_request: dict[str, float]
    cpu_ratios: dict[str, float]
    round_ratios: dict[str, float]


def parse_sides(text: str) -> list[str]:
    """``text`` (comma-separated) as sides in :data:`SIDES` order; ValueError if not."""
    sides = [s.strip() for s in text.split(",") if s.strip()]
    if not sides or len(set(sides)) != len(sides) or set(sides) - set(SIDES):
        raise ValueError(f"{text!r}: name some of {', '.join(SIDES)}, each once")
    return [s for s in SIDES if s in sides]


def rotation(sides: Sequence[str], rounds: int) -> list[str]:
    """The run order: ``sides``, then reversed, ``rounds`` times in all (ABBA for two)."""
    return [s for r in range(rounds) for s in (sides if r % 2 == 0 else sides[::-1])]


def _spawn(side: str) -> Server:
    if side == "daemon":
        return spawn_daemon(None, cpu=0)
    return spawn_floor(cpu=0) if side == "floor" else spawn_bare(cpu=0)


def _py_spy(exe: str, pid: int, out: Path, duration_s: int) -> subprocess.Popen[bytes]:
    cmd = [exe, "record", "--nonblocking", "-r", "250", "-f", "raw", "-d", str(duration_s)]
    proc = subprocess.Popen(
        [*cmd, "-p", str(pid), "-o", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(proc.pid, {1})
    return proc


def _one(side: str, duration_s: int, connections: int, spy: tuple[str, Path] | None) -> WrkRun:
    server = _spawn(side)
    sampler = None
    try:
        if spy is not None:
            sampler = _py_spy(spy[0], server.proc.pid, spy[1], duration_s)
        cpu0 = server.cpu_s()
        result = run_wrk(server.url, duration_s, connections, cpu=1)
        cpu = server.cpu_s() - cpu0
    finally:
        if sampler is not None:
            sampler.wait(timeout=duration_s + 60)
        final = server.stop()
    rate = result["requests_per_s"]
    return WrkRun(
        side=side,
        requests_per_s=rate,
        cpu_us_per_request=cpu / (rate * duration_s) * 1e6,
        non_2xx=result["non_2xx"],
        socket_errors=result["socket_errors"],
        final=next((x for x in final.splitlines() if x.startswith("final ")), ""),
    )


def compare(
    sides: Sequence[str],
    rounds: int,
    duration_s: int,
    connections: int,
    py_spy: tuple[str, Path] | None = None,
    on_run: Callable[[WrkRun], None] = lambda run: None,
) -> WrkCompare:
    """Run every side ``rounds`` times, alternating the order; ``on_run`` sees each run.

    ``py_spy`` is (py-spy executable, folder): run n of side S is sampled into
    ``folder/NN-S.txt``. Raise ProcessError when a server or wrk cannot start.
    """
    order = rotation(sides, rounds)
    if py_spy is not None:
        py_spy[1].mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    runs = []
    for n, side in enumerate(order):
        spy = (py_spy[0], py_spy[1] / f"{n:02d}-{side}.txt") if py_spy is not None else None
        runs.append(_one(side, duration_s, connections, spy))
        on_run(runs[-1])
    rates = {s: [r.requests_per_s for r in runs if r.side == s] for s in sides}
    cpu = {s: [r.cpu_us_per_request for r in runs if r.side == s] for s in sides}
    cpu_med = {s: statistics.median(v) for s, v in cpu.items()}
    pairs = [(a, b) for a, b in PAIRS if a in sides and b in sides]
    return WrkCompare(
        order=order,
        duration_s=duration_s,
        connections=connections,
        load_before=load_before,
        load_after=os.getloadavg(),
        runs=runs,
        median_requests_per_s={s: statistics.median(v) for s, v in rates.items()},
        median_cpu_us_per_request=cpu_med,
        cpu_ratios={f"{a}/{b}": cpu_med[a] / cpu_med[b] for a, b in pairs},
        round_ratios={
            f"{a}/{b}": statistics.median(x / y for x, y in zip(cpu[a], cpu[b], strict=True))
            for a, b in pairs
        },
    )
