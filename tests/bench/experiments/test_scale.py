"""Scale-out analysis as pure logic: speed-ups, the two-point sigma, the USL fit, the
labelled projection; and the driver's merge of several daemons' statuses."""

from __future__ import annotations

from typing import Any

import pytest

from bench.experiments.scale import ScalePoint, analyse, point_of
from bench.http.driver import (
    LoadConfig,
    LoadResult,
    Percentiles,
    histogram_delta,
    merge_statuses,
)


def point(n: int, throughput: float, **fields: Any) -> ScalePoint:
    values: dict[str, Any] = {
        "processes": n, "offered_eps": 1e9, "accepted": 100, "delivered": 100,
        "throughput_dps": throughput, "accepted_per_s": throughput, "acceptance_p50_ms": 1.0,
        "acceptance_p99_ms": 2.0, "delivery_p50_ms": 1.0, "delivery_p99_ms": 2.0,
        "daemon_cpu_s": 1.0, "nats_cpu_s": 1.0, "nats_cpu_us_per_event": 50.0,
        "driver_cpu_s": 1.0, "cores_busy": 1.0,
        "load_limited": False, "valid": True, "reasons": (),
    }  # fmt: skip
    values.update(fields)
    return ScalePoint(**values)


def test_two_counts_give_sigma_and_a_projection_from_it() -> None:
    """1,000/s at N=1 and 1,600/s at N=2: speed-up 1.6, sigma 0.25 (kappa 0), and at 4
    machines 4,000 / (1 + 0.25 * 3) = 2,285.7/s fitted; CPU-bound (1 s of daemon CPU per
    100 deliveries: 10,000 us each) 4 x 100 = 400/s, at 50 us/event nats-server 0.02 cores."""
    a = analyse([point(1, 1000.0), point(2, 1600.0)], resamples=20)
    four = next(p for p in a.projections if p.machines == 4)
    actual = (
        a.speedups,
        a.sigma_two_point,
        a.fit,
        round(four.throughput_dps, 1),
        round(four.cpu_bound_dps or 0.0, 1),
        round(four.nats_cores or 0.0, 4),
        four.extrapolated,
    )
    expected = ({1: 1.0, 2: 1.6}, pytest.approx(0.25), None, 2285.7, 400.0, 0.02, True)
    assert actual == expected


def test_three_counts_give_a_usl_fit() -> None:
    """Points on an exact USL curve (lambda 1000, sigma 0.1, kappa 0.01) are fitted back."""

    def x(n: int) -> float:
        return 1000.0 * n / (1 + 0.1 * (n - 1) + 0.01 * n * (n - 1))

    a = analyse([point(n, x(n)) for n in (1, 2, 4, 8)], resamples=20)
    assert a.fit is not None
    actual = (round(a.fit.lambda_), round(a.fit.sigma, 3), round(a.fit.kappa, 3))
    assert actual == (1000, 0.1, 0.01)


def test_load_limited_and_invalid_points_stay_out_of_the_fit() -> None:
    """A point capped by the offered load, or invalid, is named in a note and not fitted."""
    a = analyse(
        [point(1, 1000.0), point(2, 990.0, load_limited=True), point(4, 10.0, valid=False)],
        resamples=20,
    )
    actual = (a.fit, a.sigma_two_point, a.projections, len(a.notes))
    assert actual == (None, None, (), 3)


def test_statuses_of_several_daemons_are_summed() -> None:
    """Router counters, dead letters and CPU add up; histograms of both count in the delta."""
    one = {
        "router": {"deliveries": 5, "delivered": 3, "pending": 2, "dead_lettered": {"x": 1}},
        "delivery_latency": {"fs": {"buckets_us": [[1000, 3]]}},
        "identity_errors": [],
        "process": {"cpu_s": 1.5},
    }
    two = {
        "router": {"deliveries": 1, "delivered": 3, "pending": -2, "dead_lettered": {"x": 2}},
        "delivery_latency": {"fs": {"buckets_us": [[2000, 3]]}},
        "identity_errors": [],
        "process": {"cpu_s": 0.5},
    }
    merged = merge_statuses([one, two])
    router = merged["router"]
    actual = (
        (router["deliveries"], router["delivered"], router["pending"], router["dead_lettered"]),
        merged["process"]["cpu_s"],
        histogram_delta({}, merged)["count"],
    )
    assert actual == ((6, 6, 0, {"x": 3}), 2.0, 6.0)


def _load_result() -> LoadResult:
    none = Percentiles(0, 0.0, 0.0, 0.0, 0.0)
    return LoadResult(
        config=LoadConfig(url="http://127.0.0.1:9"), schedule_hash="", events=100, requests=1,
        sent_window_s=1.0, accepted=100, accepted_per_s=100.0, outcomes={"202": 100},
        acceptance=none, dispatch_lag=none, delivered=100, deliveries=100,
        delivered_per_s=100.0, daemon_cpu_s=1.0, daemon_cpu_us_per_event=10.0, settle_s=0.0,
        pending_after=0, dead_lettered={}, delivery_latency={}, identity_errors=[], phases=[],
        valid=True, invalid_reasons=[],
    )  # fmt: skip


@pytest.mark.parametrize(
    ("codes", "expected"),
    [
        ([0, 0], (True, ())),
        ([0, 3], (False, ("a daemon exited non-zero (exit codes [0, 3])",))),
    ],
)
def test_a_daemon_exiting_non_zero_makes_the_point_invalid(
    codes: list[int], expected: tuple[bool, tuple[str, ...]]
) -> None:
    """A point is valid only if every daemon drained and exited 0: a daemon that reports a
    loss exits 3, and the point names the exit codes."""
    finals: list[dict[str, object]] = [{"drain_completed": True, "exit_code": c} for c in codes]
    made = point_of(2, _load_result(), finals, 1.0, 1e9)
    assert expected == (made.valid, made.reasons)
