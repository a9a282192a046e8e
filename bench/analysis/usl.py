"""The Universal Scalability Law fitted to a throughput curve, with bootstrap CIs.

X(N) = lambda N / (1 + sigma (N - 1) + kappa N (N - 1)): lambda is the throughput of one
unit of concurrency, sigma the contention (serialised fraction), kappa the coherency cost
(crosstalk between units). Throughput peaks at N* = sqrt((1 - sigma) / kappa); with
kappa = 0 it never peaks (N* = inf).

The fit minimises relative residuals, since throughput noise grows with throughput, and the
CIs come from a residual bootstrap: the measured N stay fixed (the design has few levels, so
resampling points could drop whole levels) and each resample multiplies the fitted curve by
residual ratios drawn with replacement.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import msgspec
import numpy as np
import numpy.typing as npt
from scipy.optimize import OptimizeWarning, curve_fit

from bench.quantiles import percentiles

FloatArray = npt.NDArray[np.float64]
Interval = tuple[float, float]
# One part in a million of the throughput at the largest N: far below any measured noise.
_NEGLIGIBLE = 1e-6


class UslFit(msgspec.Struct, frozen=True):
    """A USL fit, its percentile-bootstrap CIs and the N range it was measured over.

    ``n_star`` outside ``measured_range`` is a projection of the model, not a measurement.
    """

    lambda_: float
    sigma: float
    kappa: float
    n_star: float
    lambda_ci: Interval
    sigma_ci: Interval
    kappa_ci: Interval
    n_star_ci: Interval
    measured_range: Interval
    confidence: float
    resamples: int
    failed_resamples: int

    @property
    def peak_throughput(self) -> float:
        """The model's throughput at N*; with kappa = 0, its asymptote lambda / sigma."""
        if math.isinf(self.n_star):
            return self.lambda_ / self.sigma if self.sigma > 0.0 else math.inf
        return float(usl(np.array([self.n_star]), self.lambda_, self.sigma, self.kappa)[0])

    @property
    def n_star_extrapolated(self) -> bool:
        """True when N* lies outside the measured N: then it is a projection."""
        low, high = self.measured_range
        return not (low <= self.n_star <= high)

    def predict(self, n: Sequence[float] | FloatArray) -> FloatArray:
        """The model throughput at each concurrency in ``n``."""
        return usl(np.asarray(n, dtype=np.float64), self.lambda_, self.sigma, self.kappa)


def usl(n: FloatArray, lambda_: float, sigma: float, kappa: float) -> FloatArray:
    """X(N) = lambda N / (1 + sigma (N - 1) + kappa N (N - 1))."""
    return np.asarray(lambda_ * n / (1.0 + sigma * (n - 1.0) + kappa * n * (n - 1.0)))


def _usl_jacobian(n: FloatArray, lambda_: float, sigma: float, kappa: float) -> FloatArray:
    """dX/d(lambda, sigma, kappa), analytic: it spares the optimiser finite differences."""
    denom = 1.0 + sigma * (n - 1.0) + kappa * n * (n - 1.0)
    slope = -lambda_ * n / denom**2
    return np.column_stack([n / denom, slope * (n - 1.0), slope * n * (n - 1.0)])


def n_star(sigma: float, kappa: float) -> float:
    """The concurrency of peak throughput, sqrt((1 - sigma) / kappa); inf when kappa = 0."""
    if kappa <= 0.0:
        return math.inf
    return math.sqrt(max(1.0 - sigma, 0.0) / kappa)


def _initial_guess(n: FloatArray, x: FloatArray) -> tuple[float, float, float]:
    """lambda from the best per-unit throughput, sigma and kappa from the linearised USL.

    With C = X / lambda, N/C - 1 = sigma (N - 1) + kappa N (N - 1): least squares, no intercept.
    """
    lam = float(np.max(x / n))
    deviation = n / (x / lam) - 1.0
    design = np.column_stack([n - 1.0, n * (n - 1.0)])
    (sigma, kappa), *_ = np.linalg.lstsq(design, deviation, rcond=None)
    return lam, float(np.clip(sigma, 0.0, 1.0)), float(max(kappa, 0.0))


def _fit(
    n: FloatArray, x: FloatArray, start: tuple[float, float, float] | None = None
) -> tuple[float, float, float]:
    lam0, sigma0, kappa0 = start if start is not None else _initial_guess(n, x)
    with warnings.catch_warnings():
        # A parameter pinned at a bound has no covariance; the bootstrap gives the CIs.
        warnings.simplefilter("ignore", OptimizeWarning)
        params, _ = curve_fit(
            usl,
            n,
            x,
            p0=[lam0, sigma0, kappa0],
            sigma=x,
            jac=_usl_jacobian,
            bounds=([0.0, 0.0, 0.0], [np.inf, 1.0, np.inf]),
            x_scale="jac",
            max_nfev=2000,
        )
    lam, sigma, kappa = (float(p) for p in params)
    # The optimiser starts strictly inside the bounds, so a parameter whose true value is 0
    # ends a hair above it; snap it when its whole effect over the measured N is negligible.
    top = float(n.max())
    if sigma * (top - 1.0) < _NEGLIGIBLE:
        sigma = 0.0
    if kappa * top * (top - 1.0) < _NEGLIGIBLE:
        kappa = 0.0
    return lam, sigma, kappa


def _interval(values: FloatArray, confidence: float) -> Interval:
    """Percentile interval by order statistics, so infinite N* values need no interpolation."""
    tail = (1.0 - confidence) / 2.0
    low, high = percentiles(values, (100 * tail, 100 * (1.0 - tail)))
    return float(low), float(high)


def fit_usl(
    n: Sequence[float],
    throughput: Sequence[float],
    *,
    resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> UslFit:
    """Fit the USL to (concurrency, throughput) points, with residual-bootstrap CIs.

    Raises ValueError on mismatched, non-finite or non-positive input, on fewer than 3
    distinct concurrency levels (three parameters), and when the fit itself fails.
    """
    ns = np.asarray(n, dtype=np.float64)
    xs = np.asarray(throughput, dtype=np.float64)
    if ns.ndim != 1 or xs.ndim != 1 or ns.size != xs.size:
        raise ValueError(f"n and throughput must be flat and equally long: {ns.shape}, {xs.shape}")
    if not (np.all(np.isfinite(ns)) and np.all(np.isfinite(xs))):
        raise ValueError("n and throughput must be finite (no nan or inf)")
    if np.any(ns < 1.0) or np.any(xs <= 0.0):
        raise ValueError("every n must be >= 1 and every throughput > 0")
    if np.unique(ns).size < 3:
        raise ValueError(
            f"the USL has three parameters: it needs at least 3 distinct n, got {np.unique(ns)}"
        )
    if not (0.0 < confidence < 1.0):
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}")
    if resamples < 10:
        raise ValueError(f"resamples must be at least 10, got {resamples}")
    try:
        lam, sigma, kappa = _fit(ns, xs)
    except (RuntimeError, ValueError) as exc:
        raise ValueError(f"the USL fit did not converge: {exc}") from exc

    fitted = usl(ns, lam, sigma, kappa)
    ratios = xs / fitted
    rng = np.random.default_rng(seed)
    draws = ratios[rng.integers(0, ratios.size, size=(resamples, ratios.size))]
    boot: list[tuple[float, float, float, float]] = []
    for row in draws:
        try:
            # Starting from the full-data fit: a resample lies close to it.
            b_lam, b_sigma, b_kappa = _fit(ns, fitted * row, (lam, sigma, kappa))
        except (RuntimeError, ValueError):
            continue
        boot.append((b_lam, b_sigma, b_kappa, n_star(b_sigma, b_kappa)))
    if len(boot) < resamples // 2:
        raise ValueError(
            f"the USL fit failed on {resamples - len(boot)} of {resamples} bootstrap resamples:"
            " the data do not determine the curve"
        )
    table = np.array(boot, dtype=np.float64)
    return UslFit(
        lambda_=lam,
        sigma=sigma,
        kappa=kappa,
        n_star=n_star(sigma, kappa),
        lambda_ci=_interval(table[:, 0], confidence),
        sigma_ci=_interval(table[:, 1], confidence),
        kappa_ci=_interval(table[:, 2], confidence),
        n_star_ci=_interval(table[:, 3], confidence),
        measured_range=(float(ns.min()), float(ns.max())),
        confidence=confidence,
        resamples=resamples,
        failed_resamples=resamples - len(boot),
    )
