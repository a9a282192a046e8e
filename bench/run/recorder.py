"""Completion stamps: each handler notes when one of its deliveries succeeded.

The bench builds every handler it subscribes, so the handler itself calls
:attr:`Recorder.record` as it returns normally (a raising attempt is not a
completion): one plain call appending the event's sequence number and
``perf_counter_ns()`` to two lists. A coroutine wrapped around each handler
would cost more than the rest of the harness's work per event. Everything else
is computed after the run. ``noop_services`` is the harness floor's subscriber
set: one subscription on ``>`` whose handler only records.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np

from bench.run.histograms import Int64s
from bench.schema import Outage
from events import Event, Handler, Subscription
from events.errors import ConfigError
from workload.services import Outage as WorkloadOutage

if TYPE_CHECKING:
    import workload

Services = Literal["sim", "noop"]


class Recorder:
    """Collects (sequence, completion time) pairs of successful deliveries."""

    def __init__(self) -> None:
        self.seqs: list[int] = []
        self.stamps: list[int] = []
        seqs = self.seqs.append
        stamps = self.stamps.append
        clock = time.perf_counter_ns

        def record(event: Event) -> None:
            stamps(clock())
            seqs(event.seq)

        #: Call with the event when a delivery has succeeded.
        self.record: Callable[[Event], None] = record

    def __len__(self) -> int:
        return len(self.seqs)

    def arrays(self, t0_ns: int) -> tuple[Int64s, Int64s]:
        """Sequence numbers and completion times (ns after ``t0_ns``) as arrays."""
        seqs = np.asarray(self.seqs, dtype=np.int64)
        stamps = np.asarray(self.stamps, dtype=np.int64) - t0_ns
        return seqs, stamps


def noop_services(record: Callable[[Event], None]) -> list[tuple[Subscription, Handler]]:
    """The harness-floor subscribers: everything to one handler that only calls ``record``."""

    async def noop(event: Event) -> None:
        record(event)

    return [(Subscription(service="noop", pattern=">", mailbox=1_000_000), noop)]


def service_names(profile: str) -> list[str]:
    """The names of ``profile``'s simulated services, in order."""
    import workload

    return [spec.name for spec in workload.build_services(profile)]


def check_outages(
    services: str | Sequence[workload.ServiceSpec],
    outages: Sequence[Outage],
    duration_s: float | None,
) -> None:
    """Raise ConfigError for an outage of a service the run lacks, or outside the run.

    ``services`` is a profile name (its simulated services) or the run's service specs.
    """
    known = (
        service_names(services) if isinstance(services, str) else [spec.name for spec in services]
    )
    for outage in outages:
        if outage.service not in known:
            where = f"profile {services!r}" if isinstance(services, str) else "the run"
            raise ConfigError(
                f"--outage {outage.label}: {where} has no service"
                f" {outage.service!r} (it has {', '.join(known)})"
            )
        if outage.start_s < 0 or outage.duration_s <= 0:
            raise ConfigError(
                f"--outage {outage.label}: START must be >= 0 and DURATION > 0 seconds"
            )
        if duration_s is not None and outage.start_s >= duration_s:
            raise ConfigError(
                f"--outage {outage.label}: starts at {outage.start_s:g} s, after the run's"
                f" {duration_s:g} s"
            )


def sim_services(
    profile: str, seed: int, record: Callable[[Event], None] | None = None
) -> list[tuple[Subscription, Handler]]:
    """The workload's simulated services of ``profile``, each with its seeded handler.

    Each handler calls ``record(event)`` when it returns normally.
    """
    import workload

    return services_with_outages(workload.build_services(profile), seed, record)[0]


def services_with_outages(
    specs: Sequence[workload.ServiceSpec],
    seed: int,
    record: Callable[[Event], None] | None = None,
    outages: Sequence[Outage] = (),
) -> tuple[list[tuple[Subscription, Handler]], list[WorkloadOutage]]:
    """The workload's simulated services of ``profile``, each with its seeded handler, and
    the outage clocks to start when the run does (one per service with outages).

    Each handler calls ``record(event)`` when it returns normally.
    """
    clocks: dict[str, WorkloadOutage] = {}
    for name in dict.fromkeys(o.service for o in outages):
        clocks[name] = WorkloadOutage(
            [(o.start_s, o.duration_s) for o in outages if o.service == name]
        )
    services = []
    for index, spec in enumerate(specs):
        clock = clocks.get(spec.name)
        down = clock.down if clock is not None else None
        services.append((spec.subscription, spec.make_handler(seed + index, record, down)))
    return services, list(clocks.values())
