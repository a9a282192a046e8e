"""Distribution-free quantile bounds and slope CIs."""

from __future__ import annotations

from math import comb

import numpy as np
import pytest

from bench.analysis.stats import (
    linear_slope_ci,
    min_samples_for_upper_bound,
    percentile_upper_bound,
)


def exact_order_statistic(n: int, q_num: int, q_den: int, conf_num: int, conf_den: int) -> int:
    """Smallest k with P(Binomial(n, q) <= k - 1) >= confidence, in exact integers."""
    total = 0
    for k in range(1, n + 1):
        total += comb(n, k - 1) * q_num ** (k - 1) * (q_den - q_num) ** (n - k + 1)
        if total * conf_den >= conf_num * q_den**n:
            return k
    raise AssertionError("no order statistic reaches the confidence")


def test_upper_bound_is_the_exact_binomial_order_statistic() -> None:
    """On 1..1000 (shuffled) the bound of p99 at 95% is the exact binomial order statistic."""
    rng = np.random.default_rng(0)
    samples = rng.permutation(np.arange(1, 1001, dtype=np.int64))
    expected = exact_order_statistic(1000, 99, 100, 95, 100)
    assert float(expected) == percentile_upper_bound(samples, 0.99, confidence=0.95)
    assert 990 < expected <= 1000


def test_upper_bound_of_median_matches_exact_answer() -> None:
    """On 1..101 the 90% upper bound of the median is the exact binomial order statistic."""
    samples = np.arange(1, 102, dtype=np.float64)
    expected = exact_order_statistic(101, 1, 2, 9, 10)
    assert float(expected) == percentile_upper_bound(samples, 0.5, confidence=0.9)


def test_upper_bound_covers_the_true_quantile_at_the_stated_rate() -> None:
    """Over 400 seeded uniform draws the bound is >= the true p99 in 93-99.5% of them."""
    rng = np.random.default_rng(11)
    draws = rng.uniform(size=(400, 1000))
    covered = sum(percentile_upper_bound(row, 0.99) >= 0.99 for row in draws)
    assert 0.93 <= covered / 400 <= 0.995


def test_too_few_samples_for_the_bound_raise() -> None:
    """298 samples cannot bound p99 at 95% (299 are needed): ValueError says so."""
    assert min_samples_for_upper_bound(0.99, 0.95) == 299
    assert min_samples_for_upper_bound(0.5, 0.75) == 2
    with pytest.raises(ValueError, match="at least 299 are needed"):
        percentile_upper_bound(np.ones(298), 0.99)
    assert percentile_upper_bound(np.ones(299), 0.99) == 1.0


def test_bad_quantile_or_samples_raise() -> None:
    """q outside (0, 1), empty or non-finite samples raise ValueError."""
    with pytest.raises(ValueError, match="q must"):
        percentile_upper_bound(np.ones(10), 1.0)
    with pytest.raises(ValueError, match="empty"):
        percentile_upper_bound(np.array([]), 0.5)
    with pytest.raises(ValueError, match="non-finite"):
        percentile_upper_bound(np.array([1.0, np.nan] * 10), 0.5)


def test_slope_of_an_exact_line_has_zero_width() -> None:
    """y = 2x + 1 exactly gives slope 2 with a zero-width CI."""
    assert linear_slope_ci([1, 2, 3, 4, 5], [3, 5, 7, 9, 11]) == pytest.approx((2.0, 2.0, 2.0))


def test_slope_ci_matches_the_textbook_formula() -> None:
    """The CI is slope +/- t(0.975, 8) * SE, with t(0.975, 8) = 2.306004 from the tables."""
    x = np.arange(10, dtype=np.float64)
    y = 3.0 * x + np.array([0.5, -0.3, 0.2, 0.1, -0.6, 0.4, -0.2, 0.3, -0.1, -0.3])
    sxx = float(np.sum((x - x.mean()) ** 2))
    slope = float(np.sum((x - x.mean()) * (y - y.mean()))) / sxx
    residuals = y - y.mean() - slope * (x - x.mean())
    se = float(np.sqrt(np.sum(residuals**2) / 8 / sxx))
    expected = (slope, slope - 2.306004 * se, slope + 2.306004 * se)
    assert linear_slope_ci(list(x), list(y)) == pytest.approx(expected, rel=1e-6)


def test_bad_slope_input_raises() -> None:
    """Fewer than 3 points, constant x or unequal lengths raise ValueError."""
    with pytest.raises(ValueError, match="at least 3"):
        linear_slope_ci([1.0, 2.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="constant"):
        linear_slope_ci([1.0, 1.0, 1.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="differ in length"):
        linear_slope_ci([1.0, 2.0, 3.0], [1.0, 2.0])
