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
