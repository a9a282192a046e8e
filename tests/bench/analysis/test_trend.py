"""The RSS trend of a run: slope in MiB/h with its interval, and the leak verdict."""

from __future__ import annotations

import msgspec
import numpy as np
import pytest

from bench.analysis.trend import rss_trend
from bench.schema import Timeline

MIB = 2**20


def line(rss_mib: np.ndarray, window_s: float = 0.25) -> Timeline:
    n = rss_mib.size
    zeros = (0,) * n
    return Timeline(window_s, zeros, zeros, (0.0,) * n, zeros,
                    tuple(int(x * MIB) for x in rss_mib))  # fmt: skip


def seconds(n: int, window_s: float = 0.25) -> np.ndarray:
    return (np.arange(n) + 0.5) * window_s


NOISE = np.random.default_rng(7).normal(0.0, 0.05, 2400)


def test_a_steady_climb_is_a_leak_with_its_rate() -> None:
    """RSS rising 30 MiB/h for 10 minutes (with noise): a leak, the slope's CI covering 30."""
    t = seconds(2400)
    trend = rss_trend(line(50 + 30 * t / 3600 + NOISE), threshold_mib_per_h=4.0)
    assert (trend.verdict, trend.low <= 30.0 <= trend.high) == ("leak", True)


def test_flat_memory_is_no_leak() -> None:
    """Flat RSS with noise for 10 minutes: the whole CI stays under 4 MiB/h."""
    trend = rss_trend(line(50 + NOISE), threshold_mib_per_h=4.0)
    assert (trend.verdict, trend.high <= 4.0) == ("no leak", True)


def test_a_one_off_step_is_not_called_a_leak() -> None:
    """A single 2 MiB step halfway through a short run is growth, not a steady climb."""
    t = seconds(400)
    trend = rss_trend(line(50 + 2.0 * (t > 50) + NOISE[:400]), threshold_mib_per_h=4.0)
    assert trend.verdict == "no leak shown"


def test_a_short_run_is_too_short_for_a_trend() -> None:
    """Ten seconds (8 after the warm-up) cannot give a trend."""
    trend = rss_trend(line(np.full(40, 50.0)), threshold_mib_per_h=4.0)
    assert (trend.verdict, "too short" in trend.explanation) == ("too short", True)


@pytest.mark.parametrize("threshold", [1.0, 100.0])
def test_the_verdict_follows_the_threshold(threshold: float) -> None:
    """A 30 MiB/h climb is a leak at 1 MiB/h and no leak at 100 MiB/h."""
    t = seconds(2400)
    trend = rss_trend(line(50 + 30 * t / 3600 + NOISE), threshold_mib_per_h=threshold)
    assert ("leak" if threshold < 30 else "no leak") == trend.verdict


def test_the_harness_own_recordings_are_left_out() -> None:
    """RSS climbing 30 MiB/h exactly as the harness's recorded lists grow is no leak: the
    trend is the router's and the process's, not the bench's bookkeeping."""
    t = seconds(2400)
    rss = 50 + 30 * t / 3600 + NOISE
    harness = 30 * t / 3600
    line_ = line(rss)
    with_harness = msgspec.structs.replace(
        line_, harness_bytes=tuple(int(h * MIB) for h in harness)
    )
    assert (
        rss_trend(line_, 4.0).verdict,
        rss_trend(with_harness, 4.0).verdict,
    ) == ("leak", "no leak")
