"""Memory profiles: leak verdicts, allocation sites, bytes per buffered event, peak RSS.

Each architecture is profiled in its own fresh interpreter
(``python -m bench memory --child …``, see :mod:`bench.memory.probe`) so no
heap is shared. The parent gathers the profiles into one versioned
:class:`MemoryReport`.

Leak verdict: the heap traced after each iteration (after a full collection)
is regressed on the iteration number, leaving out the first iteration, which
fills caches and pools once. The growth is the OLS slope with its 95% CI
(:func:`bench.analysis.stats.linear_slope_ci`); a **leak** is declared only when the
whole CI lies above the threshold — by default 1 byte per event of an
iteration, and at least 4 KiB — so noise and bounded stores (the dead-letter
store holds at most 10,000 entries) do not raise false alarms.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import msgspec

from bench.analysis.stats import linear_slope_ci
from bench.schema import Environment
from events.errors import SwitchyardError

MEMORY_SCHEMA = "switchyard.memory/1"
#: Floor of the leak threshold (bytes per iteration).
MIN_THRESHOLD_BYTES = 4096


class MemoryProfileError(SwitchyardError):
    """Raised when a memory profile cannot be taken or read."""


class AllocationSite(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Where the heap grew between the first and the last iteration."""

    file: str
    line: int
    size_diff: int
    count_diff: int
    size: int


class LeakVerdict(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Growth per iteration (bytes) with its CI, against the threshold."""

    slope: float
    low: float
    high: float
    threshold: float
    leak: bool
    explanation: str


class MemoryProfile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One architecture's profile."""

    arch: str
    profile: str
    pattern: str
    seed: int
    iterations: int
    events_per_iteration: int
    duration_s: float
    traced_bytes: tuple[int, ...]
    verdict: LeakVerdict
    top_sites: tuple[AllocationSite, ...]
    buffered_events: int
    buffered_deliveries: int
    bytes_per_buffered_event: float
    bytes_per_buffered_delivery: float
    traced_peak_bytes: int
    rss_peak_bytes: int
    ru_maxrss_bytes: int
    elapsed_s: float


class MemoryReport(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Every architecture's profile with the environment they ran in."""

    schema: str
    environment: Environment
    profiles: tuple[MemoryProfile, ...]


def threshold_for(events_per_iteration: int, bytes_per_event: float = 1.0) -> float:
    return max(float(MIN_THRESHOLD_BYTES), bytes_per_event * events_per_iteration)


def leak_verdict(traced: Sequence[int], threshold: float) -> LeakVerdict:
    """The growth per iteration of ``traced`` (first iteration left out) against ``threshold``."""
    kept = list(traced[1:])
    if len(kept) < 3:
        raise MemoryProfileError(
            f"a leak verdict needs at least 4 iterations (3 after the first), got {len(traced)}"
        )
    xs = [float(i) for i in range(1, len(traced))]
    slope, low, high = linear_slope_ci(xs, [float(v) for v in kept])
    leak = low > threshold
    ci = f"{slope:,.0f} B/iteration (95% CI {low:,.0f} to {high:,.0f})"
    if leak:
        text = f"LEAK: the heap grows {ci}, wholly above the {threshold:,.0f} B threshold"
    elif high <= threshold:
        text = f"no leak: growth {ci} stays below the {threshold:,.0f} B threshold"
    else:
        text = (
            f"no leak shown: growth {ci} reaches past the {threshold:,.0f} B threshold;"
            " more iterations would settle it"
        )
    return LeakVerdict(slope, low, high, threshold, leak, text)


def decode_memory(data: bytes | str, where: str = "memory report") -> MemoryReport:
    try:
        report = msgspec.json.decode(data, type=MemoryReport)
    except msgspec.DecodeError as exc:
        raise MemoryProfileError(f"{where}: {exc}") from None
    if report.schema != MEMORY_SCHEMA:
        raise MemoryProfileError(f"{where}: schema {report.schema!r} is not {MEMORY_SCHEMA!r}")
    return report


def child_command(arch: str, profile: str, pattern: str, seed: int, iterations: int,
                  duration_s: float, base_rate: float | None, out: Path,
                  scenarios: str | None = None) -> list[str]:  # fmt: skip
    cmd = [
        sys.executable, "-m", "bench", "memory", "--child",
        "--arch", arch, "--profile", profile, "--pattern", pattern, "--seed", str(seed),
        "--iterations", str(iterations), "--duration", repr(duration_s), "--json", str(out),
    ]  # fmt: skip
    if base_rate is not None:
        cmd += ["--base-rate", repr(base_rate)]
    if scenarios is not None:
        cmd += ["--scenarios", scenarios]
    return cmd


def profile_in_subprocess(
    arch: str,
    profile: str,
    pattern: str,
    seed: int,
    iterations: int,
    duration_s: float,
    base_rate: float | None = None,
    timeout_s: float = 900.0,
    scenarios: str | None = None,
) -> MemoryProfile:
    """Profile ``arch`` in a fresh interpreter and return its validated profile."""
    env = dict(os.environ)
    cwd = os.getcwd()
    env["PYTHONPATH"] = os.pathsep.join(p for p in (cwd, env.get("PYTHONPATH", "")) if p)
    with tempfile.TemporaryDirectory(prefix="switchyard-memory-") as tmp:
        out = Path(tmp) / "profile.json"
        cmd = child_command(
            arch, profile, pattern, seed, iterations, duration_s, base_rate, out, scenarios
        )
        try:
            proc = subprocess.run(
                cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout_s
            )
        except subprocess.TimeoutExpired:
            raise MemoryProfileError(
                f"memory profile of {arch!r} exceeded {timeout_s:.0f} s"
            ) from None
        if proc.returncode != 0 or not out.exists():
            tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise MemoryProfileError(
                f"memory profile of {arch!r} failed (exit {proc.returncode}): {tail}"
            )
        try:
            return msgspec.json.decode(out.read_bytes(), type=MemoryProfile)
        except msgspec.DecodeError as exc:
            raise MemoryProfileError(f"memory profile of {arch!r}: {exc}") from None


Profiler = Callable[[str], MemoryProfile]


def profile_all(archs: Sequence[str], profiler: Profiler, environment: Environment) -> MemoryReport:
    """One profile per architecture, in order, through ``profiler`` (one subprocess each)."""
    return MemoryReport(
        schema=MEMORY_SCHEMA,
        environment=environment,
        profiles=tuple(profiler(arch) for arch in archs),
    )


def _mib(n: float) -> str:
    return f"{n / 2**20:.1f}"


MEMORY_HEADER = (
    "architecture", "growth/iter (B)", "95% CI (B)", "verdict", "B per buffered event",
    "B per buffered delivery", "traced peak (MiB)", "peak RSS (MiB)",
)  # fmt: skip


def memory_rows(report: MemoryReport) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for p in report.profiles:
        v = p.verdict
        rows.append(
            (
                p.arch,
                f"{v.slope:,.0f}",
                f"{v.low:,.0f} to {v.high:,.0f}",
                "LEAK" if v.leak else "no leak",
                f"{p.bytes_per_buffered_event:,.0f}",
                f"{p.bytes_per_buffered_delivery:,.0f}",
                _mib(p.traced_peak_bytes),
                _mib(p.rss_peak_bytes),
            )
        )
    return rows


def memory_markdown(report: MemoryReport) -> str:
    first = report.profiles[0] if report.profiles else None
    lines = ["## Memory profile", ""]
    if first is not None:
        lines += [
            f"Profile {first.profile}, pattern {first.pattern}, {first.iterations} iterations of"
            f" {first.duration_s:g} s ({first.events_per_iteration} events each), seed"
            f" {first.seed}, under tracemalloc. Command: `{' '.join(report.environment.argv)}`",
            "",
        ]
    lines += ["| " + " | ".join(MEMORY_HEADER) + " |", "|" + "---|" * len(MEMORY_HEADER)]
    lines += ["| " + " | ".join(row) + " |" for row in memory_rows(report)]
    for p in report.profiles:
        lines += ["", f"### {p.arch}: {p.verdict.explanation}", ""]
        lines += ["| site | growth (B) | blocks | held (B) |", "|---|---|---|---|"]
        lines += [
            f"| {s.file}:{s.line} | {s.size_diff:,} | {s.count_diff:,} | {s.size:,} |"
            for s in p.top_sites
        ]
    return "\n".join(lines)
