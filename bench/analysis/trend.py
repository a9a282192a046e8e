"""Resident memory's trend through a run (a soak above all): slope, interval, leak verdict.

A run's timeline holds the mean RSS of every 250 ms window, and what of it the harness's
own recordings held (its lists of completions, batches and samples grow with the run
whatever the router does: about 80 bytes per completion); the trend is that of RSS minus
the harness's bytes, the router's and the process's own. The first
:data:`WARMUP_SHARE` of the run is left out (pools, caches and the allocator's arenas
fill once, as ``bench memory`` leaves out its first iteration); the rest is cut into
:data:`BLOCKS` equal blocks whose mean RSS is regressed on time. Block means, not the
raw windows: neighbouring samples move together, and an interval over thousands of
correlated points would claim a precision the run does not have. The slope (MiB per
hour) gets a Student-t 95% CI (:func:`bench.analysis.stats.linear_slope_ci`).

Verdict, against a threshold (configs/slo.toml ``rss_growth``): **leak** when the whole
CI lies above it *and* the later half of the run alone still grows faster than it (a
leak keeps growing; a one-off step up in the middle of a short run does not);
**no leak** when the whole CI lies at or below it; **no leak shown** otherwise (a longer
soak would settle it); **too short** under :data:`MIN_SPAN_S` after the warm-up.
"""

from __future__ import annotations

import numpy as np

from bench.analysis.stats import linear_slope_ci
from bench.schema import CompareResult, RssTrend, RunTrend, Timeline, TrendVerdict

#: The threshold when no objectives file gives one (configs/slo.toml's ``rss_growth``).
DEFAULT_THRESHOLD_MIB_PER_H = 4.0
WARMUP_SHARE = 0.2
BLOCKS = 20
MIN_SPAN_S = 20.0


def _slope(hours: np.ndarray, mib: np.ndarray) -> float:
    if hours.size < 2 or float(np.ptp(hours)) == 0.0:
        return 0.0
    return float(np.polyfit(hours, mib, 1)[0])


def verdict(
    slope: float, low: float, high: float, second_half: float, threshold: float
) -> tuple[TrendVerdict, str]:
    """The label and sentence of a trend against ``threshold`` (MiB/h)."""
    ci = f"{slope:+.1f} MiB/h (95% CI {low:+.1f} to {high:+.1f})"
    if low > threshold and second_half > threshold:
        return "leak", (
            f"LEAK: RSS grows {ci}, wholly above {threshold:g} MiB/h, and still"
            f" {second_half:+.1f} MiB/h in the later half"
        )
    if high <= threshold:
        return "no leak", f"no leak: RSS trend {ci} stays at or below {threshold:g} MiB/h"
    if low > threshold:
        return "no leak shown", (
            f"no leak shown: RSS trend {ci} lies above {threshold:g} MiB/h but the later half"
            f" grows only {second_half:+.1f} MiB/h (a step, not a steady climb);"
            " a longer soak would settle it"
        )
    return "no leak shown", (
        f"no leak shown: RSS trend {ci} reaches past {threshold:g} MiB/h;"
        " a longer soak would settle it"
    )


def rss_trend(timeline: Timeline, threshold_mib_per_h: float) -> RssTrend:
    """The trend of one run's RSS (see the module docstring)."""
    rss = np.asarray(timeline.rss_bytes, dtype=np.float64)
    if len(timeline.harness_bytes) == rss.size:
        rss = rss - np.asarray(timeline.harness_bytes, dtype=np.float64)
    rss /= 2**20
    window = timeline.window_s
    skip = int(np.ceil(rss.size * WARMUP_SHARE))
    kept = rss[skip:]
    span_s = kept.size * window
    if span_s < MIN_SPAN_S or kept.size < BLOCKS:
        return RssTrend(
            points=int(kept.size), span_s=span_s, slope_mib_per_h=0.0, low=0.0, high=0.0,
            second_half_mib_per_h=0.0, threshold_mib_per_h=threshold_mib_per_h,
            verdict="too short",
            explanation=f"too short for a trend: {span_s:.0f} s after the warm-up,"
            f" at least {MIN_SPAN_S:g} s needed (a soak run)",
        )  # fmt: skip
    blocks = np.array_split(np.arange(kept.size), BLOCKS)
    hours = np.array([(skip + b.mean() + 0.5) * window / 3600.0 for b in blocks])
    means = np.array([kept[b].mean() for b in blocks])
    slope, low, high = linear_slope_ci(hours.tolist(), means.tolist())
    half = BLOCKS // 2
    second = _slope(hours[half:], means[half:])
    label, text = verdict(slope, low, high, second, threshold_mib_per_h)
    return RssTrend(
        points=BLOCKS, span_s=span_s, slope_mib_per_h=slope, low=low, high=high,
        second_half_mib_per_h=second, threshold_mib_per_h=threshold_mib_per_h,
        verdict=label, explanation=text,
    )  # fmt: skip


def run_trends(result: CompareResult, threshold_mib_per_h: float | None) -> tuple[RunTrend, ...]:
    """The RSS trend of every run of a comparison (threshold: ``rss_growth`` of the SLO)."""
    limit = DEFAULT_THRESHOLD_MIB_PER_H if threshold_mib_per_h is None else threshold_mib_per_h
    return tuple(
        RunTrend(arch=record.arch, run=index, trend=rss_trend(record.result.timeline, limit))
        for index, record in enumerate(result.runs)
    )
