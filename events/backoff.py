"""Exponential backoff with full jitter (the AWS architecture-blog variant)."""

from __future__ import annotations

import random
from collections.abc import Callable

from events.subscription import RetryPolicy


def backoff_ceiling(policy: RetryPolicy, failed_attempts: int) -> float:
    """Upper bound of the wait after ``failed_attempts`` failures (>= 1): base * 2^(n-1), capped."""
    if failed_attempts < 1:
        raise ValueError(f"failed_attempts must be >= 1, got {failed_attempts}")
    # min() on the exponent first keeps 2**n from growing without bound.
    exponent = min(failed_attempts - 1, 62)
    return min(policy.backoff_cap_s, policy.backoff_base_s * 2.0**exponent)


def backoff_delay(
    policy: RetryPolicy, failed_attempts: int, uniform: Callable[[float, float], float]
) -> float:
    """A full-jitter delay: uniform over [0, ceiling]. ``uniform`` is e.g. ``random.uniform``."""
    return uniform(0.0, backoff_ceiling(policy, failed_attempts))


def default_uniform(seed: int | None = None) -> Callable[[float, float], float]:
    """A seeded ``uniform`` for :func:`backoff_delay`."""
    return random.Random(seed).uniform
