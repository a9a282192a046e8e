"""Completion stamps: each handler is wrapped to note when a delivery succeeded.

The wrapper appends the event's sequence number and ``perf_counter_ns()`` to
two lists after the handler returns (a raising attempt is not a completion);
everything else is computed after the run. ``noop_services`` is the harness
floor's subscriber set: one subscription on ``>`` whose handler does nothing.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Literal

import numpy as np

from bench.histograms import Int64s
from events import Event, Handler, Subscription

Services = Literal["sim", "noop"]


class Recorder:
    """Collects (sequence, completion time) pairs of successful deliveries."""

    def __init__(self) -> None:
        self.seqs: list[int] = []
        self.stamps: list[int] = []

    def wrap(self, handler: Handler) -> Handler:
        """``handler``, stamping each successful return."""
        seqs = self.seqs.append
        stamps = self.stamps.append
        clock = time.perf_counter_ns

        async def recorded(event: Event) -> None:
            await handler(event)
            stamps(clock())
            seqs(event.seq)

        return recorded

    def __len__(self) -> int:
        return len(self.seqs)

    def arrays(self, t0_ns: int) -> tuple[Int64s, Int64s]:
        """Sequence numbers and completion times (ns after ``t0_ns``) as arrays."""
        seqs = np.asarray(self.seqs, dtype=np.int64)
        stamps = np.asarray(self.stamps, dtype=np.int64) - t0_ns
        return seqs, stamps


async def _noop(event: Event) -> None:
    return None


def noop_services() -> list[tuple[Subscription, Handler]]:
    """The harness-floor subscribers: everything to one handler that does nothing."""
    return [(Subscription(service="noop", pattern=">", mailbox=1_000_000), _noop)]


def sim_services(profile: str, seed: int) -> list[tuple[Subscription, Handler]]:
    """The workload's simulated services of ``profile``, each with its seeded handler."""
    import workload

    specs: Sequence[workload.ServiceSpec] = workload.build_services(profile)
    return [
        (spec.subscription, spec.make_handler(seed + index)) for index, spec in enumerate(specs)
    ]
