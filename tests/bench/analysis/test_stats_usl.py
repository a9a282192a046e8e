"""The Universal Scalability Law fit recovers known parameters."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench.analysis.usl import fit_usl, n_star, usl

LEVELS = np.array([1, 2, 4, 8, 16, 24, 32, 48, 64], dtype=np.float64)


def test_fit_recovers_exact_parameters() -> None:
    """Noise-free data from lambda=1000, sigma=0.05, kappa=0.0005 give those back, and N* = 43.6."""
    fit = fit_usl(LEVELS, usl(LEVELS, 1000.0, 0.05, 0.0005), resamples=20)
    params = (fit.lambda_, fit.sigma, fit.kappa)
    assert params == pytest.approx((1000.0, 0.05, 0.0005), rel=1e-6)
    assert fit.n_star == pytest.approx(math.sqrt(0.95 / 0.0005), rel=1e-6)
    assert fit.measured_range == (1.0, 64.0)
    assert not fit.n_star_extrapolated


def test_noisy_fit_cis_cover_the_true_parameters() -> None:
    """With 2% multiplicative noise the bootstrap CIs contain the true sigma, kappa and N*."""
    rng = np.random.default_rng(4)
    throughput = usl(LEVELS, 1000.0, 0.05, 0.0005) * rng.lognormal(0.0, 0.02, LEVELS.size)
    fit = fit_usl(LEVELS, throughput, resamples=60, seed=2)
    assert fit.sigma_ci[0] <= 0.05 <= fit.sigma_ci[1]
    assert fit.kappa_ci[0] <= 0.0005 <= fit.kappa_ci[1]
    assert fit.n_star_ci[0] <= n_star(0.05, 0.0005) <= fit.n_star_ci[1]
    assert (fit.resamples, fit.failed_resamples) == (60, 0)


def test_no_coherency_cost_means_no_peak() -> None:
    """Data with kappa = 0 fit kappa = 0, N* = inf (a projection), peak lambda/sigma."""
    levels = LEVELS[:5]
    fit = fit_usl(levels, usl(levels, 500.0, 0.1, 0.0), resamples=20)
    assert (0.0, math.inf) == (fit.kappa, fit.n_star)
    assert fit.n_star_extrapolated
    assert fit.peak_throughput == pytest.approx(5000.0, rel=1e-6)


def test_predict_follows_the_fitted_curve() -> None:
    """predict() gives the model throughput, which equals noise-free input."""
    throughput = usl(LEVELS, 800.0, 0.02, 0.001)
    fit = fit_usl(LEVELS, throughput, resamples=20)
    assert list(fit.predict(LEVELS)) == pytest.approx(list(throughput), rel=1e-6)


@pytest.mark.parametrize(
    ("n", "x", "message"),
    [
        ([1, 2, 2, 1], [1.0, 2.0, 2.0, 1.0], "at least 3 distinct n"),
        ([1, 2, 3], [1.0, 0.0, 2.0], "throughput > 0"),
        ([0, 2, 3], [1.0, 1.0, 2.0], "n must be >= 1"),
        ([1, 2, 3], [1.0, math.nan, 2.0], "finite"),
        ([1, 2, 3], [1.0, 2.0], "equally long"),
    ],
)
def test_bad_input_raises(n: list[float], x: list[float], message: str) -> None:
    """Too few levels, non-positive, non-finite or mismatched input raise ValueError."""
    with pytest.raises(ValueError, match=message):
        fit_usl(n, x, resamples=20)
