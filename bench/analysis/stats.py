"""The pure statistics of the bench: ratio CIs over runs, verdicts, quantile and slope bounds.

Interval choice for :func:`bootstrap_ratio_ci`: BCa (bias-corrected and accelerated), not
the plain percentile interval. A ratio of two run-level statistics is skewed (a noisy
denominator stretches the upper tail) and the bench has few runs (5-20 per architecture),
which is exactly where percentile intervals under-cover; BCa corrects both the median bias
and the skew of the bootstrap distribution, is second-order accurate, and its jackknife costs
only ``n_a + n_b`` extra evaluations of the statistic.

BCa still under-covers at 5 runs a side: the bootstrap sees the plug-in spread (divided by
n, not n - 1) and its ends follow normal quantiles, where 4 degrees of freedom call for
t quantiles 40% wider. A spike comparison showed it: p99.9 came out ``better`` with 5 runs
each and inconclusive with 10. :func:`ratio_ci`, which the comparison uses, therefore takes
the union of the BCa interval and :func:`welch_log_ratio_ci`, a t interval on the log of
the ratio of means with Welch-Satterthwaite degrees of freedom: as wide as small samples
warrant, and no narrower than the bootstrap where the data are skewed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import msgspec
import numpy as np
import numpy.typing as npt
from scipy import stats as sps

from bench.quantiles import percentiles

Statistic = Literal["mean", "median"]
Label = Literal["better", "worse", "equivalent", "inconclusive"]
FloatArray = npt.NDArray[np.float64]


class RatioCI(msgspec.Struct, frozen=True):
    """``ratio`` = statistic(b) / statistic(a) with its ``confidence`` interval [low, high]."""

    ratio: float
    low: float
    high: float
    confidence: float
    n_a: int
    n_b: int


class Verdict(msgspec.Struct, frozen=True):
    """What a :class:`RatioCI` says against the noise band, in one plain sentence."""

    label: Label
    runs_needed: int | None
    explanation: str


def _sample(values: Sequence[float] | npt.ArrayLike, name: str) -> FloatArray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a flat sequence of numbers, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty: at least one run is needed")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} holds a non-finite value (nan or inf): {arr.tolist()}")
    return arr


def _confidence(confidence: float) -> float:
    if not (0.0 < confidence < 1.0):
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}")
    return confidence


def _reduce(x: FloatArray, statistic: Statistic) -> FloatArray:
    """The statistic along the last axis (one value per row)."""
    if statistic == "mean":
        return np.asarray(x.mean(axis=-1), dtype=np.float64)
    return np.asarray(np.median(x, axis=-1), dtype=np.float64)


def _leave_one_out(x: FloatArray) -> FloatArray:
    """Row i is ``x`` without element i (the jackknife samples)."""
    n = x.size
    keep = ~np.eye(n, dtype=bool)
    return np.broadcast_to(x, (n, n))[keep].reshape(n, n - 1)


def _acceleration(a: FloatArray, b: FloatArray, statistic: Statistic) -> float:
    """BCa acceleration from the two-sample jackknife (Efron & Tibshirani 1993, §14.3)."""
    stat_a = float(_reduce(a, statistic))
    stat_b = float(_reduce(b, statistic))
    influences: list[tuple[FloatArray, int]] = []
    if a.size > 1:
        influences.append((stat_b / _reduce(_leave_one_out(a), statistic), a.size))
    if b.size > 1:
        influences.append((_reduce(_leave_one_out(b), statistic) / stat_a, b.size))
    num = 0.0
    den = 0.0
    for jack, n in influences:
        u = (n - 1) * (jack.mean() - jack)
        num += float(np.sum(u**3)) / n**3
        den += float(np.sum(u**2)) / n**2
    if den == 0.0:
        return 0.0
    return num / (6.0 * den * math.sqrt(den))


def bootstrap_ratio_ci(
    a: Sequence[float],
    b: Sequence[float],
    *,
    statistic: Statistic = "mean",
    confidence: float = 0.95,
    resamples: int = 5000,
    seed: int = 0,
) -> RatioCI:
    """BCa bootstrap CI of statistic(b) / statistic(a), resampling a and b independently.

    Raises ValueError on empty or non-finite samples, on statistic(a) <= 0 and when a
    resample of ``a`` has a statistic <= 0 (the ratio is then undefined). One run on both
    sides gives a zero-width interval at the point estimate.
    """
    xa = _sample(a, "a")
    xb = _sample(b, "b")
    _confidence(confidence)
    if statistic not in ("mean", "median"):
        raise ValueError(f"statistic must be 'mean' or 'median', got {statistic!r}")
    if resamples < 100:
        raise ValueError(f"resamples must be at least 100, got {resamples}")
    stat_a = float(_reduce(xa, statistic))
    if stat_a <= 0.0:
        raise ValueError(
            f"the {statistic} of a is {stat_a:g}: a ratio needs a positive denominator"
        )
    ratio = float(_reduce(xb, statistic)) / stat_a

    rng = np.random.default_rng(seed)
    boot_a = _reduce(xa[rng.integers(0, xa.size, size=(resamples, xa.size))], statistic)
    boot_b = _reduce(xb[rng.integers(0, xb.size, size=(resamples, xb.size))], statistic)
    if np.any(boot_a <= 0.0):
        raise ValueError(
            f"a resample of a has a {statistic} <= 0: the ratio is undefined for this metric"
            " (a holds zeros or negatives); compare differences instead"
        )
    boot = boot_b / boot_a
    if float(np.ptp(boot)) == 0.0:
        return RatioCI(ratio, ratio, ratio, confidence, int(xa.size), int(xb.size))

    # Ties count half, so a discrete (median) bootstrap distribution is not biased one way;
    # clipping keeps z0 finite when the point sits at the edge of the distribution.
    below = (np.count_nonzero(boot < ratio) + 0.5 * np.count_nonzero(boot == ratio)) / resamples
    z0 = float(sps.norm.ppf(np.clip(below, 0.5 / resamples, 1.0 - 0.5 / resamples)))
    accel = _acceleration(xa, xb, statistic)
    tail = (1.0 - confidence) / 2.0
    levels = []
    for z in (float(sps.norm.ppf(tail)), float(sps.norm.ppf(1.0 - tail))):
        shifted = z0 + z
        denom = 1.0 - accel * shifted
        # A non-positive denominator means the acceleration overwhelms the interval; the
        # matching end of the bootstrap distribution is the honest limit.
        level = float(sps.norm.cdf(z0 + shifted / denom)) if denom > 0 else float(z > 0)
        levels.append(level)
    low, high = percentiles(boot, [100 * level for level in levels])
    return RatioCI(ratio, float(low), float(high), confidence, int(xa.size), int(xb.size))


def welch_log_ratio_ci(
    a: Sequence[float], b: Sequence[float], *, confidence: float = 0.95
) -> RatioCI:
    """t interval of mean(b) / mean(a) on the log scale (delta method, Welch df).

    The log of a mean has variance ~ s^2 / (n * mean^2); the two sides' add, and the
    Welch-Satterthwaite formula gives the degrees of freedom. Needs at least 2 values a
    side and positive means; zero spread on both sides gives a zero-width interval.
    """
    xa = _sample(a, "a")
    xb = _sample(b, "b")
    _confidence(confidence)
    if xa.size < 2 or xb.size < 2:
        raise ValueError("a t interval needs at least 2 values on each side")
    mean_a, mean_b = float(xa.mean()), float(xb.mean())
    if mean_a <= 0.0 or mean_b <= 0.0:
        raise ValueError(f"means must be positive for a log ratio, got {mean_a:g}, {mean_b:g}")
    ratio = mean_b / mean_a
    var_a = float(xa.var(ddof=1)) / (xa.size * mean_a**2)
    var_b = float(xb.var(ddof=1)) / (xb.size * mean_b**2)
    if var_a + var_b == 0.0:
        return RatioCI(ratio, ratio, ratio, confidence, int(xa.size), int(xb.size))
    df = (var_a + var_b) ** 2 / (var_a**2 / (xa.size - 1) + var_b**2 / (xb.size - 1))
    half = float(sps.t.ppf(0.5 + confidence / 2.0, df)) * math.sqrt(var_a + var_b)
    return RatioCI(
        ratio, ratio * math.exp(-half), ratio * math.exp(half), confidence,
        int(xa.size), int(xb.size),
    )  # fmt: skip


def ratio_ci(
    a: Sequence[float], b: Sequence[float], *, confidence: float = 0.95, seed: int = 0
) -> RatioCI:
    """The comparison's interval of mean(b) / mean(a): the union of BCa and Welch-log.

    One value on a side leaves only the bootstrap (which then says nothing of the spread;
    :func:`verdict` calls that inconclusive).
    """
    boot = bootstrap_ratio_ci(a, b, confidence=confidence, seed=seed)
    if min(boot.n_a, boot.n_b) < 2:
        return boot
    t = welch_log_ratio_ci(a, b, confidence=confidence)
    return msgspec.structs.replace(boot, low=min(boot.low, t.low), high=max(boot.high, t.high))


def _fmt(x: float) -> str:
    return f"{x:.2f}" if abs(x) >= 0.1 else f"{x:.3g}"


def _runs_to_shrink(ci: RatioCI, needed: float) -> int:
    """Runs per architecture for the CI to shrink by ``needed`` (half-width ~ 1/sqrt(n))."""
    # With equal spreads, var(ratio) ~ 1/n_a + 1/n_b: the harmonic mean is the equal-n twin.
    n_eff = 2.0 / (1.0 / ci.n_a + 1.0 / ci.n_b)
    return max(math.ceil(n_eff * needed**2), max(ci.n_a, ci.n_b) + 1)


def verdict(
    ci: RatioCI,
    *,
    noise: float,
    higher_is_better: bool,
    a_name: str = "A",
    b_name: str = "B",
) -> Verdict:
    """Better / worse if the CI lies wholly beyond 1 ± noise, equivalent if wholly inside.

    Otherwise inconclusive, with an estimate of the runs per architecture that would
    settle it, or None when it cannot be estimated (a single run on a side, or a point
    estimate exactly on the band's edge).
    """
    if not (math.isfinite(noise) and 0.0 <= noise < 1.0):
        raise ValueError(f"noise must be a fraction in [0, 1), got {noise}")
    if not all(math.isfinite(v) for v in (ci.ratio, ci.low, ci.high)) or ci.low > ci.high:
        raise ValueError(f"not a valid interval: {ci}")
    lo_edge, hi_edge = 1.0 - noise, 1.0 + noise
    band = f"±{noise * 100:g}% noise band"
    direction = "" if higher_is_better else " (lower is better)"
    head = (
        f"{b_name} is {_fmt(ci.ratio)}\u00d7 {a_name} "
        f"({ci.confidence * 100:g}% CI {_fmt(ci.low)}\u2013{_fmt(ci.high)})"
    )

    if min(ci.n_a, ci.n_b) < 2:
        if max(ci.n_a, ci.n_b) < 2:
            single = f"{a_name} and {b_name} each have"
        else:
            single = f"{a_name if ci.n_a < 2 else b_name} has"
        return Verdict(
            "inconclusive",
            None,
            f"{head}: {single} a single run, so the CI cannot show the spread;"
            " inconclusive until there are at least 2 runs per architecture",
        )
    if ci.low > hi_edge or ci.high < lo_edge:
        good = (ci.low > hi_edge) == higher_is_better
        label: Label = "better" if good else "worse"
        return Verdict(label, None, f"{head}: {label} beyond the {band}{direction}")
    if ci.low >= lo_edge and ci.high <= hi_edge:
        return Verdict("equivalent", None, f"{head}: equivalent, wholly inside the {band}")

    below, above = ci.ratio - ci.low, ci.high - ci.ratio
    if ci.ratio > hi_edge:
        needed = below / (ci.ratio - hi_edge)
    elif ci.ratio < lo_edge:
        needed = above / (lo_edge - ci.ratio)
    elif lo_edge < ci.ratio < hi_edge:
        needed = max(below / (ci.ratio - lo_edge), above / (hi_edge - ci.ratio))
    else:
        return Verdict(
            "inconclusive",
            None,
            f"{head}: the point estimate sits on the edge of the {band},"
            " so no number of runs can be estimated to settle it",
        )
    runs = _runs_to_shrink(ci, needed)
    return Verdict(
        "inconclusive",
        runs,
        f"{head}: the CI crosses the edge of the {band};"
        f" about {runs} runs per architecture would settle it",
    )


def min_samples_for_upper_bound(q: float, confidence: float = 0.95) -> int:
    """The fewest samples whose maximum bounds the q-quantile at ``confidence``."""
    _confidence(confidence)
    if not (0.0 < q < 1.0):
        raise ValueError(f"q must lie strictly between 0 and 1, got {q}")
    # The maximum covers the q-quantile with probability 1 - q**n; the loop undoes the
    # rounding of the logarithms, which can push ceil() one too high.
    n = math.ceil(math.log(1.0 - confidence) / math.log(q))
    while n > 1 and 1.0 - q ** (n - 1) >= confidence:
        n -= 1
    return n


def percentile_upper_bound(
    samples_ns: npt.ArrayLike, q: float, *, confidence: float = 0.95
) -> float:
    """Distribution-free upper confidence bound of the q-quantile, from an order statistic.

    The k-th smallest of n samples is >= the true q-quantile with probability at least
    P(Binomial(n, q) <= k - 1), for any distribution; the bound is the smallest such k
    reaching ``confidence``. Raises ValueError when even the maximum is not enough.
    """
    x = _sample(samples_ns, "samples_ns")
    needed = min_samples_for_upper_bound(q, confidence)
    n = int(x.size)
    if n < needed:
        raise ValueError(
            f"{n} samples cannot bound the {q:g}-quantile at {confidence:g} confidence:"
            f" at least {needed} are needed"
        )
    # The smallest k with cdf(k - 1) >= confidence; ppf lands on it, and the loops only
    # undo floating-point rounding either way.
    k = min(int(sps.binom.ppf(confidence, n, q)) + 1, n)
    while k > 1 and sps.binom.cdf(k - 2, n, q) >= confidence:
        k -= 1
    while k < n and sps.binom.cdf(k - 1, n, q) < confidence:
        k += 1
    return float(np.partition(x, k - 1)[k - 1])


def linear_slope_ci(
    x: Sequence[float], y: Sequence[float], *, confidence: float = 0.95
) -> tuple[float, float, float]:
    """OLS slope of y on x as (slope, low, high), with a Student-t CI on n - 2 d.o.f."""
    xs = _sample(x, "x")
    ys = _sample(y, "y")
    _confidence(confidence)
    if xs.size != ys.size:
        raise ValueError(f"x and y differ in length: {xs.size} != {ys.size}")
    if xs.size < 3:
        raise ValueError(f"a slope CI needs at least 3 points, got {xs.size}")
    if float(np.ptp(xs)) == 0.0:
        raise ValueError("x is constant: the slope is undefined")
    fit = sps.linregress(xs, ys)
    slope = float(fit.slope)
    half = float(sps.t.ppf((1.0 + confidence) / 2.0, xs.size - 2)) * float(fit.stderr)
    return slope, slope - half, slope + half
