"""The router micro-benchmark: deliveries/s and bytes per buffered event, any architecture.

Routers are reached only through :func:`bench.architectures.make`, so a name
(``daemon``, ``coordinator``) or a dotted factory works, and the ceiling
(:mod:`bench.routers.ceiling`) is measured by the very same code in the same run.

Throughput: 1 KiB events with a no-op async handler, published the way an
open-loop generator publishes — a batch in a tight loop, then one
``await asyncio.sleep(0)`` so workers run — and timed from the first publish
until ``drain()`` returns. Deliveries are read from the router's own stats
(``delivered``) and the accounting identity is checked after every repetition;
a repetition that breaks it, or that delivered less than expected, is invalid.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import msgspec
import uvloop

from bench.architectures import make
from events import Category, Event, Subscription

CEILING = "bench.routers.ceiling:CeilingRouter"
PAYLOAD_BYTES = 1024
SUBJECT = "fs.file.created"
#: Bounds large enough that no benchmark event is refused: the bench measures routing,
#: and any reject would show in the results (and invalidate them).
BIG_MAILBOX = 4_000_000
BIG_BYTES = 1 << 40

_FANOUT10 = (
    ">",
    "fs.>",
    "fs.file.*",
    "fs.file.created",
    "*.file.created",
    "fs.*.created",
    "*.*.*",
    "fs.*.*",
    "*.file.*",
    "*.*.created",
)
_SPARSE_MATCHING = ("fs.file.created", "fs.>", "*.file.*")


def _sparse100() -> tuple[str, ...]:
    others = [f"db.row.inserted.t{i}" for i in range(40)]
    others += [f"svc.s{i}.*" for i in range(40)]
    others += [f"ext.api.called.p{i}" for i in range(17)]
    return (*others[:48], *_SPARSE_MATCHING, *others[48:])


#: Scenario name -> the subscription patterns (one service each) and how many match SUBJECT.
SCENARIOS: dict[str, tuple[tuple[str, ...], int]] = {
    "fanout1": (("fs.file.*",), 1),
    "fanout10": (_FANOUT10, 10),
    "sparse100": (_sparse100(), 3),
}


class Repetition(msgspec.Struct, frozen=True):
    """One timed run of one scenario on one architecture."""

    arch: str
    scenario: str
    events: int
    deliveries_expected: int
    delivered: int
    rejected: int
    elapsed_s: float
    rate: float
    #: Deliveries per CPU-second of this process: steadier than ``rate`` when other
    #: processes share the cores (time spent descheduled is not counted).
    cpu_rate: float
    identity_errors: list[str]

    @property
    def valid(self) -> bool:
        return not self.identity_errors and self.delivered == self.deliveries_expected


class Summary(msgspec.Struct, frozen=True):
    """Deliveries/s over repetitions: wall-clock median and range, and the CPU-time median."""

    arch: str
    scenario: str
    median: float
    low: float
    high: float
    cpu_median: float
    valid: bool
    runs: int


def subscriptions(scenario: str) -> list[Subscription]:
    patterns, _ = SCENARIOS[scenario]
    return [
        Subscription(service=f"svc{i}", pattern=p, mailbox=BIG_MAILBOX, mailbox_bytes=BIG_BYTES)
        for i, p in enumerate(patterns)
    ]


def build_events(count: int, distinct_payloads: bool = False) -> list[Event]:
    """``count`` 1 KiB events; they share one payload object unless ``distinct_payloads``."""
    shared = bytes(PAYLOAD_BYTES)
    return [
        Event(
            id=f"e{i}",
            subject=SUBJECT,
            category=Category.FILESYSTEM,
            source="bench",
            payload=bytes(PAYLOAD_BYTES) if distinct_payloads else shared,
            seq=i,
        )
        for i in range(count)
    ]


async def _noop(event: Event) -> None:
    return None


async def _throughput(arch: str, scenario: str, events: list[Event], batch: int) -> Repetition:
    router = make(arch)
    for sub in subscriptions(scenario):
        router.subscribe(sub, _noop)
    await router.start()
    publish = router.publish
    rejected = 0
    cpu_began = time.process_time()
    began = time.perf_counter()
    for start in range(0, len(events), batch):
        for event in events[start : start + batch]:
            if not publish(event).ok:
                rejected += 1
        await asyncio.sleep(0)
    report = await router.drain(60.0)
    elapsed = time.perf_counter() - began
    cpu = time.process_time() - cpu_began
    stats = report.stats
    errors = stats.identity_errors()
    if stats.pending:
        errors.append(f"pending {stats.pending} after drain")
    return Repetition(
        arch=arch,
        scenario=scenario,
        events=len(events),
        deliveries_expected=len(events) * SCENARIOS[scenario][1],
        delivered=stats.delivered,
        rejected=rejected,
        elapsed_s=elapsed,
        rate=stats.delivered / elapsed,
        cpu_rate=stats.delivered / cpu if cpu > 0 else 0.0,
        identity_errors=errors,
    )


def run_throughput(arch: str, scenario: str, events: list[Event], batch: int) -> Repetition:
    """One repetition in a fresh uvloop event loop, after a full collection."""
    gc.collect()
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(_throughput(arch, scenario, events, batch))


def events_for(scenario: str, deliveries: int) -> int:
    """How many events make about ``deliveries`` deliveries in ``scenario``."""
    return max(1, deliveries // SCENARIOS[scenario][1])


def summarize(reps: list[Repetition]) -> Summary:
    rates = [rep.rate for rep in reps]
    return Summary(
        arch=reps[0].arch,
        scenario=reps[0].scenario,
        median=statistics.median(rates),
        low=min(rates),
        high=max(rates),
        cpu_median=statistics.median(rep.cpu_rate for rep in reps),
        valid=all(rep.valid for rep in reps),
        runs=len(reps),
    )


class MemoryResult(msgspec.Struct, frozen=True):
    """Bytes traced per buffered event while ``events`` wait in one mailbox."""

    arch: str
    events: int
    router_bytes_per_event: float
    total_bytes_per_event_beyond_payload: float


async def _buffered_bytes(arch: str, count: int, own_events: bool) -> float:
    gate = asyncio.Event()

    async def blocked(event: Event) -> None:
        await gate.wait()

    router = make(arch)
    for sub in subscriptions("fanout1"):
        router.subscribe(sub, blocked)
    await router.start()
    # The first event occupies the worker; the rest stay buffered in the mailbox.
    router.publish(build_events(1)[0])
    await asyncio.sleep(0)
    prebuilt = [] if own_events else build_events(count)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    if own_events:
        for event in build_events(count, distinct_payloads=True):
            router.publish(event)
    else:
        for event in prebuilt:
            router.publish(event)
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    gate.set()
    report = await router.drain(60.0)
    if report.stats.identity_errors() or report.stats.delivered != count + 1:
        raise RuntimeError(f"memory run of {arch} lost events: {report.stats}")
    del prebuilt
    return held / count


def run_memory(arch: str, count: int) -> MemoryResult:
    """Router-only bytes (events built beforehand) and all bytes beyond the 1 KiB payload."""
    results = []
    for own in (False, True):
        gc.collect()
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            results.append(runner.run(_buffered_bytes(arch, count, own)))
    router_only, total = results
    return MemoryResult(
        arch=arch,
        events=count,
        router_bytes_per_event=router_only,
        # Each event's payload is its own bytes object there, so subtract its length.
        total_bytes_per_event_beyond_payload=total - PAYLOAD_BYTES,
    )


def interleaved(
    archs: list[str],
    scenarios: list[str],
    reps: int,
    deliveries: int,
    batch: int,
    progress: Callable[[Repetition], Any] | None = None,
) -> dict[tuple[str, str], list[Repetition]]:
    """Every (scenario, arch) ``reps`` times, interleaved so drift hits all alike."""
    results: dict[tuple[str, str], list[Repetition]] = {}
    pools = {s: build_events(events_for(s, deliveries)) for s in scenarios}
    for _ in range(reps):
        for scenario in scenarios:
            for arch in archs:
                rep = run_throughput(arch, scenario, pools[scenario], batch)
                results.setdefault((scenario, arch), []).append(rep)
                if progress is not None:
                    progress(rep)
    return results


class Breakdown(msgspec.Struct, frozen=True):
    """Where a fan-out-1 delivery's time goes: best-of-N nanoseconds per event or delivery."""

    arch: str
    publish_ns: float
    worker_ns: float
    rounds: int
    events: int


async def _publish_ns(arch: str, events: list[Event]) -> float:
    router = make(arch)
    for sub in subscriptions("fanout1"):
        router.subscribe(sub, _noop)
    publish = router.publish
    began = time.perf_counter()
    for event in events:
        publish(event)
    elapsed = time.perf_counter() - began
    # Not started, so drain only runs the (already buffered) deliveries: nothing is lost.
    await router.drain(60.0)
    return elapsed / len(events) * 1e9


async def _worker_ns(arch: str, events: list[Event]) -> float:
    router = make(arch)
    for sub in subscriptions("fanout1"):
        router.subscribe(sub, _noop)
    for event in events:
        router.publish(event)
    began = time.perf_counter()
    await router.start()
    report = await router.drain(60.0)
    elapsed = time.perf_counter() - began
    if report.stats.delivered != len(events) or report.stats.identity_errors():
        raise RuntimeError(f"breakdown run of {arch} lost events: {report.stats}")
    return elapsed / len(events) * 1e9


async def _pipeline_ns(events: list[Event]) -> tuple[float, float]:
    """ns per ``Pipeline.run`` alone, and per await of the bare handler (one round)."""
    from events import DeadLetterStore, Pipeline, WorkerSlot

    pipeline = Pipeline(subscriptions("fanout1")[0], _noop, DeadLetterStore())
    slot = WorkerSlot()
    run = pipeline.run
    began = time.perf_counter()
    for event in events:
        await run(event, slot)
    mid = time.perf_counter()
    for event in events:
        await _noop(event)
    end = time.perf_counter()
    return (mid - began) / len(events) * 1e9, (end - mid) / len(events) * 1e9


async def _breakdown(
    archs: list[str], events: list[Event], rounds: int
) -> tuple[list[Breakdown], tuple[float, float]]:
    best: dict[str, list[float]] = {arch: [float("inf"), float("inf")] for arch in archs}
    best_run = best_bare = float("inf")
    for _ in range(rounds):
        # Interleaved, so a burst of load elsewhere hits every figure alike.
        for arch in archs:
            best[arch][0] = min(best[arch][0], await _publish_ns(arch, events))
            best[arch][1] = min(best[arch][1], await _worker_ns(arch, events))
        run_ns, bare_ns = await _pipeline_ns(events)
        best_run, best_bare = min(best_run, run_ns), min(best_bare, bare_ns)
    rows = [Breakdown(arch, pub, work, rounds, len(events)) for arch, (pub, work) in best.items()]
    return rows, (best_run, best_bare)


def run_breakdown(
    archs: list[str], count: int = 20_000, rounds: int = 30
) -> tuple[list[Breakdown], tuple[float, float]]:
    """Best-of-``rounds`` costs; the minimum filters out time lost to other processes."""
    events = build_events(count)
    gc.collect()
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(_breakdown(archs, events, rounds))
