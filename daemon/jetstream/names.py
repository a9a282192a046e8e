"""How subscriptions and events map onto JetStream names and subjects (pure functions)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

from events.subjects import patterns_overlap

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def stored_subject(prefix: str, subject: str) -> str:
    """The NATS subject an event on ``subject`` is stored under."""
    return f"{prefix}.{subject}"


def durable_name(durable_prefix: str, key: str) -> str:
    """A valid, stable consumer name for ``key``: readable slug plus a hash for uniqueness.

    Consumer names may not hold dots, wildcards or whitespace, so the slug keeps
    only safe characters; the hash keeps keys that differ only in those apart.
    """
    digest = hashlib.sha256(key.encode()).hexdigest()[:10]
    slug = _UNSAFE.sub("_", key).strip("_")[:32] or "sub"
    return f"{durable_prefix}-{slug}-{digest}"


def filter_subjects(prefix: str, patterns: Iterable[str]) -> list[str]:
    """The consumer filter for subscriptions on ``patterns`` (one lane's members).

    JetStream refuses overlapping filters in one consumer, so overlapping
    patterns share the whole prefix (``<prefix>.>``) and the lane matches each
    message against its members itself.
    """
    unique = sorted(set(patterns))
    for i, first in enumerate(unique):
        for second in unique[i + 1 :]:
            if patterns_overlap(first, second):
                return [f"{prefix}.>"]
    return [stored_subject(prefix, pattern) for pattern in unique]
