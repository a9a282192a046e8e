"""Do the comparison's intervals cover? Resampled comparisons from stored runs.

A 95% interval should exclude the true ratio in 5% of comparisons. The truth is
known in one case: two samples of the same architecture (A/A) have ratio 1. From
the per-run values of a stored comparison (``compare --json``), each
architecture's runs form a :class:`Pool`, and :func:`check` draws many A/A
comparisons from it in two ways:

* ``shuffled``: two disjoint random sets of ``runs`` runs (runs as exchangeable);
* ``interleaved``: a window of ``2 x runs`` consecutive runs, labelled A B B A A B ...
  as the runner's ABBA blocks would be (the host's slow minutes fall on both sides,
  as they do in a real comparison).

A comparison *misses* when its interval excludes 1 and gives a *false verdict* when
it says better or worse (the interval lies wholly beyond the ±noise band). The
target is a false-verdict rate of at most 5% for every metric.

Repeated A/B comparisons (:func:`check_ab`) have no known truth; the ratio of the
two whole pools' means stands in for it, and the miss rate is how often a small
comparison's interval excludes that.

:func:`check_sequential` replays the adaptive comparison on A/A draws: looks after
each planned run count at the Pocock level of :mod:`bench.analysis.sequential`,
stopping once every headline metric is settled; it counts the draws in which any
look gave a false verdict.

Every draw is seeded: the same pools give the same rates.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import msgspec
import numpy as np

from bench.analysis.compare import METRICS, Metric
from bench.analysis.intervals import metric_ci
from bench.analysis.sequential import HEADLINE, LookPlan
from bench.analysis.stats import RatioCI, verdict
from bench.schema import CompareResult

CALIBRATION_SCHEMA = "switchyard.calibration/1"
#: The interval a check judges: (metric name, a, b, confidence, seed) -> interval.
Interval = Callable[[str, Sequence[float], Sequence[float], float, int], RatioCI]
Scheme = str


class Pool(msgspec.Struct, frozen=True):
    """One architecture's runs of one comparison, in the order they ran.

    ``values`` maps a metric to each run's value, None where the run may not be used
    for it (a failed gate, as in the comparison).
    """

    arch: str
    source: str
    values: dict[str, tuple[float | None, ...]]


class PoolFile(msgspec.Struct, frozen=True):
    """Pools as stored for the calibration test (tests/bench/analysis/data/)."""

    schema: str
    note: str
    pools: tuple[Pool, ...]


class Rate(msgspec.Struct, frozen=True):
    """How often one metric's interval missed, over ``comparisons`` resampled ones."""

    metric: str
    scheme: Scheme
    runs: int
    comparisons: int
    misses: int
    false_verdicts: int

    @property
    def miss_rate(self) -> float:
        return self.misses / self.comparisons if self.comparisons else 0.0

    @property
    def false_rate(self) -> float:
        return self.false_verdicts / self.comparisons if self.comparisons else 0.0


def pools_from(
    result: CompareResult, source: str, metrics: Sequence[Metric] = METRICS
) -> list[Pool]:
    """Every architecture's runs of ``result`` as a :class:`Pool`."""
    order = sorted(result.runs, key=lambda r: (r.block, r.position))
    pools = []
    for arch in result.settings.archs:
        runs = [r.result for r in order if r.arch == arch]
        values = {m.name: tuple(m.value(r) if m.usable(r) else None for r in runs) for m in metrics}
        pools.append(Pool(arch, source, values))
    return pools


def default_interval(
    metric: str, a: Sequence[float], b: Sequence[float], confidence: float, seed: int
) -> RatioCI:
    """The interval the comparison uses (:func:`bench.analysis.intervals.metric_ci`)."""
    return metric_ci(metric, a, b, confidence=confidence, seed=seed)


def _judge(
    interval: Interval, metric: str, a: Sequence[float], b: Sequence[float],
    confidence: float, seed: int, noise: float, truth: float = 1.0,
) -> tuple[bool, str] | None:  # fmt: skip
    """(missed ``truth``, verdict label) of one comparison, or None when no ratio exists."""
    if len(a) < 2 or len(b) < 2 or min(a) <= 0:
        return None
    try:
        ci = interval(metric, a, b, confidence, seed)
    except ValueError:
        return None
    missed = not ci.low <= truth <= ci.high
    return missed, verdict(ci, noise=noise, higher_is_better=True).label


def _false(label: str) -> bool:
    return label in ("better", "worse")


def _shuffled(
    values: Sequence[float | None], runs: int, rng: np.random.Generator
) -> tuple[list[float], list[float]]:
    clean = [v for v in values if v is not None]
    pick = rng.permutation(len(clean))
    return [clean[i] for i in pick[:runs]], [clean[i] for i in pick[runs : 2 * runs]]


def _windows(values: Sequence[float | None], runs: int) -> list[tuple[list[float], list[float]]]:
    """Every window of 2 x runs consecutive runs, labelled ABBA... and BAAB..."""
    out = []
    for start in range(len(values) - 2 * runs + 1):
        window = values[start : start + 2 * runs]
        for flip in (0, 1):
            sides: tuple[list[float], list[float]] = ([], [])
            for i, v in enumerate(window):
                if v is not None:
                    sides[(i % 4 in (1, 2)) ^ flip].append(v)
            out.append(sides)
    return out


def check(
    pools: Sequence[Pool],
    metric: str,
    runs: int = 5,
    *,
    scheme: Scheme = "shuffled",
    draws: int = 200,
    interval: Interval = default_interval,
    confidence: float = 0.95,
    noise: float = 0.05,
    seed: int = 0,
) -> Rate:
    """A/A miss and false-verdict rates of ``metric`` over every pool (see the module doc)."""
    rng = np.random.default_rng(seed)
    misses = false = total = 0
    for pool in pools:
        values = pool.values.get(metric)
        if values is None or sum(v is not None for v in values) < 2 * runs:
            continue
        if scheme == "shuffled":
            pairs = [_shuffled(values, runs, rng) for _ in range(draws)]
        elif scheme == "interleaved":
            pairs = _windows(values, runs)
        else:
            raise ValueError(f"unknown scheme {scheme!r}: use shuffled or interleaved")
        for i, (a, b) in enumerate(pairs):
            judged = _judge(interval, metric, a, b, confidence, seed + i, noise)
            if judged is not None:
                total += 1
                misses += judged[0]
                false += _false(judged[1])
    return Rate(metric, scheme, runs, total, misses, false)


def check_ab(
    pool_a: Pool,
    pool_b: Pool,
    metric: str,
    runs: int = 5,
    *,
    draws: int = 200,
    interval: Interval = default_interval,
    confidence: float = 0.95,
    noise: float = 0.05,
    seed: int = 0,
) -> Rate:
    """Repeated A/B comparisons: how often the interval excludes the whole pools' ratio.

    ``false_verdicts`` counts the draws whose verdict points the other way from the
    pools' ratio (better where the pools say worse, or the reverse).
    """
    rng = np.random.default_rng(seed)
    va = [v for v in pool_a.values.get(metric, ()) if v is not None]
    vb = [v for v in pool_b.values.get(metric, ()) if v is not None]
    if len(va) < runs or len(vb) < runs or not va or float(np.mean(va)) <= 0:
        return Rate(metric, "ab", runs, 0, 0, 0)
    truth = float(np.mean(vb)) / float(np.mean(va))
    misses = flipped = total = 0
    for i in range(draws):
        a = [va[j] for j in rng.choice(len(va), runs, replace=False)]
        b = [vb[j] for j in rng.choice(len(vb), runs, replace=False)]
        if min(a) <= 0:
            continue
        try:
            ci = interval(metric, a, b, confidence, seed + i)
        except ValueError:
            continue
        total += 1
        misses += not ci.low <= truth <= ci.high
        above, below = ci.low > 1.0 + noise, ci.high < 1.0 - noise
        flipped += (above and truth < 1.0) or (below and truth > 1.0)
    return Rate(metric, "ab", runs, total, misses, flipped)


def check_sequential(
    pools: Sequence[Pool],
    plan: LookPlan,
    *,
    metrics: Sequence[str] = HEADLINE,
    draws: int = 100,
    interval: Interval = default_interval,
    noise: float = 0.05,
    seed: int = 0,
) -> list[Rate]:
    """Adaptive A/A comparisons replayed: per metric, draws with a false verdict at any look.

    Each draw shuffles a pool once and takes the first ``plan.runs[k]`` runs of each
    half at look k, as added blocks would; it stops after the look at which every one
    of ``metrics`` is settled (or the last planned look).
    """
    rng = np.random.default_rng(seed)
    need = plan.runs[-1]
    false = dict.fromkeys(metrics, 0)
    total = 0
    for pool in pools:
        columns = {m: pool.values.get(m, ()) for m in metrics}
        size = min(len(c) for c in columns.values())
        if size < 2 * need:
            continue
        for d in range(draws):
            pick = rng.permutation(size)[: 2 * need]
            total += 1
            wrong = dict.fromkeys(metrics, False)
            for k, n in enumerate(plan.runs):
                settled = True
                for m in metrics:
                    col = columns[m]
                    a = [v for i in pick[:n] if (v := col[i]) is not None]
                    b = [v for i in pick[need : need + n] if (v := col[i]) is not None]
                    judged = _judge(interval, m, a, b, plan.confidence, seed + 31 * d + k, noise)
                    if judged is None or judged[1] == "inconclusive":
                        settled = False
                    elif _false(judged[1]):
                        wrong[m] = True
                if settled:
                    break
            for m in metrics:
                false[m] += wrong[m]
    scheme = "sequential " + "/".join(str(n) for n in plan.runs)
    return [Rate(m, scheme, plan.runs[0], total, false[m], false[m]) for m in metrics]
