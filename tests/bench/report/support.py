"""Shared helpers of the report, baseline and browser tests (no tests here).

Comparisons are built from real runs of a real router through the real worker,
in this process (``bench.run.worker.run``), small enough to take a fraction of a
second each. ``tunable_router`` is the injected architecture: the daemon, whose handlers
first wait ``$SWITCHYARD_TEST_EXTRA_MS``
milliseconds, so one architecture name can be made slower between two runs.
"""

from __future__ import annotations

import asyncio
import functools
import os
import sys
from pathlib import Path

import msgspec

from bench.analysis.compare import compare_runs
from bench.architectures import make
from bench.host import environment
from bench.run import worker
from bench.schema import (
    SCHEMA,
    CompareResult,
    CompareSettings,
    RunRecord,
    RunResult,
    RunSpec,
    encode,
)
from events import Ack, DrainReport, Event, Handler, Router, RouterStats, Subscription

TUNABLE = "tests.bench.report.support:tunable_router"
EXTRA_MS_ENV = "SWITCHYARD_TEST_EXTRA_MS"


class _SlowedRouter:
    """Delegates to a real router, wrapping each handler with an extra wait first."""

    def __init__(self, inner: Router, extra_s: float) -> None:
        self.inner = inner
        self.extra_s = extra_s

    def subscribe(self, sub: Subscription, handler: Handler) -> None:
        extra_s = self.extra_s

        async def slowed(event: Event) -> None:
            await asyncio.sleep(extra_s)
            await handler(event)

        self.inner.subscribe(sub, slowed if extra_s > 0 else handler)

    async def start(self) -> None:
        await self.inner.start()

    def publish(self, event: Event) -> Ack:
        return self.inner.publish(event)

    async def drain(self, timeout_s: float) -> DrainReport:
        return await self.inner.drain(timeout_s)

    def stats(self) -> RouterStats:
        return self.inner.stats()


def tunable_router(config: object = None) -> Router:
    """The daemon, its handlers first waiting $SWITCHYARD_TEST_EXTRA_MS ms (0: plain)."""
    extra_s = float(os.environ.get(EXTRA_MS_ENV, "0")) / 1e3
    return _SlowedRouter(make("daemon"), extra_s)


def comparison(
    archs: tuple[str, ...], runs: int = 2, pattern: str = "spike", duration_s: float = 0.25
) -> CompareResult:
    """A CompareResult of ``runs`` real in-process runs per architecture (no warm-up).

    Cached per arguments and extra delay, so test modules share the runs.
    """
    return _comparison(archs, runs, pattern, duration_s, os.environ.get(EXTRA_MS_ENV, "0"))


@functools.cache
def _comparison(
    archs: tuple[str, ...], runs: int, pattern: str, duration_s: float, extra_ms: str
) -> CompareResult:
    base = RunSpec(
        arch=archs[0], profile="light", pattern=pattern, seed=3, duration_s=duration_s,
        base_rate=300.0, services="noop",
    )  # fmt: skip
    records = []
    by_arch: dict[str, list[RunResult]] = {a: [] for a in archs}
    for block in range(runs):
        for position, arch in enumerate(archs):
            result = worker.run(msgspec.structs.replace(base, arch=arch))
            records.append(RunRecord(arch=arch, block=block, position=position, result=result))
            by_arch[arch].append(result)
    first = records[0].result
    return CompareResult(
        schema=SCHEMA,
        environment=environment.capture("uvloop", 3, first.schedule_hash, ["pytest", *sys.argv]),
        settings=CompareSettings(
            archs=archs,
            profile="light",
            pattern=pattern,
            seed=3,
            runs=runs,
            duration_s=duration_s,
            warmup_s=0.0,
            noise=0.05,
            loop="uvloop",
            order=tuple(archs for _ in range(runs)),
        ),
        runs=tuple(records),
        ratios=compare_runs(archs, by_arch, 0.05, 3),
        elapsed_s=0.0,
    )


def write(result: CompareResult, path: Path) -> Path:
    path.write_bytes(encode(result))
    return path
