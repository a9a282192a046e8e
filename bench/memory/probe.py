"""The memory child: one architecture, the same workload N times, under tracemalloc.

Runs in its own interpreter (``python -m bench memory --child``). The events
are built before tracing starts, so the traced heap is the router's and its
handlers', not the harness's. One router lives through every iteration (so
what a router keeps between workloads shows up as growth); after each
iteration the router is allowed to go idle — every delivery ended — and a
full collection runs before the traced heap is read.

Bytes per buffered event: a second router with the same subscriptions, whose
handlers wait on a gate, is offered a slice of the schedule synchronously;
the traced growth over the accepted events (and over the deliveries pending)
is what the router holds per event it buffers. The events themselves were
allocated earlier and are not counted: the figure is the router's overhead.
"""

from __future__ import annotations

import asyncio
import gc
import resource
import time
import tracemalloc
from pathlib import Path

import uvloop

import workload
from bench.architectures import make
from bench.memory import profiles as memory
from bench.run.generator import run_open_loop
from bench.run.monitors import RssSampler
from events import Event, Handler, Router, Subscription

#: Offered to the gated router when measuring bytes per buffered event.
BUFFERED_EVENTS = 2000
#: Sites reported, largest growth first.
TOP_SITES = 10
#: An iteration whose deliveries have not all ended this long after its last
#: send means a router that lost track of work: the profile fails loudly.
IDLE_TIMEOUT_S = 60.0
#: Where the project's packages live (a checkout or site-packages): sites are named relative to it.
_ROOT = Path(__file__).resolve().parents[2]


async def wait_idle(router: Router, timeout_s: float = IDLE_TIMEOUT_S) -> None:
    """Return once every delivery has ended; raise if that takes longer than ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        stats = router.stats()
        if stats.deliveries == stats.ended:
            return
        if time.monotonic() > deadline:
            raise memory.MemoryProfileError(
                f"{stats.deliveries - stats.ended} deliveries still pending {timeout_s:.0f} s"
                " after the iteration's last send"
            )
        await asyncio.sleep(0.01)


def _sites(
    first: tracemalloc.Snapshot, last: tracemalloc.Snapshot
) -> tuple[memory.AllocationSite, ...]:
    drop = [
        tracemalloc.Filter(False, tracemalloc.__file__),
        # The probe's own list of readings is bookkeeping, not the router's heap.
        tracemalloc.Filter(False, __file__),
        tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
        tracemalloc.Filter(False, "<frozen importlib._bootstrap_external>"),
        tracemalloc.Filter(False, "<unknown>"),
    ]
    diffs = last.filter_traces(drop).compare_to(first.filter_traces(drop), "lineno")
    grown = sorted((d for d in diffs if d.size_diff > 0), key=lambda d: -d.size_diff)
    out = []
    for diff in grown[:TOP_SITES]:
        frame = diff.traceback[0]
        path = Path(frame.filename)
        name = str(path.relative_to(_ROOT)) if path.is_relative_to(_ROOT) else frame.filename
        out.append(memory.AllocationSite(name, frame.lineno, diff.size_diff, diff.count_diff,
                                         diff.size))  # fmt: skip
    return tuple(out)


def _services(
    profile: str, seed: int, scenarios: workload.Scenarios
) -> list[tuple[Subscription, Handler]]:
    """The profile's simulated services (from ``scenarios``), each with its seeded handler."""
    specs = workload.build_services(profile, scenarios=scenarios)
    return [(spec.subscription, spec.make_handler(seed + i)) for i, spec in enumerate(specs)]


async def _buffered(
    arch: str, profile: str, seed: int, events: list[Event], scenarios: workload.Scenarios
) -> tuple[int, int, float, float]:
    """(accepted events, pending deliveries, bytes per event, bytes per delivery)."""
    gate = asyncio.Event()

    async def held(event: Event) -> None:
        await gate.wait()

    router = make(arch)
    for sub, _ in _services(profile, seed, scenarios):
        router.subscribe(sub, held)
    await router.start()
    chosen = events[:BUFFERED_EVENTS]
    gc.collect()
    before = tracemalloc.get_traced_memory()[0]
    # No await between the sends and the reading: nothing is delivered yet.
    accepted = sum(1 for event in chosen if router.publish(event).ok)
    after = tracemalloc.get_traced_memory()[0]
    stats = router.stats()
    pending = stats.deliveries - stats.ended
    gate.set()
    await router.drain(10.0)
    grown = max(0, after - before)
    return accepted, pending, grown / max(1, accepted), grown / max(1, pending)


async def _profile(arch: str, profile: str, pattern: str, seed: int, iterations: int,
                   duration_s: float, base_rate: float | None,
                   scenarios: workload.Scenarios) -> memory.MemoryProfile:  # fmt: skip
    began = time.monotonic()
    schedule = workload.build_schedule(
        seed, profile, pattern, duration_s=duration_s, base_rate=base_rate, scenarios=scenarios
    )
    events = schedule.events()
    offsets: list[int] = schedule.t_ns.tolist()
    rss = RssSampler()
    ready = asyncio.Event()
    rss_task = asyncio.create_task(rss.run(ready))
    await ready.wait()
    tracemalloc.start(1)
    try:
        router = make(arch)
        for sub, handler in _services(profile, seed, scenarios):
            router.subscribe(sub, handler)
        await router.start()
        traced: list[int] = []
        first: tracemalloc.Snapshot | None = None
        for _ in range(iterations):
            await run_open_loop(router.publish, events, offsets, time.perf_counter_ns())
            await wait_idle(router)
            gc.collect()
            traced.append(tracemalloc.get_traced_memory()[0])
            if first is None:
                first = tracemalloc.take_snapshot()
        assert first is not None
        last = tracemalloc.take_snapshot()
        await router.drain(10.0)
        accepted, pending, per_event, per_delivery = await _buffered(
            arch, profile, seed, events, scenarios
        )
        traced_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        rss_task.cancel()
        await asyncio.gather(rss_task, return_exceptions=True)
    return memory.MemoryProfile(
        arch=arch,
        profile=profile,
        pattern=pattern,
        seed=seed,
        iterations=iterations,
        events_per_iteration=len(events),
        duration_s=float(schedule.duration_s),
        traced_bytes=tuple(traced),
        verdict=memory.leak_verdict(traced, memory.threshold_for(len(events))),
        top_sites=_sites(first, last),
        buffered_events=accepted,
        buffered_deliveries=pending,
        bytes_per_buffered_event=per_event,
        bytes_per_buffered_delivery=per_delivery,
        traced_peak_bytes=traced_peak,
        rss_peak_bytes=rss.peak_bytes,
        ru_maxrss_bytes=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        elapsed_s=time.monotonic() - began,
    )


def run_child(arch: str, profile: str, pattern: str, seed: int, iterations: int,
              duration_s: float, base_rate: float | None,
              scenarios: str | None = None) -> memory.MemoryProfile:  # fmt: skip
    """Profile ``arch`` in this process, on uvloop; blocks until done. ``scenarios`` is the
    scenarios file (None: configs/scenarios.toml)."""
    if iterations < 4:
        raise memory.MemoryProfileError(f"--iterations must be >= 4, got {iterations}")
    loaded = workload.load_scenarios(scenarios)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(
            _profile(arch, profile, pattern, seed, iterations, duration_s, base_rate, loaded)
        )
