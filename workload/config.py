"""The scenarios configuration (``configs/scenarios.toml``): profiles, mix, patterns, services.

Every table is validated on load; an error names the file, the table and the key.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import msgspec

from events.config import CONFIG_DIR, convert, read_toml
from events.errors import ConfigError, InvalidSubject
from events.model import Category
from events.subjects import validate_pattern
from events.subscription import BreakerPolicy, Overflow, RetryPolicy
from workload.patterns import PatternSet

DEFAULT_PATH = CONFIG_DIR / "scenarios.toml"
PROFILES = ("light", "medium", "heavy", "stress")
#: Design §2 weights, used when ``[mix]`` is absent (a category left out of a
#: given ``[mix]`` weighs zero).
DEFAULT_MIX = {
    "filesystem": 30.0,
    "database": 25.0,
    "external": 20.0,
    "mcp": 10.0,
    "service": 10.0,
    "system": 5.0,
}


class Profile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A load profile: how many simulated services, payload size, base rate, duration."""

    name: str
    services: int
    payload_bytes: int
    base_rate: float
    duration_s: float

    def __post_init__(self) -> None:
        where = f"profiles.{self.name}"
        if self.services < 1:
            raise ConfigError(f"{where}.services must be >= 1, got {self.services}")
        if self.payload_bytes < 0:
            raise ConfigError(f"{where}.payload_bytes must be >= 0, got {self.payload_bytes}")
        if not self.base_rate > 0 or not math.isfinite(self.base_rate):
            raise ConfigError(f"{where}.base_rate must be > 0, got {self.base_rate}")
        if not self.duration_s > 0 or not math.isfinite(self.duration_s):
            raise ConfigError(f"{where}.duration_s must be > 0, got {self.duration_s}")


class SubjectSets(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The small fixed sets that fill the ``<table>``, ``<provider>``... subject tokens."""

    tables: list[str] = msgspec.field(default_factory=lambda: ["users", "documents"])
    providers: list[str] = msgspec.field(default_factory=lambda: ["github", "slack"])
    servers: list[str] = msgspec.field(default_factory=lambda: ["files", "search"])
    names: list[str] = msgspec.field(default_factory=lambda: ["auth", "search"])

    def __post_init__(self) -> None:
        for key in ("tables", "providers", "servers", "names"):
            values: list[str] = getattr(self, key)
            if not values:
                raise ConfigError(f"subjects.{key} must not be empty")
            for value in values:
                if not value or any(c in value for c in ".*> \t"):
                    raise ConfigError(f"subjects.{key}: {value!r} is not a valid subject token")
            if len(set(values)) != len(values):
                raise ConfigError(f"subjects.{key} has duplicates: {values}")


class PayloadSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Payload sizes: log-normal around the profile size, clipped and rounded to a step."""

    sigma: float = 0.35
    min_factor: float = 0.25
    max_factor: float = 4.0
    steps_per_size: int = 16

    def __post_init__(self) -> None:
        if not self.sigma >= 0:
            raise ConfigError(f"payload.sigma must be >= 0, got {self.sigma}")
        if not 0 < self.min_factor <= 1:
            raise ConfigError(f"payload.min_factor must be in (0, 1], got {self.min_factor}")
        if not self.max_factor >= 1:
            raise ConfigError(f"payload.max_factor must be >= 1, got {self.max_factor}")
        if self.steps_per_size < 1:
            raise ConfigError(f"payload.steps_per_size must be >= 1, got {self.steps_per_size}")


class ServiceModel(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Service time and misbehaviour of a simulated service, per call."""

    cpu_us: float = 0.0
    io_ms_min: float = 0.0
    io_ms_max: float = 0.0
    failure_rate: float = 0.0
    timeout_rate: float = 0.0

    def __post_init__(self) -> None:
        if not self.cpu_us >= 0:
            raise ConfigError(f"model.cpu_us must be >= 0, got {self.cpu_us}")
        if self.io_ms_max > 0 and self.io_ms_min < 1:
            # uvloop timers resolve ~1 ms: shorter waits would not be what they claim.
            raise ConfigError(
                f"model.io_ms_min must be >= 1 when I/O is modelled, got {self.io_ms_min}"
            )
        if self.io_ms_max < self.io_ms_min:
            raise ConfigError(
                f"model.io_ms_max ({self.io_ms_max}) must be >= io_ms_min ({self.io_ms_min})"
            )
        for key in ("failure_rate", "timeout_rate"):
            value = getattr(self, key)
            if not 0 <= value <= 1:
                raise ConfigError(f"model.{key} must be in [0, 1], got {value}")
        if self.failure_rate + self.timeout_rate > 1:
            raise ConfigError("model.failure_rate + model.timeout_rate must be <= 1")

    @property
    def mean_io_s(self) -> float:
        return 0.0 if self.io_ms_max <= 0 else (self.io_ms_min + self.io_ms_max) / 2000.0


class ServicePolicy(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The subscription policy of a simulated service (see ``events.Subscription``)."""

    concurrency: int = 1
    mailbox: int = 10_000
    overflow: Overflow = "reject"
    timeout_s: float = 1.0
    retry: RetryPolicy = RetryPolicy()
    breaker: BreakerPolicy = BreakerPolicy()


class ServiceConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One named simulated service."""

    pattern: str
    model: ServiceModel = ServiceModel()
    policy: ServicePolicy = ServicePolicy()

    def __post_init__(self) -> None:
        _check_pattern("pattern", self.pattern)


def _check_pattern(key: str, pattern: str) -> None:
    try:
        validate_pattern(pattern)
    except InvalidSubject as exc:
        raise ConfigError(f"{key}: {exc}") from None


class GenericServices(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The N generic services of larger profiles; service i takes ``patterns[i % len]``."""

    patterns: list[str] = msgspec.field(default_factory=lambda: ["fs.file.created"])
    model: ServiceModel = ServiceModel()
    policy: ServicePolicy = ServicePolicy()

    def __post_init__(self) -> None:
        if not self.patterns:
            raise ConfigError("services.generic.patterns must not be empty")
        for pattern in self.patterns:
            _check_pattern("patterns", pattern)


class ServicesConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Named services (in the order profiles take them) and the generic ones."""

    named: dict[str, ServiceConfig] = {}
    generic: GenericServices = GenericServices()
    # Concurrency is raised to cover headroom x the I/O-bound load at the base rate.
    concurrency_headroom: float = 4.0


class Scenarios(msgspec.Struct, frozen=True):
    """The whole validated ``scenarios.toml``."""

    mix: dict[str, float]
    profiles: dict[str, Profile]
    patterns: PatternSet
    subjects: SubjectSets
    payload: PayloadSpec
    services: ServicesConfig
    source: str = ""

    def profile(self, name: str) -> Profile:
        """The profile ``name``; :class:`ConfigError` listing the valid names if unknown."""
        try:
            return self.profiles[name]
        except KeyError:
            valid = ", ".join(self.profiles)
            raise ConfigError(f"unknown profile {name!r}; valid profiles: {valid}") from None

    def weights(self) -> list[float]:
        """The mix weights normalised to 1, in ``Category`` order."""
        total = sum(self.mix.values())
        return [self.mix.get(c.value, 0.0) / total for c in Category]


def validate_mix(raw: Any, where: str) -> dict[str, float]:
    """Check ``[mix]``: known categories, finite non-negative weights, not all zero."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} [mix] must be a table")
    valid = [c.value for c in Category]
    mix: dict[str, float] = {}
    for key, value in raw.items():
        if key not in valid:
            raise ConfigError(f"{where} [mix] {key}: unknown category; valid: {', '.join(valid)}")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where} [mix] {key}: weight must be a number, got {value!r}")
        if not math.isfinite(value) or value < 0:
            raise ConfigError(f"{where} [mix] {key}: weight must be >= 0, got {value}")
        mix[key] = float(value)
    if not any(mix.values()):
        raise ConfigError(f"{where} [mix]: all weights are zero ({', '.join(mix) or 'none given'})")
    return mix


def parse_scenarios(data: dict[str, Any], where: str) -> Scenarios:
    """Validate a parsed TOML document into :class:`Scenarios`."""
    known = {"mix", "profiles", "patterns", "subjects", "payload", "services"}
    for key in data:
        if key not in known:
            raise ConfigError(f"{where}: unknown table [{key}]; valid: {', '.join(sorted(known))}")
    raw_profiles = data.get("profiles", {})
    if not isinstance(raw_profiles, dict) or not raw_profiles:
        raise ConfigError(f"{where} [profiles]: at least one profile table is required")
    profiles: dict[str, Profile] = {}
    for name, table in raw_profiles.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{where} [profiles.{name}] must be a table")
        if table.get("name", name) != name:
            raise ConfigError(f"{where} [profiles.{name}] name must match its table name")
        profiles[name] = convert({**table, "name": name}, Profile, f"{where} [profiles.{name}]")
    raw_services = data.get("services", {})
    if not isinstance(raw_services, dict):
        raise ConfigError(f"{where} [services] must be a table")
    raw_named = raw_services.get("named", {})
    if not isinstance(raw_named, dict):
        raise ConfigError(f"{where} [services.named] must be a table")
    # Converted one by one so an error names the service (msgspec hides dict keys).
    named = {
        key: convert(value, ServiceConfig, f"{where} [services.named.{key}]")
        for key, value in raw_named.items()
    }
    rest = {k: v for k, v in raw_services.items() if k != "named"}
    services = msgspec.structs.replace(
        convert(rest, ServicesConfig, f"{where} [services]"), named=named
    )
    return Scenarios(
        mix=validate_mix(data.get("mix", DEFAULT_MIX), where),
        profiles=profiles,
        patterns=convert(data.get("patterns", {}), PatternSet, f"{where} [patterns]"),
        subjects=convert(data.get("subjects", {}), SubjectSets, f"{where} [subjects]"),
        payload=convert(data.get("payload", {}), PayloadSpec, f"{where} [payload]"),
        services=services,
        source=where,
    )


def load_scenarios(path: str | Path | None = None) -> Scenarios:
    """Load and validate ``configs/scenarios.toml`` (or ``path``)."""
    path = DEFAULT_PATH if path is None else Path(path)
    return parse_scenarios(read_toml(path), str(path))
