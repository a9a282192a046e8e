"""A machine's single-core speed on the work a run does: routing, and the handlers' hashing.

``python -m bench host calibrate --out host.json`` on the production machine, then
``bench capacity --target-host host.json`` here, scales the CPU-demand bound by how
much faster (or slower) a core there does the same work. Three kernels, each timed in
CPU seconds of this process (``time.process_time``: a core stolen by the hypervisor
does not count, so the figure is per core, not per share of one):

* ``daemon`` and ``coordinator``: the router's own hot path. The architecture is
  built through the registry with the medium profile's subscriptions, each bound to a
  handler that does nothing, started on uvloop; a fixed steady schedule's events are
  published (the loop gets a turn every 64 events so mailboxes drain) and drained.
  Events per CPU second, publish to the last delivery.
* ``hash``: blake2b over a buffer, the simulated services' CPU work
  (:mod:`workload.cpu`). Bytes per CPU µs.

After one discarded warm-up round of each router (imports, caches, the allocator), each
kernel runs ``rounds`` times, interleaved; the record keeps every round and
:func:`speed_ratio` compares two records kernel by kernel (medians) and takes the
geometric mean of the ratios, reporting the spread of the kernels' ratios beside it.
"""

from __future__ import annotations

import asyncio
import math
import os
import platform
import statistics
import time
from collections.abc import Sequence

import msgspec

from bench.architectures import make
from bench.host.environment import cpu_model
from events import Event

HOST_SCHEMA = "switchyard.host/1"
#: The router kernels, by registry name.
ROUTERS = ("daemon", "coordinator")
#: Events per router round and bytes per hash round.
EVENTS = 50_000
HASH_BYTES = 32 << 20
#: The loop gets a turn after this many publishes.
BATCH = 64


class Kernel(msgspec.Struct, frozen=True):
    """One kernel's speed in each round and their median; ``unit`` names it."""

    name: str
    unit: str
    rounds: tuple[float, ...]
    median: float


class HostSpeed(msgspec.Struct, frozen=True):
    """What ``host calibrate`` writes: the machine, and each kernel's speed per CPU second."""

    schema: str
    cpu_model: str
    cpu_count: int
    python: str
    kernels: tuple[Kernel, ...]

    def kernel(self, name: str) -> Kernel | None:
        return next((k for k in self.kernels if k.name == name), None)


class SpeedRatio(msgspec.Struct, frozen=True):
    """How many times faster a core of the target is: per kernel and their geometric mean."""

    ratio: float
    per_kernel: dict[str, float]

    @property
    def spread(self) -> tuple[float, float]:
        return min(self.per_kernel.values()), max(self.per_kernel.values())


def _events(count: int) -> list[Event]:
    import workload

    rate = 10_000.0
    schedule = workload.build_schedule(
        1, "medium", "steady", duration_s=count / rate, base_rate=rate
    )
    return list(schedule.events())[:count]


async def _route(arch: str, events: Sequence[Event]) -> float:
    import workload

    router = make(arch)

    async def nothing(event: Event) -> None:
        return None

    for spec in workload.build_services("medium"):
        router.subscribe(spec.subscription, nothing)
    await router.start()
    began = time.process_time()
    rejected = 0
    for i, event in enumerate(events):
        if not router.publish(event).ok:
            rejected += 1
        if i % BATCH == BATCH - 1:
            await asyncio.sleep(0)
    await router.drain(30.0)
    spent = time.process_time() - began
    if rejected:
        raise RuntimeError(f"{arch} rejected {rejected} calibration events")
    return len(events) / max(spent, 1e-9)


def route_speed(arch: str, events: Sequence[Event]) -> float:
    """Events per CPU second through ``arch`` (see the module doc)."""
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(_route(arch, events))


def hash_speed(n: int = HASH_BYTES) -> float:
    """Bytes per CPU µs of the simulated services' hashing."""
    from workload.cpu import hash_bytes

    began = time.process_time()
    hash_bytes(n)
    return n / max((time.process_time() - began) * 1e6, 1e-9)


def measure(rounds: int = 5, events: int = EVENTS, hash_bytes: int = HASH_BYTES) -> HostSpeed:
    """Every kernel ``rounds`` times, interleaved (a few seconds at the defaults)."""
    if rounds < 1 or events < BATCH or hash_bytes < 1 << 16:
        raise ValueError("need rounds >= 1, events >= 64 and hash_bytes >= 64 KiB")
    batch = _events(events)
    speeds: dict[str, list[float]] = {name: [] for name in (*ROUTERS, "hash")}
    for arch in ROUTERS:
        route_speed(arch, batch[: len(batch) // 4])  # warm-up: imports, caches, allocator
    for _ in range(rounds):
        for arch in ROUTERS:
            speeds[arch].append(route_speed(arch, batch))
        speeds["hash"].append(hash_speed(hash_bytes))
    units = {"hash": "bytes per CPU µs"}
    return HostSpeed(
        schema=HOST_SCHEMA,
        cpu_model=cpu_model(),
        cpu_count=os.cpu_count() or 0,
        python=platform.python_version(),
        kernels=tuple(
            Kernel(name, units.get(name, "events per CPU s"), tuple(v), statistics.median(v))
            for name, v in speeds.items()
        ),
    )


def speed_ratio(target: HostSpeed, here: HostSpeed) -> SpeedRatio:
    """How many times faster ``target`` does each kernel than ``here`` (medians)."""
    per = {
        k.name: k.median / mine.median
        for k in target.kernels
        if (mine := here.kernel(k.name)) is not None and mine.median > 0 and k.median > 0
    }
    if not per:
        names = ", ".join(k.name for k in target.kernels) or "none"
        raise ValueError(f"no kernel in common with this machine's calibration (target: {names})")
    return SpeedRatio(math.exp(statistics.fmean(math.log(r) for r in per.values())), per)


def merge(records: Sequence[HostSpeed]) -> HostSpeed:
    """One record from several calibrations of the same machine (every round kept)."""
    if not records:
        raise ValueError("nothing to merge")
    names = [k.name for k in records[0].kernels]
    kernels = []
    for name in names:
        found = [k for r in records if (k := r.kernel(name)) is not None]
        rounds = tuple(v for k in found for v in k.rounds)
        kernels.append(Kernel(name, found[0].unit, rounds, statistics.median(rounds)))
    return msgspec.structs.replace(records[0], kernels=tuple(kernels))
