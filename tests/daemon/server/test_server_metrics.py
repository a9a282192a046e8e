"""The delivery-latency wrapper records exactly what LatencyHistogram.record_ns would."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from daemon.server.config import load_config
from daemon.server.metrics import LatencyHistogram
from daemon.server.server import DaemonServer
from daemon.server.subscribers.simulated import Sink
from events import Category, Event
from tests.daemon.server.support import write_config

pytestmark = pytest.mark.anyio


async def test_measured_handler_buckets_like_record_ns(tmp_path: Path) -> None:
    """Wall-clock stamps land in record_ns's bucket by prefix; offsets are not measured."""
    server = DaemonServer(load_config(write_config(tmp_path, "")))
    sink = Sink()
    handler = server.measured(sink)
    now = time.time_ns()
    reference = LatencyHistogram()
    for ago_us in (0, 3, 250, 9_000, 2_000_000):
        event = Event(
            id="e",
            subject="db.txn.committed",
            category=Category.DATABASE,
            source="t",
            t_intended_ns=now - ago_us * 1000,
        )
        await handler(event)
        reference.record_ns(time.time_ns() - event.t_intended_ns)
    offset = Event(id="o", subject="db.a", category=Category.DATABASE, source="t", t_intended_ns=5)
    await handler(offset)
    got = server.metrics.delivery_latency["db"]
    # Recorded a moment apart: compare buckets at the coarse end, and totals exactly.
    assert (sink.count, got.count, reference.count) == (6, 5, 5)
    assert got.percentile_s(1.0) == reference.percentile_s(1.0)


async def test_measured_calls_functions_and_callable_objects_alike(tmp_path: Path) -> None:
    """A plain async function and an object with an async ``__call__`` each get every event,
    in order, and each delivery is recorded once."""
    server = DaemonServer(load_config(write_config(tmp_path, "")))
    seen: list[str] = []

    async def function(event: Event) -> None:
        seen.append(f"f:{event.id}")

    class Callable:
        async def __call__(self, event: Event) -> None:
            seen.append(f"o:{event.id}")

    by_function, by_object = server.measured(function), server.measured(Callable())
    now = time.time_ns()
    for i in range(2):
        event = Event(
            id=str(i), subject="fs.a", category=Category.FILESYSTEM, source="t", t_intended_ns=now
        )
        await by_function(event)
        await by_object(event)
    recorded = server.metrics.delivery_latency["fs"].count
    assert (seen, recorded) == (["f:0", "o:0", "f:1", "o:1"], 4)
