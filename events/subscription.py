"""What a subscriber asks for: which subjects, how much buffer, what to do on failure."""

from __future__ import annotations

from typing import Literal

import msgspec

from events.errors import ConfigError, InvalidSubject
from events.subjects import validate_pattern

Overflow = Literal["reject", "drop_oldest", "dead_letter"]
OnOpen = Literal["wait", "dead_letter"]


class RetryPolicy(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Attempts (the first included) and exponential backoff with full jitter."""

    attempts: int = 3
    backoff_base_s: float = 0.005
    backoff_cap_s: float = 0.5

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ConfigError(f"retry.attempts must be >= 1, got {self.attempts}")
        if self.backoff_base_s < 0:
            raise ConfigError(f"retry.backoff_base_s must be >= 0, got {self.backoff_base_s}")
        if self.backoff_cap_s < self.backoff_base_s:
            raise ConfigError(
                f"retry.backoff_cap_s ({self.backoff_cap_s}) must be >= backoff_base_s"
                f" ({self.backoff_base_s})"
            )


class BreakerPolicy(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Circuit breaker: opens when the failure ratio over a window reaches ``failure_ratio``.

    ``on_open`` says what happens to events while the breaker is open: they
    ``wait`` in the mailbox, or go to the dead-letter store.
    """

    failure_ratio: float = 0.5
    min_calls: int = 20
    window: int = 50
    open_s: float = 1.0
    half_open_probes: int = 3
    on_open: OnOpen = "wait"
    enabled: bool = True

    def __post_init__(self) -> None:
        if not 0.0 < self.failure_ratio <= 1.0:
            raise ConfigError(f"breaker.failure_ratio must be in (0, 1], got {self.failure_ratio}")
        if self.min_calls < 1:
            raise ConfigError(f"breaker.min_calls must be >= 1, got {self.min_calls}")
        if self.window < self.min_calls:
            raise ConfigError(
                f"breaker.window ({self.window}) must be >= min_calls ({self.min_calls})"
            )
        if self.open_s <= 0:
            raise ConfigError(f"breaker.open_s must be > 0, got {self.open_s}")
        if self.half_open_probes < 1:
            raise ConfigError(f"breaker.half_open_probes must be >= 1, got {self.half_open_probes}")


class Subscription(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A service's interest in a subject pattern, with its delivery policy.

    Every field but ``service`` and ``pattern`` has a default.
    """

    service: str
    pattern: str
    queue_group: str | None = None
    concurrency: int = 1
    mailbox: int = 10_000
    mailbox_bytes: int = 64 * 1024 * 1024
    overflow: Overflow = "reject"
    timeout_s: float = 5.0
    retry: RetryPolicy = RetryPolicy()
    breaker: BreakerPolicy = BreakerPolicy()

    def __post_init__(self) -> None:
        if not self.service or not isinstance(self.service, str):
            raise ConfigError("subscription.service must be a non-empty string")
        try:
            validate_pattern(self.pattern)
        except InvalidSubject as exc:
            raise ConfigError(f"subscription {self.service!r}: {exc}") from exc
        if self.concurrency < 1:
            raise ConfigError(
                f"subscription {self.service!r}: concurrency must be >= 1, got {self.concurrency}"
            )
        if self.mailbox < 1:
            raise ConfigError(
                f"subscription {self.service!r}: mailbox must be >= 1, got {self.mailbox}"
            )
        if self.mailbox_bytes < 1:
            raise ConfigError(
                f"subscription {self.service!r}: mailbox_bytes must be >= 1,"
                f" got {self.mailbox_bytes}"
            )
        if self.timeout_s <= 0:
            raise ConfigError(
                f"subscription {self.service!r}: timeout_s must be > 0, got {self.timeout_s}"
            )

    @property
    def key(self) -> str:
        """Identifies the subscription within a router (service and pattern)."""
        return f"{self.service}|{self.pattern}"
