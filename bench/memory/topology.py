"""Memory each router topology holds: empty, per subscription, per buffered event.

Every figure is a ``tracemalloc`` difference of traced bytes around one step,
taken after a full collection, for a router built through
:func:`bench.architectures.make` (so any architecture name or dotted factory
works). Events are built before tracing starts, so a per-event figure is what
the router adds to hold an event, not the event itself. Every router measured
is drained afterwards and its accounting identity checked; a run that breaks
it raises :class:`MemoryRunError` rather than report a figure.

tracemalloc slows everything it traces: this is a dedicated memory mode
(tracemalloc slows a run, so it is used only here), never combined with a timing measurement.
"""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
from collections.abc import Iterable

import msgspec
import uvloop

from bench.architectures import make
from events import Category, Event, Router, Subscription
from events.errors import SwitchyardError

#: Bounds large enough that no measured event is refused.
BIG_MAILBOX = 4_000_000
BIG_BYTES = 1 << 40
PAYLOAD_BYTES = 1024
SUBJECT = "fs.file.created"
#: Subscription shapes measured: one that every module can match, one of a single module.
PATTERNS = {"all (>)": ">", "one category (db.>)": "db.>"}


class MemoryRunError(SwitchyardError):
    """Raised when a measured router loses or fails to account for an event."""


class SubscriptionCost(msgspec.Struct, frozen=True):
    """Bytes per subscription of one pattern: registered, then with its workers started."""

    label: str
    pattern: str
    subscriptions: int
    per_sub_registered: float
    per_sub_started: float


class BufferCost(msgspec.Struct, frozen=True):
    """Bytes the router holds per buffered event with ``fanout`` matching subscriptions."""

    fanout: int
    events: int
    per_event: float
    per_delivery: float


class ProfileCost(msgspec.Struct, frozen=True):
    """A workload profile's subscriptions, registered and started."""

    profile: str
    subscriptions: int
    registered: int
    started: int


class TopologyMemory(msgspec.Struct, frozen=True):
    """Everything measured for one architecture."""

    arch: str
    empty_built: int
    empty_started: int
    subscriptions: list[SubscriptionCost]
    buffers: list[BufferCost]
    profile: ProfileCost | None


def _traced() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


async def _noop(event: Event) -> None:
    return None


async def _settle() -> None:
    # Let new worker tasks run to their first wait, where they allocate their waiter.
    for _ in range(3):
        await asyncio.sleep(0)


async def _drain_checked(router: Router, arch: str, expected_delivered: int) -> None:
    report = await router.drain(60.0)
    stats = report.stats
    errors = stats.identity_errors()
    if errors or stats.pending or stats.delivered != expected_delivered:
        raise MemoryRunError(
            f"{arch}: delivered {stats.delivered} of {expected_delivered},"
            f" pending {stats.pending}, identity errors {errors}"
        )


async def _empty(arch: str) -> tuple[int, int]:
    base = _traced()
    router = make(arch)
    built = _traced() - base
    await router.start()
    await _settle()
    started = _traced() - base
    await _drain_checked(router, arch, 0)
    return built, started


async def _subscriptions(arch: str, label: str, pattern: str, count: int) -> SubscriptionCost:
    router = make(arch)
    subs = [Subscription(service=f"svc{i}", pattern=pattern) for i in range(count)]
    base = _traced()
    for sub in subs:
        router.subscribe(sub, _noop)
    registered = _traced() - base
    await router.start()
    await _settle()
    started = _traced() - base
    await _drain_checked(router, arch, 0)
    return SubscriptionCost(label, pattern, count, registered / count, started / count)


def build_events(count: int) -> list[Event]:
    """``count`` events on SUBJECT sharing one 1 KiB payload (so only router bytes count)."""
    payload = bytes(PAYLOAD_BYTES)
    return [
        Event(
            id=f"m{i}",
            subject=SUBJECT,
            category=Category.FILESYSTEM,
            source="bench",
            payload=payload,
            seq=i,
        )
        for i in range(count)
    ]


async def _buffered(arch: str, fanout: int, events: list[Event]) -> BufferCost:
    gate = asyncio.Event()
    entered = asyncio.Event()

    async def blocked(event: Event) -> None:
        entered.set()
        await gate.wait()

    router = make(arch)
    for i in range(fanout):
        router.subscribe(
            Subscription(
                service=f"svc{i}", pattern="fs.>", mailbox=BIG_MAILBOX, mailbox_bytes=BIG_BYTES
            ),
            blocked,
        )
    await router.start()
    # One event occupies the workers, so everything published next stays buffered.
    first, rest = events[0], events[1:]
    router.publish(first)
    await asyncio.wait_for(entered.wait(), 10.0)
    await _settle()
    base = _traced()
    for event in rest:
        if not router.publish(event).ok:
            raise MemoryRunError(f"{arch}: an event was refused while filling the buffer")
    held = _traced() - base
    gate.set()
    await _drain_checked(router, arch, len(events) * fanout)
    n = len(rest)
    return BufferCost(fanout, n, held / n, held / (n * fanout))


async def _profile(arch: str, profile: str) -> ProfileCost:
    from workload.services import build_services

    specs = build_services(profile)
    router = make(arch)
    base = _traced()
    for spec in specs:
        router.subscribe(spec.subscription, _noop)
    registered = _traced() - base
    await router.start()
    await _settle()
    started = _traced() - base
    await _drain_checked(router, arch, 0)
    return ProfileCost(profile, len(specs), registered, started)


async def _measure(
    arch: str, subscriptions: int, fanouts: Iterable[int], events: list[Event], profile: str
) -> TopologyMemory:
    built, started = await _empty(arch)
    subs = [await _subscriptions(arch, label, p, subscriptions) for label, p in PATTERNS.items()]
    buffers = [await _buffered(arch, fanout, events) for fanout in fanouts]
    prof = await _profile(arch, profile) if profile else None
    return TopologyMemory(arch, built, started, subs, buffers, prof)


def measure(
    arch: str,
    *,
    subscriptions: int = 100,
    fanouts: Iterable[int] = (1, 10),
    events: int = 50_000,
    profile: str = "medium",
) -> TopologyMemory:
    """Measure ``arch`` in a fresh uvloop event loop, with tracemalloc on only meanwhile."""
    prebuilt = build_events(events + 1)
    gc.collect()
    tracemalloc.start()
    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(_measure(arch, subscriptions, list(fanouts), prebuilt, profile))
    finally:
        tracemalloc.stop()
