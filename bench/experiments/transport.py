"""The transport benchmark: published -> handler -> acked through JetStream, against bare nats-py.

Both sides run in this process, one NATS server (``SWITCHYARD_NATS_URL``), 1 KiB
events, a no-op handler, alternating round by round (after one discarded
round of each), every round in a fresh uvloop loop after a full collection:

- ``router``: the architecture from the registry (``jetstream``: each router in
  a namespace of its own, deleted at drain) with one subscription on
  ``fs.file.*`` at ``concurrency`` workers. ``count`` events are published in
  batches of ``batch`` with one ``await asyncio.sleep(0)`` between batches; an
  ``overloaded`` answer (the bounded outgoing buffer is full) is retried after
  1 ms and counted. The clock stops when every handler has returned and the
  router counts every delivery ``delivered`` (on JetStream: its ack handed to
  the connection). Then the router drains (timed apart), and the round is
  valid only if the drain completed with nothing pending, the accounting
  identity holds, and each event was handled exactly once.
- ``bare``: nats-py alone, no JetStream: one connection publishes the same
  payloads on a core subject in the same batches, another's subscription
  callback counts them; the clock stops at the last one received. This is
  what moving 1 KiB through nats-py and the server costs at the least. Core
  NATS drops what a slow subscriber cannot take, so the publisher keeps at most
  ``BARE_WINDOW`` messages ahead of the subscriber (the router's buffers are
  bounded too); a connection error ends the round at once, invalid.

CPU: this process's (``time.process_time``) and the server's (from /proc,
when the bench knows its pid: :mod:`bench.host.external`), each over the
round's clock, in microseconds per event.
"""

from __future__ import annotations

import asyncio
import gc
import os
import statistics
import time
from collections.abc import Callable, Coroutine
from functools import partial
from typing import Any, Literal, TypeVar

import msgspec
import uvloop

from bench.architectures import make
from bench.experiments import micro
from bench.host.external import ExternalCpu
from bench.schema import Environment
from events import Event, Subscription

SCHEMA = "switchyard.bench.transport/1"
#: Bytes of each event's payload (the micro-benchmark's events).
PAYLOAD_BYTES = micro.PAYLOAD_BYTES
#: The issue's target for published -> handler -> acked, one process (events/s).
TARGET_EPS = 30_000.0
#: Subject of the bare loop (core NATS: nothing stores it).
BARE_SUBJECT = "switchyard_bench.bare"
#: How long a round may take before it is abandoned as stuck: this floor plus
#: ``ROUND_TIMEOUT_PER_EVENT_S`` per event (a 1,000 events/s crawl), so a short run
#: (the tests') gives up in seconds and the default 50,000 events get a minute.
ROUND_TIMEOUT_S = 10.0
ROUND_TIMEOUT_PER_EVENT_S = 0.001
#: Delay before an ``overloaded`` publish is offered again (seconds).
RETRY_S = 0.001
#: Messages the bare publisher may be ahead of its subscriber.
BARE_WINDOW = 8192

Kind = Literal["router", "bare"]
T = TypeVar("T")


class Round(msgspec.Struct, frozen=True):
    """One timed round of one side."""

    kind: Kind
    index: int
    events: int
    completed: int
    elapsed_s: float
    rate: float
    client_cpu_s: float
    client_us_per_event: float
    server_cpu_s: float | None
    server_us_per_event: float | None
    #: Publishes answered ``overloaded`` and offered again (router only).
    retried_overloaded: int = 0
    #: Seconds the router's drain took after the clock stopped (0 for bare).
    drain_s: float = 0.0
    #: Why the round cannot be trusted (lost, duplicated or leftover events); empty if valid.
    problems: tuple[str, ...] = ()
    #: The router's transport counters after drain, when it has any.
    transport: dict[str, Any] | None = None

    @property
    def valid(self) -> bool:
        return not self.problems


class Spread(msgspec.Struct, frozen=True):
    """Median and range over rounds."""

    median: float
    low: float
    high: float


class Summary(msgspec.Struct, frozen=True):
    """One side over its measured rounds."""

    kind: Kind
    rounds: int
    valid: bool
    rate: Spread
    client_us_per_event: Spread
    server_us_per_event: Spread | None


class Settings(msgspec.Struct, frozen=True):
    arch: str
    events: int
    rounds: int
    batch: int
    concurrency: int
    payload_bytes: int
    nats_py: str
    server_version: str


class TransportResult(msgspec.Struct, frozen=True):
    """What ``python -m bench transport --json`` writes."""

    schema: str
    environment: Environment
    settings: Settings
    rounds: tuple[Round, ...]
    summaries: tuple[Summary, ...]
    #: router rate / bare rate, round by round (the pair measured back to back).
    ratio: Spread
    target_eps: float
    #: The router's median rate reached ``target_eps`` and every round was valid.
    met: bool
    #: A projection, not a measurement: the rate the router's median CPU per event
    #: allows on this machine's cores with nothing else running (the client on one
    #: core, client and server together on all of them), or None without the
    #: server's CPU.
    cpu_bound_eps: float | None
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]
    elapsed_s: float


def spread(values: list[float]) -> Spread:
    """Median, minimum and maximum of ``values`` (at least one)."""
    return Spread(statistics.median(values), min(values), max(values))


def summarize(kind: Kind, rounds: list[Round]) -> Summary:
    server = [r.server_us_per_event for r in rounds if r.server_us_per_event is not None]
    return Summary(
        kind=kind,
        rounds=len(rounds),
        valid=all(r.valid for r in rounds),
        rate=spread([r.rate for r in rounds]),
        client_us_per_event=spread([r.client_us_per_event for r in rounds]),
        server_us_per_event=spread(server) if len(server) == len(rounds) else None,
    )


class _Clock:
    """Wall clock, this process's CPU and the server's CPU, read together."""

    def __init__(self, external: ExternalCpu) -> None:
        self.external = external
        self.wall = time.perf_counter()
        self.cpu = time.process_time()
        self.server = external.sample()

    def stop(self, kind: Kind, index: int, events: int, completed: int, **extra: Any) -> Round:
        elapsed = time.perf_counter() - self.wall
        cpu = time.process_time() - self.cpu
        used = self.external.since(self.server)
        server = next(iter(used.values())) if used else None
        return Round(
            kind=kind,
            index=index,
            events=events,
            completed=completed,
            elapsed_s=elapsed,
            rate=completed / elapsed if elapsed > 0 else 0.0,
            client_cpu_s=cpu,
            client_us_per_event=cpu * 1e6 / max(1, events),
            server_cpu_s=server,
            server_us_per_event=None if server is None else server * 1e6 / max(1, events),
            **extra,
        )


def round_timeout(events: int) -> float:
    """Seconds a round of ``events`` may take before it is abandoned as stuck."""
    return ROUND_TIMEOUT_S + events * ROUND_TIMEOUT_PER_EVENT_S


async def router_round(
    arch: str, index: int, events: list[Event], batch: int, concurrency: int, external: ExternalCpu
) -> Round:
    """One round through the router ``arch`` (see the module docstring)."""
    router = make(arch)
    expected = len(events)
    stuck_s = round_timeout(expected)
    handled = 0
    all_handled = asyncio.Event()

    async def handler(event: Event) -> None:
        nonlocal handled
        handled += 1
        if handled == expected:
            all_handled.set()

    router.subscribe(
        Subscription(service="sink", pattern="fs.file.*", concurrency=concurrency), handler
    )
    await router.start()
    publish = router.publish
    retried = 0
    clock = _Clock(external)
    for start in range(0, expected, batch):
        for event in events[start : start + batch]:
            while not publish(event).ok:
                retried += 1
                await asyncio.sleep(RETRY_S)
        await asyncio.sleep(0)
    problems: list[str] = []
    try:
        async with asyncio.timeout(stuck_s):
            await all_handled.wait()
            # A worker counts a delivery right after its handler returns and its ack is
            # handed over; the router offers no event for that, so its counter is read.
            while router.stats().delivered < expected:  # noqa: ASYNC110
                await asyncio.sleep(RETRY_S)
    except TimeoutError:
        problems.append(f"not every delivery acked within {stuck_s:.0f} s")
    delivered = router.stats().delivered
    result = clock.stop("router", index, expected, delivered, retried_overloaded=retried)
    began = time.perf_counter()
    report = await router.drain(stuck_s)
    drain_s = time.perf_counter() - began
    stats = report.stats
    problems += stats.identity_errors()
    if not report.completed:
        problems.append(f"drain did not complete (pending {stats.pending})")
    if stats.delivered != expected or handled != expected:
        problems.append(f"{expected} events: {stats.delivered} delivered, {handled} handled")
    if stats.accepted != expected:
        problems.append(f"{stats.accepted} of {expected} events accepted")
    transport_stats = getattr(router, "transport_stats", None)
    transport = msgspec.to_builtins(transport_stats()) if callable(transport_stats) else None
    return msgspec.structs.replace(
        result, drain_s=drain_s, problems=tuple(problems), transport=transport
    )


async def bare_round(
    url: str, index: int, events: list[Event], batch: int, external: ExternalCpu
) -> tuple[Round, str]:
    """One round of bare nats-py publish/subscribe; also answers the server's version."""
    import nats

    expected = len(events)
    stuck_s = round_timeout(expected)
    errors: list[str] = []
    received = 0
    progressed = asyncio.Event()

    async def on_error(exc: Exception) -> None:
        errors.append(repr(exc))
        progressed.set()

    publisher = await nats.connect(url, error_cb=on_error)
    subscriber = await nats.connect(url, error_cb=on_error)

    async def on_message(msg: Any) -> None:
        nonlocal received
        received += 1
        if received == expected or (received & 1023) == 0:
            progressed.set()

    try:
        await subscriber.subscribe(BARE_SUBJECT, cb=on_message, pending_msgs_limit=-1)
        await subscriber.flush()
        publish = publisher.publish
        clock = _Clock(external)
        async with asyncio.timeout(stuck_s):
            for start in range(0, expected, batch):
                for event in events[start : start + batch]:
                    await publish(BARE_SUBJECT, event.payload)
                while start + batch - received > BARE_WINDOW and not errors:
                    progressed.clear()
                    await progressed.wait()
                await asyncio.sleep(0)
            while received < expected and not errors:
                progressed.clear()
                await progressed.wait()
        problems = [f"{received} of {expected} messages received"] if received < expected else []
        result = clock.stop("bare", index, expected, received, problems=tuple(problems + errors))
        return result, _version(publisher)
    except TimeoutError:
        result = clock.stop(
            "bare", index, expected, received,
            problems=(f"{received} of {expected} messages within {stuck_s:.0f} s",),
        )  # fmt: skip
        return result, _version(publisher)
    finally:
        await publisher.close()
        await subscriber.close()


def _version(nc: Any) -> str:
    version = nc.connected_server_version
    return f"{version.major}.{version.minor}.{version.patch}"


def _fresh_loop(coro_factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine in a fresh uvloop loop, after a full collection, with what exists
    before it frozen out of the collector.

    The bench's own input (the round's pre-built events, tens of thousands of tracked
    objects) and the imported modules would otherwise be traversed by every full
    collection the round's allocations trigger: measured here about 100 ms of a
    50,000-event round, charged to whichever side was running. Freezing them charges
    each side only for the objects it creates (both sides alike).
    """
    gc.collect()
    gc.freeze()
    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(coro_factory())
    finally:
        gc.unfreeze()


def measure(
    arch: str,
    url: str,
    count: int,
    rounds: int,
    batch: int,
    concurrency: int,
    progress: Callable[[Round, bool], None] | None = None,
) -> tuple[list[Round], str]:
    """A discarded round of each side, then ``rounds`` of each, alternating (bare first).

    Answers the measured rounds and the server's version.
    """
    events = micro.build_events(count)
    external = ExternalCpu.from_environment()
    measured: list[Round] = []
    version = ""

    def note(one: Round, warmup: bool) -> None:
        if progress is not None:
            progress(one, warmup)
        if not warmup:
            measured.append(one)

    for index in range(-1, rounds):
        bare, version = _fresh_loop(partial(bare_round, url, index, events, batch, external))
        note(bare, index < 0)
        note(
            _fresh_loop(partial(router_round, arch, index, events, batch, concurrency, external)),
            index < 0,
        )
    return measured, version


def cpu_bound(router: Summary, cores: int) -> float | None:
    """Events/s the router's median CPU per event allows on ``cores`` idle cores (a projection).

    The client is one event loop, so it gets one core at most; it and the server
    together get all of them.
    """
    if router.server_us_per_event is None or router.client_us_per_event.median <= 0:
        return None
    client = router.client_us_per_event.median
    both = client + router.server_us_per_event.median
    return min(1e6 / client, cores * 1e6 / both)


def assemble(
    rounds: list[Round],
    settings: Settings,
    environment: Environment,
    target_eps: float,
    load_before: tuple[float, float, float],
    elapsed_s: float,
) -> TransportResult:
    """The versioned record of a measurement: summaries, round-by-round ratio, verdict."""
    by_kind: dict[Kind, list[Round]] = {"router": [], "bare": []}
    for one in rounds:
        by_kind[one.kind].append(one)
    summaries = tuple(summarize(kind, found) for kind, found in by_kind.items() if found)
    pairs = zip(by_kind["router"], by_kind["bare"], strict=True)
    router = next(s for s in summaries if s.kind == "router")
    return TransportResult(
        schema=SCHEMA,
        environment=environment,
        settings=settings,
        rounds=tuple(rounds),
        summaries=summaries,
        ratio=spread([r.rate / b.rate for r, b in pairs if b.rate > 0] or [0.0]),
        target_eps=target_eps,
        met=router.valid and router.rate.median >= target_eps,
        cpu_bound_eps=cpu_bound(router, os.cpu_count() or 1),
        load_before=load_before,
        load_after=os.getloadavg(),
        elapsed_s=elapsed_s,
    )
