"""Seeded open-loop workloads: the event mix, load patterns, schedules, simulated services.

``build_schedule(seed, profile, pattern)`` draws a hashed schedule of intended
send times, subjects and payload sizes; ``build_services(profile)`` gives the
simulated subscribers with their subscription policies and handlers.
"""

from __future__ import annotations

from workload.config import (
    PROFILES,
    Profile,
    Scenarios,
    ServiceModel,
    ServicePolicy,
    load_scenarios,
    parse_scenarios,
)
from workload.cpu import burn_us
from workload.errors import ScheduleFileError, SimulatedFailure
from workload.files import read_schedule, write_schedule
from workload.patterns import PATTERNS, Phase
from workload.schedule import Schedule, build_schedule, plan_phases
from workload.services import ServiceSpec, build_services, expected_fanout

__all__ = [
    "PATTERNS",
    "PROFILES",
    "Phase",
    "Profile",
    "Scenarios",
    "Schedule",
    "ScheduleFileError",
    "ServiceModel",
    "ServicePolicy",
    "ServiceSpec",
    "SimulatedFailure",
    "build_schedule",
    "build_services",
    "burn_us",
    "expected_fanout",
    "load_scenarios",
    "parse_scenarios",
    "plan_phases",
    "read_schedule",
    "write_schedule",
]
