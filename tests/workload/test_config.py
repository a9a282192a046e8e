"""Loading and validating configs/scenarios.toml."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from events import ConfigError
from workload import PATTERNS, PROFILES, build_schedule, load_scenarios, parse_scenarios

PROFILE = {"services": 3, "payload_bytes": 512, "base_rate": 100.0, "duration_s": 10.0}


def doc(**tables: Any) -> dict[str, Any]:
    return {"profiles": {"light": dict(PROFILE)}, **tables}


def test_default_file_has_the_four_profiles() -> None:
    """The shipped file defines light/medium/heavy/stress with the asked services and sizes."""
    scenarios = load_scenarios()
    actual = {
        name: (scenarios.profiles[name].services, scenarios.profiles[name].payload_bytes)
        for name in PROFILES
    }
    expected = {"light": (3, 512), "medium": (10, 1024), "heavy": (50, 4096), "stress": (100, 8192)}
    assert expected == actual


def test_default_file_mix_is_the_design_mix() -> None:
    """The shipped mix is the design's 30/25/20/10/10/5."""
    assert pytest.approx(load_scenarios().weights()) == [0.30, 0.25, 0.20, 0.10, 0.10, 0.05]


@pytest.mark.parametrize(
    ("mix", "needle"),
    [
        ({"filesystem": -1, "database": 1}, "[mix] filesystem: weight must be >= 0"),
        ({"filesystm": 1}, "[mix] filesystm: unknown category"),
        ({"filesystem": 0, "database": 0}, "[mix]: all weights are zero"),
        ({"database": "a lot"}, "[mix] database: weight must be a number"),
    ],
)
def test_bad_mix_is_rejected_naming_the_key(mix: dict[str, Any], needle: str) -> None:
    """A negative, unknown, non-numeric or all-zero weight is an error naming the key."""
    with pytest.raises(ConfigError) as info:
        parse_scenarios(doc(mix=mix), "s.toml")
    assert needle in str(info.value)


@pytest.mark.parametrize(
    ("tables", "needle"),
    [
        ({"patterns": {"spike": {"factor": -2.0}}}, "patterns.spike.factor must be > 0"),
        ({"patterns": {"spike": {"facter": 2.0}}}, "unknown field `facter`"),
        ({"patterns": {"sawtooth": {}}}, "unknown field `sawtooth`"),
        ({"patterns": {"mixed": {"sequence": ["steady", "mixed"]}}}, "unknown pattern 'mixed'"),
        ({"patterns": {"burst": {"burst_share": 1.5}}}, "patterns.burst.burst_share"),
        ({"subjects": {"tables": ["a.b"]}}, "subjects.tables: 'a.b'"),
        ({"payload": {"max_factor": 0.5}}, "payload.max_factor must be >= 1"),
        ({"rates": {}}, "unknown table [rates]"),
    ],
)
def test_bad_tables_are_rejected_naming_the_field(tables: dict[str, Any], needle: str) -> None:
    """Pattern, subject, payload and table errors name what is wrong."""
    with pytest.raises(ConfigError) as info:
        parse_scenarios(doc(**tables), "s.toml")
    assert needle in str(info.value)


def test_bad_profile_names_profile_and_field() -> None:
    """A non-positive base rate is reported as profiles.<name>.base_rate."""
    with pytest.raises(ConfigError) as info:
        parse_scenarios({"profiles": {"light": {**PROFILE, "base_rate": 0.0}}}, "s.toml")
    assert "profiles.light.base_rate must be > 0" in str(info.value)


def test_bad_service_names_the_service() -> None:
    """A sub-millisecond I/O wait is refused, and the error names the service."""
    service = {"pattern": "db.>", "model": {"io_ms_min": 0.2, "io_ms_max": 3.0}}
    with pytest.raises(ConfigError) as info:
        parse_scenarios(doc(services={"named": {"datastore": service}}), "s.toml")
    message = str(info.value)
    assert (
        "[services.named.datastore]" in message,
        "model.io_ms_min must be >= 1" in message,
    ) == (True, True)


def test_bad_service_pattern_is_rejected() -> None:
    """A service pattern breaking the subject grammar is a config error."""
    with pytest.raises(ConfigError) as info:
        parse_scenarios(doc(services={"named": {"x": {"pattern": "db.>.x"}}}), "s.toml")
    assert "'>' must be the last token" in str(info.value)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    """A missing scenarios file is a ConfigError naming the path."""
    path = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as info:
        load_scenarios(path)
    assert f"{path}: no such config file" == str(info.value)


@pytest.mark.parametrize(
    ("profile", "pattern", "needle"),
    [
        ("medium", "sawtooth", "valid patterns: " + ", ".join(PATTERNS)),
        ("gigantic", "spike", "valid profiles: light, medium, heavy, stress"),
    ],
)
def test_unknown_names_list_the_valid_ones(profile: str, pattern: str, needle: str) -> None:
    """build_schedule refuses unknown profiles and patterns, listing the valid names."""
    with pytest.raises(ConfigError) as info:
        build_schedule(1, profile, pattern)
    assert needle in str(info.value)
