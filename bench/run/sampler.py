"""The router's own view during a run: backlog and breakers, from ``stats()`` sampled often.

Both architectures expose the same :class:`events.RouterStats` (the Router protocol),
so one sampler serves both: every ``interval_s`` it reads the deliveries not yet
ended (``pending``, the backlog) and each subscription copy's breaker state. A
breaker trip is a copy seen closed at one sample and not closed at the next; time
open is the time at least one copy of a service was not closed. A breaker that
re-opens from half-open between two samples stays one episode: the sampler cannot
see it, and says so where the figures are shown.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import numpy as np

from bench.run.histograms import Int64s
from bench.schema import ServiceResult
from events import RouterStats

#: Sampling interval: ten samples per 250 ms recovery window.
INTERVAL_S = 0.025


class RouterSampler:
    """Samples ``stats()``; times are ``perf_counter_ns`` until :meth:`series` rebases them."""

    def __init__(self, stats: Callable[[], RouterStats], interval_s: float = INTERVAL_S) -> None:
        self.interval_s = interval_s
        self._stats = stats
        self.t_ns: list[int] = []
        self.pending: list[int] = []
        self.open_copies: list[int] = []
        #: Per service: observed trips and the time at least one copy was not closed.
        self.trips: dict[str, int] = {}
        self.open_ns: dict[str, int] = {}
        self._was_open: list[bool] = []
        self._service_open: dict[str, bool] = {}

    def sample_nowait(self) -> None:
        stats = self._stats()
        now = time.perf_counter_ns()
        states = [sub.breaker != "closed" for sub in stats.subscriptions]
        if len(states) != len(self._was_open):
            # Copies appeared or went (not in a bench run): compare nothing with nothing.
            self._was_open = [False] * len(states)
        service_open: dict[str, bool] = {}
        for index, sub in enumerate(stats.subscriptions):
            opened = states[index]
            if opened and not self._was_open[index]:
                self.trips[sub.service] = self.trips.get(sub.service, 0) + 1
            service_open[sub.service] = service_open.get(sub.service, False) or opened
        if self.t_ns:
            elapsed = now - self.t_ns[-1]
            for service, was in self._service_open.items():
                if was:
                    self.open_ns[service] = self.open_ns.get(service, 0) + elapsed
        self._was_open = states
        self._service_open = service_open
        self.t_ns.append(now)
        self.pending.append(stats.pending)
        self.open_copies.append(sum(states))

    async def run(self, ready: asyncio.Event) -> None:
        self.sample_nowait()
        ready.set()
        while True:
            await asyncio.sleep(self.interval_s)
            self.sample_nowait()

    def series(self, t0_ns: int) -> tuple[Int64s, Int64s, Int64s]:
        """(sample times in ns after ``t0_ns``, backlog, breakers not closed) as arrays."""
        return (
            np.asarray(self.t_ns, dtype=np.int64) - t0_ns,
            np.asarray(self.pending, dtype=np.int64),
            np.asarray(self.open_copies, dtype=np.int64),
        )

    def services(self, final: RouterStats) -> tuple[ServiceResult, ...]:
        """Each service's deliveries (from the stats after drain) and its breaker figures."""
        out: dict[str, dict[str, int]] = {}
        for sub in final.subscriptions:
            row = out.setdefault(
                sub.service,
                {"copies": 0, "deliveries": 0, "delivered": 0, "dead_lettered": 0, "dropped": 0},
            )
            row["copies"] += 1
            row["deliveries"] += sub.deliveries
            row["delivered"] += sub.delivered
            row["dead_lettered"] += sub.dead_lettered
            row["dropped"] += sub.dropped
        return tuple(
            ServiceResult(
                service=name,
                copies=row["copies"],
                deliveries=row["deliveries"],
                delivered=row["delivered"],
                dead_lettered=row["dead_lettered"],
                dropped=row["dropped"],
                breaker_trips=self.trips.get(name, 0),
                breaker_open_s=self.open_ns.get(name, 0) / 1e9,
                sample_s=self.interval_s,
            )
            for name, row in out.items()
        )
