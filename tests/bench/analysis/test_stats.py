"""Ratio CIs over runs and the verdicts drawn from them."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from bench.analysis import stats
from bench.analysis.stats import RatioCI, Verdict, bootstrap_ratio_ci, verdict

# Runs whose spread is under 0.1%: a ratio of them must come out tight.
STEADY = [1000.0, 1000.5, 999.5, 1000.2, 999.8, 1000.1]
RESAMPLES = 1000


def test_double_throughput_gives_ratio_two_with_tight_ci() -> None:
    """b = 2a gives a ratio of exactly 2 and a CI within 0.2% of it."""
    ci = bootstrap_ratio_ci(STEADY, [2 * v for v in STEADY], resamples=RESAMPLES)
    assert ci.ratio == pytest.approx(2.0, rel=1e-12)
    assert (ci.low, ci.high) == pytest.approx((2.0, 2.0), rel=2e-3)
    assert ci.low <= ci.ratio <= ci.high
    assert (ci.confidence, ci.n_a, ci.n_b) == (0.95, 6, 6)


def test_double_is_better_when_higher_is_better_and_worse_otherwise() -> None:
    """The same doubled ratio is better for throughput and worse for latency."""
    ci = bootstrap_ratio_ci(STEADY, [2 * v for v in STEADY], resamples=RESAMPLES)
    assert verdict(ci, noise=0.05, higher_is_better=True).label == "better"
    assert verdict(ci, noise=0.05, higher_is_better=False).label == "worse"


def test_halved_latency_is_better_when_lower_is_better() -> None:
    """b = a/2 on a lower-is-better metric is better, with no runs needed."""
    ci = bootstrap_ratio_ci(STEADY, [v / 2 for v in STEADY], resamples=RESAMPLES)
    expected = Verdict(
        "better",
        None,
        "daemon is 0.50\u00d7 coordinator (95% CI 0.50\u20130.50):"
        " better beyond the ±5% noise band (lower is better)",
    )
    actual = verdict(ci, noise=0.05, higher_is_better=False, a_name="coordinator", b_name="daemon")
    assert actual == expected


def test_identical_samples_are_equivalent() -> None:
    """a == b (an A/A comparison) gives ratio 1 and comes out equivalent."""
    rng = np.random.default_rng(7)
    runs = list(rng.normal(1000.0, 10.0, size=8))
    ci = bootstrap_ratio_ci(runs, runs, resamples=RESAMPLES)
    assert ci.ratio == 1.0
    assert verdict(ci, noise=0.05, higher_is_better=True).label == "equivalent"


def test_wide_noisy_samples_are_inconclusive_with_more_runs_needed() -> None:
    """Runs spread ±30% around a 10% gain are inconclusive and ask for more runs."""
    a = [100.0, 130.0, 70.0, 95.0, 110.0]
    b = [140.0, 80.0, 120.0, 105.0, 125.0]
    ci = bootstrap_ratio_ci(a, b, resamples=RESAMPLES)
    result = verdict(ci, noise=0.05, higher_is_better=True)
    assert result.label == "inconclusive"
    assert result.runs_needed is not None
    assert result.runs_needed > 5
    assert f"about {result.runs_needed} runs per architecture" in result.explanation


def test_bca_interval_agrees_with_scipy_bootstrap() -> None:
    """The vectorised BCa interval matches scipy.stats.bootstrap's BCa within 1%."""
    rng = np.random.default_rng(3)
    a = rng.lognormal(0.0, 0.3, size=10) * 100
    b = rng.lognormal(0.0, 0.3, size=10) * 130
    ours = bootstrap_ratio_ci(list(a), list(b), resamples=20000, seed=1)
    reference = sps.bootstrap(
        (a, b),
        lambda x, y, axis: np.mean(y, axis=axis) / np.mean(x, axis=axis),
        method="BCa",
        n_resamples=20000,
        random_state=1,
        vectorized=True,
    ).confidence_interval
    assert (ours.low, ours.high) == pytest.approx((reference.low, reference.high), rel=0.01)


def test_median_ratio_and_seed_determinism() -> None:
    """The median statistic gives the ratio of medians; the same seed gives the same CI."""
    a = [10.0, 11.0, 12.0, 50.0]
    b = [20.0, 23.0, 25.0, 26.0]
    first = bootstrap_ratio_ci(a, b, statistic="median", resamples=500, seed=5)
    again = bootstrap_ratio_ci(a, b, statistic="median", resamples=500, seed=5)
    assert first.ratio == 24.0 / 11.5
    assert first == again


def test_single_run_per_side_collapses_and_is_inconclusive() -> None:
    """One run per side gives a zero-width CI and an inconclusive verdict with no estimate."""
    ci = bootstrap_ratio_ci([100.0], [200.0], resamples=RESAMPLES)
    assert RatioCI(2.0, 2.0, 2.0, 0.95, 1, 1) == ci
    result = verdict(ci, noise=0.05, higher_is_better=True)
    assert (result.label, result.runs_needed) == ("inconclusive", None)
    assert "A and B each have a single run" in result.explanation


@pytest.mark.parametrize(
    ("a", "b", "message"),
    [
        ([], [1.0], "a is empty"),
        ([1.0], [], "b is empty"),
        ([1.0, math.nan], [1.0], "non-finite"),
        ([1.0], [math.inf], "non-finite"),
        ([0.0, 0.0], [1.0], "positive denominator"),
        ([-1.0, -2.0], [1.0], "positive denominator"),
        ([0.0, 0.0, 3.0], [1.0], "a resample of a"),
        ([[1.0, 2.0]], [1.0], "flat sequence"),
    ],
)
def test_bad_samples_raise_clear_errors(a: list[float], b: list[float], message: str) -> None:
    """Empty, non-finite, non-positive-denominator and nested samples raise ValueError."""
    with pytest.raises(ValueError, match=message):
        bootstrap_ratio_ci(a, b, resamples=RESAMPLES)


def test_bad_options_raise_clear_errors() -> None:
    """A confidence outside (0, 1), an unknown statistic or too few resamples raise."""
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_ratio_ci([1.0], [1.0], confidence=1.0)
    with pytest.raises(ValueError, match="statistic"):
        bootstrap_ratio_ci([1.0], [1.0], statistic="mode")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="resamples"):
        bootstrap_ratio_ci([1.0], [1.0], resamples=10)


def test_runs_needed_follows_inverse_square_root() -> None:
    """A 10% gain with CI half-width 10% needs (0.10/0.05)^2 = 4 times the runs: 16 from 4."""
    ci = RatioCI(1.10, 1.00, 1.20, 0.95, 4, 4)
    expected = Verdict(
        "inconclusive",
        16,
        "B is 1.10\u00d7 A (95% CI 1.00\u20131.20): the CI crosses the edge of the ±5% noise band;"
        " about 16 runs per architecture would settle it",
    )
    assert verdict(ci, noise=0.05, higher_is_better=True) == expected


def test_runs_needed_for_equivalence_uses_the_nearer_edge() -> None:
    """A centred CI of ±7% inside a ±5% band needs 4 * 1.4^2 = 7.84, so 8 runs."""
    ci = RatioCI(1.0, 0.93, 1.07, 0.95, 4, 4)
    assert verdict(ci, noise=0.05, higher_is_better=True).runs_needed == 8


def test_point_on_the_band_edge_cannot_be_estimated() -> None:
    """A point estimate exactly on 1 + noise gives inconclusive with runs_needed None."""
    ci = RatioCI(1.25, 1.0, 1.5, 0.95, 5, 5)
    result = verdict(ci, noise=0.25, higher_is_better=True)
    assert (result.label, result.runs_needed) == ("inconclusive", None)
    assert "sits on the edge" in result.explanation


def test_bad_noise_or_interval_raises() -> None:
    """A noise outside [0, 1) or an inverted interval raise ValueError."""
    ci = RatioCI(1.0, 0.9, 1.1, 0.95, 5, 5)
    with pytest.raises(ValueError, match="noise"):
        verdict(ci, noise=-0.01, higher_is_better=True)
    with pytest.raises(ValueError, match="valid interval"):
        verdict(RatioCI(1.0, 1.1, 0.9, 0.95, 5, 5), noise=0.05, higher_is_better=True)


def test_welch_log_interval_on_a_known_sample() -> None:
    """mean 20 / mean 10 with spreads 2 and 1 over 3 runs: df 4, half-width t(4) * 0.0816."""
    actual = stats.welch_log_ratio_ci([9.0, 10.0, 11.0], [18.0, 20.0, 22.0])
    half = 2.7764451 * math.sqrt(2.0 / 300.0)
    expected = (2.0, 2.0 * math.exp(-half), 2.0 * math.exp(half))
    assert (actual.ratio, actual.low, actual.high) == pytest.approx(expected, rel=1e-6)


def test_welch_log_interval_without_spread_is_a_point() -> None:
    """Identical runs on both sides leave nothing to be uncertain about."""
    actual = stats.welch_log_ratio_ci([4.0, 4.0], [6.0, 6.0])
    assert (actual.ratio, actual.low, actual.high) == (1.5, 1.5, 1.5)


def test_welch_log_interval_refuses_what_it_cannot_do() -> None:
    """One run on a side, or a non-positive mean, is an error, not an interval."""
    with pytest.raises(ValueError, match="at least 2"):
        stats.welch_log_ratio_ci([1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="positive"):
        stats.welch_log_ratio_ci([0.0, 0.0], [1.0, 2.0])


def test_ratio_ci_is_never_narrower_than_either_interval() -> None:
    """The comparison's interval contains both the BCa and the Welch-log interval."""
    a, b = [10.0, 12.0, 9.0, 11.0, 13.0], [7.0, 9.5, 6.0, 8.0, 11.0]
    union = stats.ratio_ci(a, b, seed=3)
    boot = stats.bootstrap_ratio_ci(a, b, seed=3)
    t = stats.welch_log_ratio_ci(a, b)
    actual = (union.low, union.high)
    assert actual == (min(boot.low, t.low), max(boot.high, t.high))
    assert union.low < boot.low  # at 5 runs a side the t interval is the wider one


def test_five_runs_of_a_spread_out_tail_no_longer_exclude_parity() -> None:
    """p99.9 (ms) of the 02:44 spike comparison: BCa alone excluded a ratio of 1, the union not.

    With 10 runs the same comparison was inconclusive: the union tells the truth at 5.
    """
    coordinator = [33.1, 48.28, 37.1, 22.29, 23.9]
    daemon = [32.87, 17.27, 18.76, 16.38, 20.96]
    boot = stats.bootstrap_ratio_ci(coordinator, daemon, seed=1)
    union = stats.ratio_ci(coordinator, daemon, seed=1)
    assert (boot.high < 1.0, union.high > 1.0) == (True, True)
    assert verdict(union, noise=0.05, higher_is_better=False).label == "inconclusive"
