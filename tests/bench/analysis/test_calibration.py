"""The calibration check on fixed data: resampled A/A comparisons of stored runs.

The pools (tests/bench/analysis/data/calibration_pools.json) are the per-run values of
two 30-run spike comparisons of coordinator and daemon on the shared 2-core VM, in the
order they ran, busy minutes included. From them: A/A comparisons (same architecture,
ratio 1) drawn at random and as ABBA-labelled windows of consecutive runs.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import msgspec
import pytest

from bench.analysis import calibration
from bench.analysis.calibration import Pool, PoolFile
from bench.analysis.sequential import plan
from bench.analysis.stats import RatioCI, ratio_ci

DATA = Path(__file__).parent / "data" / "calibration_pools.json"
#: The target: at most 5% false better/worse verdicts on A/A comparisons.
TARGET = 0.05
DRAWS = 50


@cache
def pools() -> tuple[Pool, ...]:
    return msgspec.json.decode(DATA.read_bytes(), type=PoolFile).pools


METRICS = [m for m in pools()[0].values if m not in ("reject_rate", "failure_rate")]


@pytest.mark.parametrize("metric", METRICS)
def test_every_metric_stays_within_5_percent_false_verdicts_on_a_a(metric: str) -> None:
    """With the interval the comparison uses, A/A comparisons of 5 runs a side say better or
    worse at most 5% of the time, drawn at random and as consecutive ABBA windows."""
    for scheme in ("shuffled", "interleaved"):
        rate = calibration.check(pools(), metric, 5, scheme=scheme, draws=DRAWS, seed=11)
        assert rate.comparisons >= 40, rate
        assert True is (rate.false_rate <= TARGET), rate


def _union(metric: str, a: list[float], b: list[float], conf: float, seed: int) -> RatioCI:
    return ratio_ci(a, b, confidence=conf, seed=seed)


def test_the_plain_union_interval_fails_the_median_which_is_why_latency_is_widened() -> None:
    """The check is not vacuous: without widening, response_p50's A/A false-verdict rate on
    the same draws is above the target (a stalled minute multiplies a run's median)."""
    rate = calibration.check(
        pools(),
        "response_p50",
        5,
        draws=DRAWS,
        seed=11,
        interval=_union,  # type: ignore[arg-type]
    )
    assert True is (rate.false_rate > TARGET), rate


def test_an_adaptive_a_a_comparison_stays_clean_under_the_pocock_correction() -> None:
    """Looks at 5, 7 and 9 runs at the Pocock level, stopping once every headline metric is
    settled: no headline metric gives a false verdict at any look in more than 5% of draws."""
    looks = plan(5, 9, blocks_that_fit=2)
    assert looks.runs == (5, 7, 9)
    rates = calibration.check_sequential(pools(), looks, draws=25, seed=3)
    assert [r.comparisons for r in rates] == [100, 100, 100]
    assert [r.metric for r in rates if r.false_rate > TARGET] == [], rates
