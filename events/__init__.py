"""The shared contract of Switchyard: events, subjects, subscriptions, the Router protocol."""

from __future__ import annotations

from events.backoff import backoff_ceiling, backoff_delay
from events.breaker import Breaker
from events.codecs import (
    DecodeError,
    ValidationError,
    decode_json,
    decode_msgpack,
    encode_json,
    encode_msgpack,
)
from events.delivery import (
    DeadLetterStore,
    Handler,
    Pipeline,
    TimeoutWatchdog,
    WorkerSlot,
)
from events.errors import (
    AccountingError,
    ConfigError,
    HandlerTimeout,
    InvalidSubject,
    Permanent,
    SwitchyardError,
)
from events.model import (
    CATEGORY_PATTERNS,
    Ack,
    Category,
    DeadLetter,
    DrainReport,
    Event,
    RouterStats,
    SubscriptionStats,
)
from events.router import Router
from events.subjects import (
    is_valid_subject,
    patterns_overlap,
    subject_matches,
    validate_pattern,
    validate_subject,
)
from events.subscription import BreakerPolicy, RetryPolicy, Subscription

__all__ = [
    "CATEGORY_PATTERNS",
    "AccountingError",
    "Ack",
    "Breaker",
    "BreakerPolicy",
    "Category",
    "ConfigError",
    "DeadLetter",
    "DeadLetterStore",
    "DecodeError",
    "DrainReport",
    "Event",
    "Handler",
    "HandlerTimeout",
    "InvalidSubject",
    "Permanent",
    "Pipeline",
    "RetryPolicy",
    "Router",
    "RouterStats",
    "Subscription",
    "SubscriptionStats",
    "SwitchyardError",
    "TimeoutWatchdog",
    "ValidationError",
    "WorkerSlot",
    "backoff_ceiling",
    "backoff_delay",
    "decode_json",
    "decode_msgpack",
    "encode_json",
    "encode_msgpack",
    "is_valid_subject",
    "patterns_overlap",
    "subject_matches",
    "validate_pattern",
    "validate_subject",
]
