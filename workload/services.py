"""Simulated subscribers: the modules of a knowledge-tool backend, plus generic ones.

Each service has a pattern, a subscription policy and a service-time model:
CPU microseconds spent really hashing (``workload.cpu``), I/O milliseconds
awaited with ``asyncio.sleep`` (>= 1 ms, what uvloop timers can honour), a
failure rate (the handler raises) and a timeout rate (the handler hangs for
twice the subscription's timeout, so only the router's timeout ends it early).
An :class:`Outage` takes a service down for windows of the run: every call in a
window fails at once, as a call to a service that is down does.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from events.delivery import Handler
from events.errors import ConfigError
from events.model import Event
from events.subscription import Subscription
from workload.config import Profile, Scenarios, ServiceModel, ServicePolicy, load_scenarios
from workload.cpu import burn_us
from workload.errors import SimulatedFailure
from workload.mix import SubjectTable
from workload.schedule import Schedule

#: A hanging call lasts this many times the subscription's timeout.
HANG_FACTOR = 2.0


@dataclass(frozen=True)
class ServiceSpec:
    """One simulated subscriber: its subscription and its service-time model.

    ``share`` is the expected fraction of events its pattern matches under the mix.
    """

    name: str
    subscription: Subscription
    model: ServiceModel
    share: float = 0.0

    def make_handler(
        self,
        seed: int,
        on_done: Callable[[Event], None] | None = None,
        down: Callable[[], bool] | None = None,
    ) -> Handler:
        """A handler doing the modelled work; its draws are seeded by (seed, name).

        ``on_done(event)`` is called as the handler returns normally (the bench
        stamps completions with it, cheaper than a wrapping coroutine). While
        ``down()`` is true every call fails at once (see :class:`Outage`), without
        drawing, so the seeded draws after an outage match a run without one.
        """
        rng = random.Random(f"{seed}/{self.name}")
        name = self.name
        cpu_us = self.model.cpu_us
        io_lo_s = self.model.io_ms_min / 1000.0
        io_hi_s = self.model.io_ms_max / 1000.0
        fail_below = self.model.failure_rate
        hang_below = fail_below + self.model.timeout_rate
        hang_s = HANG_FACTOR * self.subscription.timeout_s

        async def handler(event: Event) -> None:
            if down is not None and down():
                raise SimulatedFailure(f"{name}: down (outage) on event {event.id}")
            roll = rng.random()
            if cpu_us > 0:
                # Uniform on [0.5, 1.5] x the mean: real services vary.
                burn_us(cpu_us * (0.5 + rng.random()))
            if io_hi_s > 0:
                await asyncio.sleep(rng.uniform(io_lo_s, io_hi_s))
            if roll < fail_below:
                raise SimulatedFailure(f"{name}: simulated failure on event {event.id}")
            if roll < hang_below:
                await asyncio.sleep(hang_s)
            if on_done is not None:
                on_done(event)

        return handler


class Outage:
    """Windows of a run in which a service is down; times count from :meth:`begin`.

    ``windows`` are (start, duration) in seconds after the run's start. Before
    :meth:`begin` the service is up (set-up and warm-up calls succeed).
    """

    def __init__(self, windows: Sequence[tuple[float, float]]) -> None:
        for start, duration in windows:
            if not (math.isfinite(start) and start >= 0):
                raise ConfigError(f"an outage must start at >= 0 s, got {start}")
            if not (math.isfinite(duration) and duration > 0):
                raise ConfigError(f"an outage must last > 0 s, got {duration}")
        self.windows_ns = sorted((round(s * 1e9), round((s + d) * 1e9)) for s, d in windows)
        self.origin_ns: int | None = None

    def begin(self, origin_ns: int) -> None:
        """Start the clock: ``origin_ns`` (``perf_counter_ns``) is the run's second 0."""
        self.origin_ns = origin_ns

    def down(self) -> bool:
        """Is the service down now?"""
        if self.origin_ns is None:
            return False
        t = time.perf_counter_ns() - self.origin_ns
        return any(start <= t < end for start, end in self.windows_ns)


def _subscription(name: str, pattern: str, policy: ServicePolicy, concurrency: int) -> Subscription:
    return Subscription(
        service=name,
        pattern=pattern,
        concurrency=concurrency,
        mailbox=policy.mailbox,
        overflow=policy.overflow,
        timeout_s=policy.timeout_s,
        retry=policy.retry,
        breaker=policy.breaker,
    )


def needed_concurrency(base_rate: float, share: float, model: ServiceModel, headroom: float) -> int:
    """Workers to keep ``headroom`` x the base-rate load below one busy worker each.

    By Little's law the mean number of calls in progress is arrival rate x mean
    service time; I/O waits dominate, and CPU time is counted too.
    """
    service_s = model.mean_io_s + model.cpu_us / 1e6
    return max(1, math.ceil(headroom * base_rate * share * service_s))


def _spec(
    name: str,
    pattern: str,
    model: ServiceModel,
    policy: ServicePolicy,
    profile: Profile,
    table: SubjectTable | Schedule,
    headroom: float,
) -> ServiceSpec:
    share = table.match_fraction(pattern)
    concurrency = max(
        policy.concurrency, needed_concurrency(profile.base_rate, share, model, headroom)
    )
    return ServiceSpec(name, _subscription(name, pattern, policy, concurrency), model, share)


def build_services(
    profile: str | Profile,
    *,
    scenarios: Scenarios | None = None,
    schedule: Schedule | None = None,
) -> list[ServiceSpec]:
    """The profile's services: the named ones in configured order, then generic ones.

    Each service's share (and so its concurrency) comes from the mix, or from
    ``schedule``'s own subjects when given (a trace's subjects are not the mix's).
    """
    scenarios = load_scenarios() if scenarios is None else scenarios
    prof = scenarios.profile(profile) if isinstance(profile, str) else profile
    config = scenarios.services
    table: SubjectTable | Schedule = (
        SubjectTable(scenarios.subjects, scenarios.weights()) if schedule is None else schedule
    )
    headroom = config.concurrency_headroom
    specs: list[ServiceSpec] = []
    for name, service in list(config.named.items())[: prof.services]:
        specs.append(
            _spec(name, service.pattern, service.model, service.policy, prof, table, headroom)
        )
    generic = config.generic
    for i in range(prof.services - len(specs)):
        pattern = generic.patterns[i % len(generic.patterns)]
        specs.append(
            _spec(
                f"generic-{i + 1:03d}",
                pattern,
                generic.model,
                generic.policy,
                prof,
                table,
                headroom,
            )
        )
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ConfigError(f"{scenarios.source}: service names collide: {sorted(names)}")
    return specs


def expected_fanout(specs: list[ServiceSpec]) -> float:
    """Mean deliveries per event across the services."""
    return sum(s.share for s in specs)
