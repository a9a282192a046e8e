"""Runs in fresh subprocesses, interleaved in randomized ABBA blocks, each after a warm-up.

The parent checks every name before spawning anything. Each run is the ``run``
sub-command, spawned as ``python -m bench.commands.run … --json FILE`` (the same
parser and code as ``python -m bench run``, without importing every other
sub-command) in its own process, so no architecture
inherits another's heap, JIT-less caches or garbage; the worker's exit code 3
(invalid run) still carries a result, any other failure is an error here.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

import workload.cpu
from bench.architectures import make
from bench.exits import EXIT_INVALID
from bench.schema import RunResult, RunSpec, SchemaError, decode_run
from events.errors import ConfigError, SwitchyardError

if TYPE_CHECKING:
    from workload import Scenarios


class RunFailed(SwitchyardError):
    """Raised when a run worker crashes or returns no result."""


def check_names(
    archs: Sequence[str], profile: str, pattern: str, scenarios: Scenarios | None = None
) -> None:
    """Raise a clear error for an unknown profile, pattern or architecture, before any run.

    Each architecture is built once (not started), so a factory that does not
    import, raises or returns something other than a Router is caught here.
    Profiles are those of ``scenarios`` when given (``--scenarios``); a trace
    replay's pattern (``trace:<name>``) is not a pattern name.
    """
    import workload

    # The profiles the scenarios define (the shipped configs/scenarios.toml's, smoke among
    # them, or those of --scenarios), not only the four the workload names in PROFILES.
    defined = scenarios if scenarios is not None else workload.load_scenarios()
    profiles = tuple(defined.profiles)
    if profile not in profiles:
        raise ConfigError(f"unknown profile {profile!r}: use one of {', '.join(profiles)}")
    if not pattern.startswith("trace:") and pattern not in workload.PATTERNS:
        raise ConfigError(f"unknown pattern {pattern!r}: use one of {', '.join(workload.PATTERNS)}")
    for arch in archs:
        make(arch)


def plan(archs: Sequence[str], runs: int, seed: int) -> list[list[str]]:
    """Blocks of runs: each a seeded random order followed by its mirror (ABBA or BAAB).

    Every architecture gets exactly ``runs`` runs; when ``runs`` is odd the last
    block is a single random order (AB or BA).
    """
    if runs < 1:
        raise ConfigError(f"--runs must be >= 1, got {runs}")
    rng = random.Random(seed)
    blocks: list[list[str]] = []
    remaining = runs
    while remaining > 0:
        order = list(archs)
        rng.shuffle(order)
        if remaining >= 2:
            blocks.append(order + order[::-1])
            remaining -= 2
        else:
            blocks.append(order)
            remaining -= 1
    return blocks


def worker_env() -> dict[str, str]:
    """The environment of a run worker: this project importable, the CPU speed shared."""
    workload.cpu.share_speed_with_children()
    env = dict(os.environ)
    cwd = os.getcwd()
    env["PYTHONPATH"] = os.pathsep.join(p for p in (cwd, env.get("PYTHONPATH", "")) if p)
    return env


def worker_command(spec_file: Path, out: Path) -> list[str]:
    """The worker's arguments after the interpreter (``-m bench.commands.run ...``)."""
    return _worker_command(spec_file, out)[1:]


def _worker_command(spec_file: Path, out: Path) -> list[str]:
    # The spec travels msgspec-encoded, whole: a field added to RunSpec reaches the
    # worker without a flag to add here and a parse to add there.
    return [
        sys.executable, "-m", "bench.commands.run",
        "--spec", str(spec_file),
        "--json", str(out),
        "--quiet",
    ]  # fmt: skip


def run_in_subprocess(spec: RunSpec, timeout_s: float) -> RunResult:
    """Run one measurement in a fresh interpreter and return its validated result.

    Every run hashes the same bytes per simulated microsecond of CPU work: the
    speed is measured once, here, and handed to each worker.
    """
    env = worker_env()
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="switchyard-run-") as tmp:
        out = Path(tmp) / "run.json"
        spec_file = Path(tmp) / "spec.json"
        spec_file.write_bytes(msgspec.json.encode(spec))
        cmd = [*_worker_command(spec_file, out), "--spawned-at", repr(time.time())]
        try:
            proc = subprocess.run(
                cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout_s
            )
        except subprocess.TimeoutExpired:
            raise RunFailed(
                f"run of {spec.arch!r} did not finish within {timeout_s:.0f} s"
            ) from None
        if proc.returncode not in (0, EXIT_INVALID) or not out.exists():
            tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise RunFailed(f"run of {spec.arch!r} failed (exit {proc.returncode}): {tail}")
        try:
            return decode_run(out.read_bytes(), f"run of {spec.arch!r}")
        except SchemaError as exc:
            raise RunFailed(str(exc)) from None


class Progress:
    """Callbacks the runner reports to (see :mod:`bench.run.progress`)."""

    def started(self, block: int, blocks: int, arch: str, warmup: bool) -> None: ...

    def finished(self, arch: str, result: RunResult | None, seconds: float) -> None: ...

    def planned(self, more: int) -> None:
        """``more`` runs (warm-ups included) were added to the plan."""


Launcher = Callable[[RunSpec, float], RunResult]


def execute(
    blocks: list[list[str]],
    base: RunSpec,
    warmup_s: float,
    progress: Progress,
    launch: Launcher = run_in_subprocess,
    timeout_s: float = 120.0,
    names: dict[str, str] | None = None,
) -> list[tuple[int, int, RunResult]]:
    """Run the plan; return (block, position, result) of every measured run.

    Blocks hold labels; ``names`` maps a label to its architecture when they
    differ (an A/A comparison labels the second copy ``arch#2``). Each block
    begins with a discarded warm-up run of its first architecture.
    """
    names = names or {}
    measured: list[tuple[int, int, RunResult]] = []
    for b, block in enumerate(blocks):
        if warmup_s > 0:
            # A warm-up has no outage: it only warms the interpreter and the machine.
            warm = msgspec.structs.replace(
                base, arch=names.get(block[0], block[0]), duration_s=warmup_s, outages=()
            )
            progress.started(b, len(blocks), block[0], warmup=True)
            began = time.monotonic()
            launch(warm, timeout_s)
            progress.finished(block[0], None, time.monotonic() - began)
        for position, arch in enumerate(block):
            spec = msgspec.structs.replace(base, arch=names.get(arch, arch))
            progress.started(b, len(blocks), arch, warmup=False)
            began = time.monotonic()
            result = launch(spec, timeout_s)
            progress.finished(arch, result, time.monotonic() - began)
            measured.append((b, position, result))
    return measured
