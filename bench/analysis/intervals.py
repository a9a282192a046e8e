"""Which interval each metric's ratio gets, as the calibration check decided.

The comparison's interval is :func:`bench.analysis.stats.ratio_ci` (the union of BCa
and a Welch t interval on the log of the ratio of means). Resampling stored runs
(:mod:`bench.analysis.calibration`) showed that for latency figures it misses parity
in more than 5% of A/A comparisons: a busy moment of a shared host multiplies a run's
latency (p50 0.2 -> 3 ms, dispatch lag 0.5 -> 30 ms), so with 5 runs a side the mean is
ruled by whichever side drew the stalled runs, and both intervals assume a spread the
few runs understate. For those metrics the interval is widened to also cover the
ratio of geometric means: the union with :func:`log_t_ci`, a Welch t interval on the
mean of the runs' logarithms, which treats a stall as a factor rather than an
addend. The point estimate stays the ratio of means.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import msgspec
import numpy as np
from scipy import stats as sps

from bench.analysis.stats import RatioCI, ratio_ci

#: Metrics whose ratio also gets :func:`log_t_ci` (see the module doc): every latency
#: figure, since the calibration showed the failure in the median as much as in the tail.
WIDENED = frozenset(
    {
        "response_p50",
        "response_p95",
        "response_p99",
        "response_p99.9",
        "service_p99",
        "dispatch_lag_p99",
        "recovery",
    }
)


def log_t_ci(a: Sequence[float], b: Sequence[float], *, confidence: float = 0.95) -> RatioCI:
    """Welch t interval of exp(mean log b - mean log a): the ratio of geometric means."""
    la = np.log(np.asarray(a, dtype=np.float64))
    lb = np.log(np.asarray(b, dtype=np.float64))
    if la.size < 2 or lb.size < 2:
        raise ValueError("a t interval needs at least 2 values on each side")
    if not (np.all(np.isfinite(la)) and np.all(np.isfinite(lb))):
        raise ValueError("log intervals need positive, finite values")
    diff = float(lb.mean() - la.mean())
    var_a = float(la.var(ddof=1)) / la.size
    var_b = float(lb.var(ddof=1)) / lb.size
    ratio = math.exp(diff)
    if var_a + var_b == 0.0:
        return RatioCI(ratio, ratio, ratio, confidence, int(la.size), int(lb.size))
    df = (var_a + var_b) ** 2 / (var_a**2 / (la.size - 1) + var_b**2 / (lb.size - 1))
    half = float(sps.t.ppf(0.5 + confidence / 2.0, df)) * math.sqrt(var_a + var_b)
    return RatioCI(
        ratio, math.exp(diff - half), math.exp(diff + half), confidence,
        int(la.size), int(lb.size),
    )  # fmt: skip


def metric_ci(
    metric: str,
    a: Sequence[float],
    b: Sequence[float],
    *,
    confidence: float = 0.95,
    seed: int = 0,
    widen: frozenset[str] = WIDENED,
) -> RatioCI:
    """The interval of mean(b) / mean(a) for ``metric``: :func:`ratio_ci`, widened for
    the metrics in ``widen`` when every value is positive and each side has 2 runs."""
    ci = ratio_ci(a, b, confidence=confidence, seed=seed)
    if metric not in widen or min(len(a), len(b)) < 2 or min(*a, *b) <= 0:
        return ci
    geo = log_t_ci(a, b, confidence=confidence)
    return msgspec.structs.replace(ci, low=min(ci.low, geo.low), high=max(ci.high, geo.high))
