"""The versioned record ``bench capacity --json`` writes, read back by the report."""

from __future__ import annotations

from pathlib import Path

import msgspec

from bench.analysis.projection import Growth
from bench.experiments.at_capacity import Level
from bench.experiments.capacity import SearchSettings
from bench.experiments.capacity_step import Sizing
from bench.experiments.planning import ArchPlan
from bench.host.calibrate import HostSpeed, SpeedRatio
from bench.schema import SCHEMA, Environment, SchemaError


class CapacityReport(msgspec.Struct, frozen=True):
    """What ``capacity --json`` writes."""

    schema: str
    environment: Environment
    profile: str
    slo: tuple[str, ...]
    error_limit: float
    settings: SearchSettings
    step_s: float
    sizings: tuple[Sizing, ...]
    elapsed_s: float
    #: The machine's hashing speed (bytes/µs), sampled in this process after each step.
    machine_speed: tuple[float, ...] = ()
    #: The budget of --max-time (None: the step-capped search without repeats).
    max_time_s: float | None = None
    #: Per architecture: CPU-demand bound, headroom in months, target-host bound.
    plans: tuple[ArchPlan, ...] = ()
    growth: Growth | None = None
    #: With --target-host: this machine's calibration, the target's, and the ratio.
    here: HostSpeed | None = None
    target_host: HostSpeed | None = None
    speed_ratio: SpeedRatio | None = None
    #: The short equal-utilisation measurement behind the migration answer's latency.
    latency_at: Level | None = None
    #: The migration answer as printed.
    migration: str = ""


def load_report(path: Path) -> CapacityReport:
    """Read a ``capacity --json`` file; raise :class:`SchemaError` saying why it cannot be."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SchemaError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        report = msgspec.json.decode(data, type=CapacityReport)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise SchemaError(f"{path}: not a capacity report: {exc}") from None
    if report.schema != SCHEMA:
        raise SchemaError(f"{path}: schema {report.schema!r} is not {SCHEMA!r}")
    return report
