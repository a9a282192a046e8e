"""The records every part of Switchyard exchanges: events, acks and reports."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import ClassVar

import msgspec


class Category(enum.StrEnum):
    """The module an event belongs to; its value is the lower-case name."""

    FILESYSTEM = "filesystem"
    DATABASE = "database"
    EXTERNAL = "external"
    MCP = "mcp"
    SERVICE = "service"
    SYSTEM = "system"


#: Subject patterns of each category (the subject table of the contract); a router may use them to
#: decide which module a subscription belongs to.
CATEGORY_PATTERNS: dict[Category, tuple[str, ...]] = {
    Category.FILESYSTEM: ("fs.>",),
    Category.DATABASE: ("db.>",),
    Category.EXTERNAL: ("ext.>",),
    Category.MCP: ("mcp.>",),
    Category.SERVICE: ("svc.>",),
    Category.SYSTEM: ("sys.>",),
}

#: Priorities run from 0 (low) to 3 (critical).
PRIORITY_MIN = 0
PRIORITY_MAX = 3


class Event(msgspec.Struct, frozen=True, gc=False, forbid_unknown_fields=True):
    """One event. ``t_intended_ns`` is when the generator meant to emit it."""

    id: str
    subject: str
    category: Category
    source: str
    priority: int = 1
    payload: bytes = b""
    targets: tuple[str, ...] = ()
    headers: dict[str, str] = {}
    seq: int = 0
    t_intended_ns: int = 0


def header_bytes(headers: Mapping[str, str]) -> int:
    """The length of every header name and value added up (see :func:`event_size`)."""
    size = 0
    for name, value in headers.items():
        size += len(name) + len(value)
    return size


def event_size(event: Event) -> int:
    """What ``event`` weighs against a ``mailbox_bytes`` bound: subject, headers and payload.

    Subject and headers count in characters (their bytes when ASCII; a subject is at
    most 256 bytes either way), the payload in bytes. Both routers inline this sum on
    their hot paths (``tests/*/test_*equivalence.py`` hold them to it): it must be the
    same when an event enters a mailbox and when it leaves.
    """
    headers = event.headers
    size = len(event.subject) + len(event.payload)
    if headers:
        size += header_bytes(headers)
    return size


class Ack(msgspec.Struct, frozen=True):
    """What ``Router.publish`` answers: accepted, or rejected with a reason.

    Build one with :meth:`accepted` or :meth:`rejected`; both reuse instances,
    so acknowledging costs no allocation on the hot path.
    """

    ok: bool
    reason: str = ""

    _ACCEPTED: ClassVar[Ack]
    _REJECTED: ClassVar[dict[str, Ack]] = {}

    @classmethod
    def accepted(cls) -> Ack:
        return cls._ACCEPTED

    @classmethod
    def rejected(cls, reason: str) -> Ack:
        ack = cls._REJECTED.get(reason)
        if ack is None:
            ack = cls._REJECTED[reason] = cls(ok=False, reason=reason)
        return ack


Ack._ACCEPTED = Ack(ok=True)

#: Reasons an event is refused at ``publish``.
REJECT_OVERLOADED = "overloaded"
REJECT_INVALID = "invalid"
REJECT_DRAINING = "draining"
REJECT_NOT_STARTED = "not_started"


class SubscriptionStats(msgspec.Struct, frozen=True):
    """Counters of one subscription (in the coordinator: one module's copy)."""

    service: str
    pattern: str
    module: str
    depth: int
    in_flight: int
    breaker: str
    deliveries: int
    delivered: int
    dead_lettered: int
    dropped: int
    retries: int


class RouterStats(msgspec.Struct, frozen=True):
    """A consistent snapshot of a router's counters.

    The accounting identity: ``published == accepted + sum(rejected)``, every
    accepted event makes ``deliveries`` (or counts once in ``unrouted``), and
    ``deliveries == delivered + sum(dead_lettered) + sum(dropped) + pending``.
    """

    published: int
    accepted: int
    rejected: dict[str, int]
    unrouted: int
    unknown_targets: int
    deliveries: int
    delivered: int
    dead_lettered: dict[str, int]
    dropped: dict[str, int]
    retries: int
    pending: int
    dead_letter_store: int
    subscriptions: list[SubscriptionStats] = []

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    @property
    def dead_lettered_total(self) -> int:
        return sum(self.dead_lettered.values())

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())

    @property
    def ended(self) -> int:
        return self.delivered + self.dead_lettered_total + self.dropped_total

    def identity_errors(self) -> list[str]:
        """What breaks the accounting identity; empty when it holds exactly."""
        errors = []
        if self.published != self.accepted + self.rejected_total:
            errors.append(
                f"published {self.published} != accepted {self.accepted}"
                f" + rejected {self.rejected_total}"
            )
        if self.deliveries != self.ended + self.pending:
            errors.append(
                f"deliveries {self.deliveries} != delivered {self.delivered}"
                f" + dead_lettered {self.dead_lettered_total}"
                f" + dropped {self.dropped_total} + pending {self.pending}"
            )
        if self.accepted and not (self.deliveries or self.unrouted):
            errors.append(f"accepted {self.accepted} events produced no delivery and none unrouted")
        return errors


class DrainReport(msgspec.Struct, frozen=True):
    """What ``Router.drain`` did: whether it finished in time and what it gave up on.

    ``timed_out`` counts the deliveries drain gave up on (in flight when time ran
    out, or still queued). ``abandoned_workers`` counts workers whose handler
    outlasted every cancellation: drain returned without them, and the
    deliveries they hold are neither delivered nor dead-lettered, so they show
    in ``stats.pending`` (and ``completed`` is False).
    """

    completed: bool
    duration_s: float
    timed_out: int
    stats: RouterStats
    abandoned_workers: int = 0


class DeadLetter(msgspec.Struct, frozen=True):
    """An entry of a dead-letter store."""

    event: Event
    service: str
    reason: str
    attempts: int
    error: str = ""


def add_counts(into: dict[str, int], counts: Mapping[str, int]) -> None:
    """Add per-reason counters into ``into`` (how routers total their pipelines' counts)."""
    for key, value in counts.items():
        into[key] = into.get(key, 0) + value
