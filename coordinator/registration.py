"""One module's copy of a subscription, and the queue entries its deliveries live in.

A module queue holds :class:`Entry` objects: one event and the copies
(:class:`Registration`) it is to be delivered to, decided at publish. A copy
counts its own queued deliveries and their bytes (subject, headers and payload,
``events.event_size``) against its subscription's ``mailbox`` / ``mailbox_bytes``
bounds; the module queue is shared, the bounds are not.

Displacement (``drop_oldest`` / ``dead_letter``) must remove *that copy's*
oldest delivery from a queue other copies share. A displacing copy therefore
keeps, per priority, a deque of the entries it is live in, in arrival order.
The module takes entries FIFO within a priority, so the entry it takes is
always at the head of each of its copies' deques (an O(1) ``popleft``), and the
victim of a displacement is at the head of the copy's lowest non-empty
priority: the same choice as the daemon's mailbox (least important, longest
waiting first). The victim is marked cancelled for that copy only; an entry
left with no live delivery leaves the module queue (it sits near the head, so
the removal scans little).
"""

from __future__ import annotations

from collections import deque

import msgspec

from events.delivery import DL_OVERFLOW, DROP_OVERFLOW, Pipeline
from events.model import PRIORITY_MAX, Event, SubscriptionStats, event_size

LEVELS = PRIORITY_MAX + 1


class Entry(msgspec.Struct, gc=False, eq=False):
    """The copies one queued event goes to, when some may be displaced or never fit.

    ``eq=False``: entries are found in a queue by identity, never by value.

    ``gc=False``: a module may hold hundreds of thousands of entries, and
    entries tracked by the cyclic GC made every collection scan them all
    (publish cost tripled with a deep queue). An entry's only cycle runs through
    its copies' displacement deques, which drain empties. The event's size is
    not stored: ``events.event_size`` is cheap, and an int above 256 would cost 32
    bytes per queued event.
    """

    event: Event
    copies: tuple[Registration, ...]
    #: Copies whose delivery is still to run.
    live: int
    #: Copies whose delivery was displaced (or never fit); None while there are none.
    cancelled: set[Registration] | None = None

    def cancel_nowait(self, copy: Registration) -> None:
        if self.cancelled is None:
            self.cancelled = set()
        self.cancelled.add(copy)
        self.live -= 1


class Registration:
    """A subscription as registered in one module: its pipeline and its share of the queue."""

    __slots__ = (
        "breaker",
        "capacity",
        "capacity_bytes",
        "deliveries",
        "depth",
        "group",
        "handler",
        "levels",
        "nbytes",
        "pipeline",
        "policy",
        "reject",
        "run",
        "service",
        "timeout_s",
        "tokens",
    )

    def __init__(self, pipeline: Pipeline, tokens: tuple[str, ...]) -> None:
        sub = pipeline.sub
        self.pipeline = pipeline
        #: Bound once: the worker calls it per delivery.
        self.run = pipeline.run
        #: The pipeline's own, one hop closer: the worker's inlined first attempt reads them.
        self.handler = pipeline.handler
        self.breaker = pipeline.breaker
        self.timeout_s = pipeline.timeout_s
        self.tokens = tokens
        self.service = sub.service
        self.group = sub.queue_group
        self.policy = sub.overflow
        self.reject = sub.overflow == "reject"
        self.capacity = sub.mailbox
        self.capacity_bytes = sub.mailbox_bytes
        #: ``Pipeline.deliveries``, copied there for stats (one attribute hop fewer per event).
        self.deliveries = 0
        #: Queued deliveries and their payload bytes (not yet taken by a worker).
        self.depth = 0
        self.nbytes = 0
        #: Displacing copies only: live entries per priority (index 0 is priority 3).
        self.levels: tuple[deque[Entry], ...] | None = (
            None if self.reject else tuple(deque() for _ in range(LEVELS))
        )

    @property
    def pending(self) -> int:
        """Deliveries not yet ended: queued plus in flight."""
        return self.deliveries - self.pipeline.ended

    @property
    def in_flight(self) -> int:
        """Deliveries a worker has taken and not yet ended (derived: no bookkeeping per event)."""
        return self.deliveries - self.pipeline.ended - self.depth

    def fits_nowait(self, size: int) -> bool:
        return self.depth < self.capacity and self.nbytes + size <= self.capacity_bytes

    def push_nowait(self, entry: Entry, priority: int) -> None:
        """Count a new queued delivery of ``entry``."""
        self.deliveries += 1
        self.depth += 1
        self.nbytes += event_size(entry.event)
        if self.levels is not None:
            self.levels[PRIORITY_MAX - priority].append(entry)

    def take_nowait(self, entry: Entry, priority: int) -> None:
        """A worker took ``entry``: its delivery moves from queued to in flight."""
        self.depth -= 1
        self.nbytes -= event_size(entry.event)
        if self.levels is not None:
            # FIFO within a priority on both sides: the taken entry is our head.
            self.levels[PRIORITY_MAX - priority].popleft()

    def evict_nowait(self) -> Entry:
        """Remove and return this copy's victim: the oldest of its lowest priority."""
        assert self.levels is not None, "only displacing copies evict"
        for level in reversed(self.levels):
            if level:
                entry = level.popleft()
                self.depth -= 1
                self.nbytes -= event_size(entry.event)
                entry.cancel_nowait(self)
                return entry
        raise IndexError("evict from a copy with nothing queued")

    def stats(self) -> SubscriptionStats:
        pipeline = self.pipeline
        pipeline.deliveries = self.deliveries
        return pipeline.stats(self.depth, self.in_flight)

    def displaced_nowait(self, event: Event) -> None:
        """End one delivery of ``event`` as overflow, by this copy's policy."""
        if self.policy == "dead_letter":
            self.pipeline.dead_letter_nowait(event, DL_OVERFLOW, 0, "mailbox full")
        else:
            self.pipeline.drop_nowait(DROP_OVERFLOW)

    def clear_nowait(self) -> None:
        """Forget every queued delivery (drain has accounted for them)."""
        self.depth = 0
        self.nbytes = 0
        if self.levels is not None:
            for level in self.levels:
                level.clear()
