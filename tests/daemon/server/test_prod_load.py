"""The external load driver against a real daemon: it accounts for every event it offers."""

from __future__ import annotations

import hashlib
from pathlib import Path

import msgspec
import pytest

from bench.http.driver import LoadConfig, LoadError, histogram_delta, run_load
from daemon.server.metrics import LatencyHistogram, bucket_index, bucket_upper_us
from tests.daemon.server.support import running

pytestmark = pytest.mark.anyio

SINK = """
[[handlers]]
service = "sink"
pattern = ">"
factory = "daemon.server.subscribers.simulated:sink"
"""


@pytest.mark.parametrize("batch", [1, 20])
async def test_driver_offers_the_schedule_and_sees_it_delivered(tmp_path: Path, batch: int) -> None:
    """Every scheduled event is answered 202, delivered, and latency histograms are filled."""
    async with running(tmp_path, SINK) as (_, base):
        cfg = LoadConfig(
            url=base,
            pattern="steady",
            profile="light",
            duration_s=0.5,
            base_rate=400,
            batch=batch,
            max_dispatch_lag_ms=1e6,
        )
        result = await run_load(cfg)
    assert (result.outcomes, result.delivered, result.identity_errors) == (
        {"202": result.events},
        result.events,
        [],
    )
    assert (result.acceptance.count, result.delivery_latency["count"]) == (
        result.events,
        float(result.events),
    )


def test_histogram_buckets_bound_their_values() -> None:
    """Each value lands in a bucket whose upper bound is above it and within 25% of it."""
    hist = LatencyHistogram()
    for us in (0, 1, 3, 4, 5, 7, 8, 100, 1234, 99_999, 10**7):
        index = bucket_index(us)
        hist.record_ns(us * 1000)
        assert (us < bucket_upper_us(index), bucket_upper_us(index) <= max(us * 1.25, us + 1)) == (
            True,
            True,
        )
    assert hist.count == 11


def test_histogram_delta_counts_only_the_new_deliveries() -> None:
    """The delta of two status snapshots counts only what was recorded between them."""
    before = {"delivery_latency": {"fs": {"buckets_us": [[1024, 5]]}}}
    after = {"delivery_latency": {"fs": {"buckets_us": [[1024, 5], [2048, 10]]}}}
    delta = histogram_delta(before, after)
    assert (delta["count"], delta["p50_ms"], delta["p99_ms"]) == (10.0, 2.048, 2.048)


BENCH_TOKEN = "bench-token-for-tests"
AUTHED = (
    SINK
    + f"""
[auth]
enabled = true
[[auth.tokens]]
name = "bench"
sha256 = "{hashlib.sha256(BENCH_TOKEN.encode()).hexdigest()}"
publish = [">"]
monitor = true
"""
)


async def test_driver_drives_a_daemon_with_auth(tmp_path: Path) -> None:
    """With the token every event is accepted and delivered, and the result (written to JSON)
    does not hold the token; without it the driver stops naming --token."""
    cfg = LoadConfig(
        url="", pattern="steady", duration_s=0.3, base_rate=200, max_dispatch_lag_ms=1e6
    )
    async with running(tmp_path, AUTHED) as (_, base):
        cfg = msgspec.structs.replace(cfg, url=base)
        result = await run_load(cfg, BENCH_TOKEN)
        with pytest.raises(LoadError) as refused:
            await run_load(cfg)
    encoded = msgspec.json.encode(result).decode()
    assert (result.outcomes, result.delivered, BENCH_TOKEN in encoded) == (
        {"202": result.events},
        result.events,
        False,
    )
    assert "--token" in str(refused.value)
