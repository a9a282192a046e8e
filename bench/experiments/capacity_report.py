"""The versioned record ``bench capacity --json`` writes, read back by the report."""

from __future__ import annotations

import msgspec

from bench.experiments.capacity import SearchSettings
from bench.experiments.capacity_step import Sizing
from bench.schema import Environment


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
