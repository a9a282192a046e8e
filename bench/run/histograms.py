"""HDR histograms (ns) built after a run from the raw arrays the recorder kept.

Recording a million values one ``record_value`` call at a time costs seconds,
so values are first rounded down to the lowest value of their HDR bucket with
numpy (the bucket a value lands in depends only on that), then each distinct
bucket is recorded once with its count. The histogram is identical to one
built value by value.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from hdrh.histogram import HdrHistogram

from bench.quantiles import percentiles
from bench.schema import Histogram, Summary

#: 1 ns to one hour, three significant digits.
LOWEST_NS = 1
HIGHEST_NS = 3_600 * 10**9
SIGNIFICANT = 3

#: Percentiles reported, by name.
PERCENTILES: tuple[tuple[str, float], ...] = (
    ("p50", 50.0),
    ("p90", 90.0),
    ("p95", 95.0),
    ("p99", 99.0),
    ("p999", 99.9),
)

Int64s = npt.NDArray[np.int64]


def min_samples(percentile: float) -> int:
    """Samples a percentile needs to rest on at least one value beyond it (p99.9: 1000)."""
    return math.ceil(100.0 / (100.0 - percentile) - 1e-9)


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_NS, HIGHEST_NS, SIGNIFICANT)


def bucket_floor(values: Int64s, sub_bucket_count: int) -> Int64s:
    """Round each value down to the lowest value equivalent to it in an HDR histogram."""
    _, bits = np.frexp(values.astype(np.float64))
    shift = np.maximum(bits - int(sub_bucket_count).bit_length() + 1, 0).astype(np.int64)
    return np.asarray((values >> shift) << shift, dtype=np.int64)


def build(values: Int64s) -> HdrHistogram:
    """An HdrHistogram of ``values`` (ns), clipped into the trackable range."""
    hist = new_histogram()
    if values.size == 0:
        return hist
    clipped = np.clip(values.astype(np.int64), LOWEST_NS, HIGHEST_NS)
    floors = bucket_floor(clipped, hist.sub_bucket_count)
    distinct, counts = np.unique(floors, return_counts=True)
    for value, count in zip(distinct.tolist(), counts.tolist(), strict=True):
        hist.record_value(value, count)
    return hist


def summarize(hist: HdrHistogram, mean: float | None = None, max_ns: int | None = None) -> Summary:
    """Percentiles of ``hist``; percentiles with too few samples are named in ``thin``."""
    count = int(hist.get_total_count())
    values = {name: int(hist.get_value_at_percentile(q)) if count else 0 for name, q in PERCENTILES}
    thin = tuple(name for name, q in PERCENTILES if count < min_samples(q))
    return Summary(
        count=count,
        p50=values["p50"],
        p90=values["p90"],
        p95=values["p95"],
        p99=values["p99"],
        p999=values["p999"],
        max=max_ns if max_ns is not None else int(hist.get_max_value()) if count else 0,
        mean=float(mean) if mean is not None else float(hist.get_mean_value()) if count else 0.0,
        thin=thin,
    )


def exact_summary(values: Int64s) -> Summary:
    """Percentiles of the raw values themselves (:mod:`bench.quantiles`, HDR's definition),
    computed with numpy: iterating an HDR histogram's counts in Python for every percentile
    would cost more than the run's whole analysis."""
    if values.size == 0:
        return Summary(count=0, p50=0, p90=0, p95=0, p99=0, p999=0, max=0, mean=0.0, thin=())
    clipped = np.clip(values, LOWEST_NS, HIGHEST_NS)
    qs = percentiles(clipped, [q for _, q in PERCENTILES])
    count = int(values.size)
    return Summary(
        count=count,
        p50=int(qs[0]),
        p90=int(qs[1]),
        p95=int(qs[2]),
        p99=int(qs[3]),
        p999=int(qs[4]),
        max=int(clipped.max()),
        mean=float(values.mean()),
        thin=tuple(name for name, q in PERCENTILES if count < min_samples(q)),
    )


def record(metric: str, scope: str, values: Int64s) -> Histogram:
    """Build and encode one histogram; summarise the raw values exactly."""
    return Histogram(
        metric=metric,
        scope=scope,
        summary=exact_summary(values),
        encoded=build(values).encode().decode("ascii"),
    )


def decode(encoded: str) -> HdrHistogram:
    """The HdrHistogram of an encoded record (for merging runs or plotting)."""
    return HdrHistogram.decode(encoded.encode("ascii"))


def pooled(encoded: list[str]) -> Summary:
    """Percentiles of several runs' histograms added together (never an average of
    percentiles, which is no percentile of anything); ``thin`` as for one run."""
    total = new_histogram()
    for record_ in encoded:
        total.add(decode(record_))
    return summarize(total)
