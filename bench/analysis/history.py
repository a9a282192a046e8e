"""How a metric moved over the saved versions of a baseline.

Every ``baseline save`` also files a copy under ``history/NAME/`` in the baselines
folder, so saving again under the same name keeps the earlier versions.
:func:`history` reads them all (and the current file, when it predates the
history), oldest first, and gives per version and architecture the metric's mean
over the usable runs with a 95% Student-t interval of that mean. A version of an
older result schema cannot be read and is listed as skipped, saying why.
"""

from __future__ import annotations

import math
from pathlib import Path

import msgspec
import numpy as np
from scipy import stats as sps

from bench.analysis import baseline
from bench.analysis.compare import METRICS, Metric, values_of
from bench.schema import RunResult


class Point(msgspec.Struct, frozen=True):
    """One architecture's value of the metric in one saved version."""

    arch: str
    mean: float | None
    low: float | None
    high: float | None
    runs: int


class Version(msgspec.Struct, frozen=True):
    """One saved version of the baseline and its points."""

    saved_at: str
    git_sha: str | None
    points: tuple[Point, ...]


class History(msgspec.Struct, frozen=True):
    """The versions of baseline ``name``, oldest first, for ``metric`` (in ``unit``)."""

    name: str
    metric: str
    unit: str
    higher_is_better: bool
    versions: tuple[Version, ...]
    skipped: tuple[str, ...]


def metric_named(name: str) -> Metric:
    """The compared metric ``name``; a BaselineError listing the valid ones otherwise."""
    for metric in METRICS:
        if metric.name == name:
            return metric
    valid = ", ".join(m.name for m in METRICS)
    raise baseline.BaselineError(f"unknown metric {name!r}: use one of {valid}")


def mean_ci(values: list[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high): the Student-t interval of the mean (zero width for one value)."""
    data = np.asarray(values, dtype=np.float64)
    mean = float(data.mean())
    if data.size < 2:
        return mean, mean, mean
    half = (
        float(sps.t.ppf(0.5 + confidence / 2, data.size - 1))
        * float(data.std(ddof=1))
        / math.sqrt(data.size)
    )
    return mean, mean - half, mean + half


def _points(
    metric: Metric, archs: tuple[str, ...], runs: dict[str, list[RunResult]]
) -> tuple[Point, ...]:
    out = []
    for arch in archs:
        results = runs.get(arch, [])
        values = values_of(metric, results)
        if values:
            mean, low, high = mean_ci(values)
            out.append(Point(arch, mean, low, high, len(values)))
        else:
            out.append(Point(arch, None, None, None, 0))
    return tuple(out)


def history(name: str, metric_name: str, where: Path | None = None) -> History:
    """Every readable version of baseline ``name`` with ``metric_name`` per architecture."""
    metric = metric_named(metric_name)
    paths = baseline.history_paths(name, where)
    current = baseline.path_of(name, where)
    if not paths and not current.exists():
        known = ", ".join(baseline.names(where)) or "none saved"
        raise baseline.BaselineError(f"no baseline {name!r} (known: {known})")
    records: list[baseline.Baseline] = []
    skipped: list[str] = []
    for path in paths:
        try:
            records.append(baseline.read(path))
        except baseline.BaselineError as exc:
            skipped.append(str(exc))
    if current.exists():
        # A baseline saved before histories were kept has no copy there yet.
        try:
            latest = baseline.read(current)
        except baseline.BaselineError as exc:
            skipped.append(str(exc))
        else:
            if all(r.saved_at != latest.saved_at for r in records):
                records.append(latest)
    versions = tuple(
        Version(
            r.saved_at,
            r.git_sha,
            _points(metric, r.comparison.settings.archs, baseline.runs_by_arch(r.comparison)),
        )
        for r in sorted(records, key=lambda r: r.saved_at)
    )
    return History(name, metric.name, metric.unit, metric.higher_is_better, versions,
                   tuple(skipped))  # fmt: skip
