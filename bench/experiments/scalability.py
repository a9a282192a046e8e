"""Scalability: throughput against worker concurrency, and the Universal Scalability Law fit.

The run worker has no concurrency option, so the sweep reaches it through the
architecture registry: ``bench.experiments.scalability:<arch>@<n>`` (see :func:`arch_at`) names
a :class:`ConcurrencyRouter`, the architecture ``<arch>`` with every subscription's
``concurrency`` set to ``n``. Each point is then an ordinary run of the worker in a
fresh subprocess, and its result records the name it ran under.

Each point offers a fixed rate meant to exceed what the lower concurrencies can
carry; throughput is completed deliveries/s in the window (rejected, dropped and failed
work is never throughput). A point
whose completions reached ``LOAD_LIMITED`` of the deliveries offered was capped by
the load, not by concurrency: the report flags it and the fit leaves it out, as it
does invalid points (a generator that fell behind voids throughput claims).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import msgspec

from bench.analysis.usl import UslFit, fit_usl
from bench.architectures import ArchitectureError, make
from bench.run.runner import Launcher, run_in_subprocess
from bench.schema import RunResult, RunSpec
from events import Ack, DrainReport, Event, Handler, Router, RouterStats, Subscription

#: The concurrency levels swept by default.
LEVELS: tuple[int, ...] = (1, 2, 4, 8, 16, 32)
#: Completions at or above this share of the deliveries offered: capped by the load.
LOAD_LIMITED = 0.95
#: Seconds a point may take beyond its duration and drain before it counts as hung.
POINT_SLACK_S = 90.0


class ConcurrencyRouter:
    """The router ``inner`` with every subscription's concurrency set to ``concurrency``."""

    def __init__(self, inner: Router, concurrency: int) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        self.inner = inner
        self.concurrency = concurrency

    def subscribe(self, sub: Subscription, handler: Handler) -> None:
        self.inner.subscribe(msgspec.structs.replace(sub, concurrency=self.concurrency), handler)

    async def start(self) -> None:
        await self.inner.start()

    def publish(self, event: Event) -> Ack:
        return self.inner.publish(event)

    async def drain(self, timeout_s: float) -> DrainReport:
        return await self.inner.drain(timeout_s)

    def stats(self) -> RouterStats:
        return self.inner.stats()


def arch_at(arch: str, concurrency: int) -> str:
    """The registry name of ``arch`` with every subscription at ``concurrency`` workers."""
    return f"bench.experiments.scalability:{arch}@{concurrency}"


def parse_arch_at(name: str) -> tuple[str, int]:
    """``daemon@8`` -> ("daemon", 8); raise ArchitectureError on anything else."""
    inner, sep, level = name.rpartition("@")
    if not sep or not inner or not level.isdigit() or int(level) < 1:
        raise ArchitectureError(f"{name!r}: expected <architecture>@<concurrency>, e.g. 'daemon@8'")
    return inner, int(level)


def __getattr__(name: str) -> Callable[..., ConcurrencyRouter]:
    # The registry resolves 'bench.experiments.scalability:daemon@8' to getattr(module, 'daemon@8').
    if name.startswith("__"):
        raise AttributeError(name)
    inner, level = parse_arch_at(name)

    def factory(config: Any = None) -> ConcurrencyRouter:
        return ConcurrencyRouter(make(inner, config), level)

    return factory


class Point(msgspec.Struct, frozen=True):
    """One measured (architecture, concurrency) point; ``reject_rate`` is a share of the
    events published, ``failure_rate`` of the deliveries started (both 0-1)."""

    arch: str
    concurrency: int
    throughput_dps: float
    offered_dps: float
    reject_rate: float
    failure_rate: float
    valid: bool
    load_limited: bool
    reasons: tuple[str, ...]


class Scaling(msgspec.Struct, frozen=True):
    """An architecture's points and, when at least 3 levels were valid, its USL fit."""

    arch: str
    points: tuple[Point, ...]
    fit: UslFit | None
    notes: tuple[str, ...]


def point_of(arch: str, concurrency: int, result: RunResult) -> Point:
    """The throughput point a run measured."""
    offered = result.accounting.deliveries / result.window_s if result.window_s else 0.0
    rates = result.rates()
    return Point(
        arch=arch,
        concurrency=concurrency,
        throughput_dps=result.throughput_dps,
        offered_dps=offered,
        reject_rate=rates.reject_rate,
        failure_rate=rates.failure_rate,
        valid=result.valid,
        load_limited=offered > 0 and result.throughput_dps >= LOAD_LIMITED * offered,
        reasons=result.reasons,
    )


def sweep(
    archs: Sequence[str],
    levels: Sequence[int],
    base: RunSpec,
    runs: int = 1,
    launch: Launcher = run_in_subprocess,
    on_point: Callable[[Point, float], None] | None = None,
) -> dict[str, list[Point]]:
    """Measure every (architecture, level) ``runs`` times, architectures interleaved."""
    points: dict[str, list[Point]] = {arch: [] for arch in archs}
    order = list(archs)
    duration = base.duration_s if base.duration_s is not None else 30.0
    for _ in range(runs):
        for level in levels:
            for arch in order:
                spec = msgspec.structs.replace(base, arch=arch_at(arch, level))
                began = time.monotonic()
                result = launch(spec, duration + base.drain_timeout_s + POINT_SLACK_S)
                point = point_of(arch, level, result)
                points[arch].append(point)
                if on_point is not None:
                    on_point(point, time.monotonic() - began)
            order.reverse()
    return points


def analyse(arch: str, points: Sequence[Point], resamples: int = 1000) -> Scaling:
    """Fit the USL to the valid points; say what limits the answer."""
    notes: list[str] = []
    valid = [p for p in points if p.valid and p.throughput_dps > 0]
    if len(valid) < len(points):
        notes.append(f"{len(points) - len(valid)} of {len(points)} points left out (invalid)")
    limited = sorted({p.concurrency for p in points if p.load_limited})
    if limited:
        notes.append(
            f"at concurrency {', '.join(map(str, limited))} throughput reached the offered"
            " load: capped by the load, not by concurrency, so left out of the fit"
            " (raise --rate to measure them)"
        )
    usable = [p for p in valid if not p.load_limited]
    fit = None
    if len({p.concurrency for p in usable}) < 3:
        notes.append("no USL fit: fewer than 3 concurrency levels have valid points")
    else:
        try:
            fit = fit_usl(
                [p.concurrency for p in usable],
                [p.throughput_dps for p in usable],
                resamples=resamples,
            )
        except ValueError as exc:
            notes.append(f"no USL fit: {exc}")
    if fit is not None and fit.n_star_extrapolated:
        low, high = fit.measured_range
        notes.append(
            f"N* = {fit.n_star:.3g} lies outside the measured {low:g}-{high:g}:"
            " an extrapolation of the model, not a measurement"
        )
    return Scaling(arch, tuple(points), fit, tuple(notes))
