"""Simulated services: who they are, their policies, and the real work their handlers do."""

from __future__ import annotations

import time

import pytest

from workload import PROFILES, ServiceModel, build_services, burn_us, load_scenarios
from workload.cpu import bytes_per_us
from workload.services import needed_concurrency


@pytest.mark.parametrize("profile", PROFILES)
def test_each_profile_has_its_count_of_uniquely_named_services(profile: str) -> None:
    """A profile gets exactly its configured number of services, names unique."""
    scenarios = load_scenarios()
    specs = build_services(profile, scenarios=scenarios)
    names = [s.name for s in specs]
    assert (scenarios.profiles[profile].services, len(names)) == (len(set(names)), len(specs))


def test_medium_has_the_named_backend_modules_first() -> None:
    """Medium carries the six named modules with their patterns, then generic ones."""
    specs = build_services("medium")
    expected = [
        ("datastore", "db.>"),
        ("inference", "fs.file.*"),
        ("audit", ">"),
        ("mcp-gateway", "mcp.>"),
        ("script-engine", "ext.>"),
        ("metrics", "sys.>"),
    ]
    generic = [s.name for s in specs[6:]]
    assert (expected, ["generic-001", "generic-002", "generic-003", "generic-004"]) == (
        [(s.name, s.subscription.pattern) for s in specs[:6]],
        generic,
    )


def test_shares_follow_the_mix() -> None:
    """audit sees every event; datastore sees the database share."""
    scenarios = load_scenarios()
    shares = {s.name: s.share for s in build_services("light", scenarios=scenarios)}
    weights = scenarios.weights()
    assert (pytest.approx(1.0), pytest.approx(weights[1])) == (shares["audit"], shares["datastore"])


@pytest.mark.parametrize("profile", PROFILES)
def test_io_bound_concurrency_covers_the_base_rate(profile: str) -> None:
    """Every service has at least headroom x (rate x share x mean service time) workers."""
    scenarios = load_scenarios()
    prof = scenarios.profiles[profile]
    headroom = scenarios.services.concurrency_headroom
    short = [
        s.name
        for s in build_services(profile, scenarios=scenarios)
        if s.subscription.concurrency
        < needed_concurrency(prof.base_rate, s.share, s.model, headroom)
    ]
    assert short == []


def test_needed_concurrency_is_littles_law_with_headroom() -> None:
    """1000/s x 25% x 3 ms mean I/O x 4 headroom = 3 workers."""
    model = ServiceModel(io_ms_min=1.0, io_ms_max=5.0)
    assert needed_concurrency(1000.0, 0.25, model, 4.0) == 3


def test_burn_us_really_burns_cpu() -> None:
    """Burning CPU hashes the budgeted bytes and advances process CPU time."""
    budget_us = 20_000.0
    expected_bytes = int(budget_us * bytes_per_us())
    before = time.process_time()
    hashed = burn_us(budget_us)
    after = time.process_time()
    assert (expected_bytes, True) == (hashed, after > before)


def test_zero_budget_burns_nothing() -> None:
    """A zero CPU budget hashes nothing."""
    assert burn_us(0.0) == 0
