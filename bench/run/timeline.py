"""A run cut into consecutive windows: completions, latency, backlog, breakers, RSS.

Pure functions of the run's raw arrays (all times ns after the run's start). The
latency of a window is that of the events *intended* in it, so a window shows what
an event sent at that moment went through; completions are counted where they
happened. Sampled series (backlog, breakers, RSS) take the mean, most, or mean of
their samples in each window; a window without a sample repeats the one before.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from bench.quantiles import ranks
from bench.run.histograms import Int64s
from bench.schema import Timeline

#: Timeline windows and recovery windows (issue 15: rolling p99 over 250 ms).
WINDOW_S = 0.25


def window_count(duration_s: float, window_s: float = WINDOW_S) -> int:
    return max(1, math.ceil(duration_s / window_s - 1e-9))


def windowed_percentile(
    t_ns: Int64s, values: Int64s, edges_ns: Int64s, q: float
) -> npt.NDArray[np.int64]:
    """The ``q`` percentile of ``values`` whose time falls in each ``[edges[i], edges[i+1])``
    (the definition of :mod:`bench.quantiles`); 0 where a window holds nothing."""
    n = len(edges_ns) - 1
    out = np.zeros(max(n, 0), dtype=np.int64)
    if n <= 0 or t_ns.size == 0:
        return out
    win = np.searchsorted(edges_ns, t_ns, side="right") - 1
    keep = (win >= 0) & (win < n)
    win = win[keep]
    vals = values[keep]
    if win.size == 0:
        return out
    order = np.lexsort((vals, win))
    vals = vals[order]
    counts = np.bincount(win, minlength=n)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    for i in np.flatnonzero(counts).tolist():
        rank = ranks(int(counts[i]), (q,))[0]
        out[i] = vals[starts[i] + rank - 1]
    return out


def sampled_means(
    t_ns: Int64s, values: npt.NDArray[np.integer] | npt.NDArray[np.floating], edges_ns: Int64s
) -> npt.NDArray[np.float64]:
    """Mean of the samples in each window; an empty window repeats the previous (0 first)."""
    n = len(edges_ns) - 1
    win = np.searchsorted(edges_ns, t_ns, side="right") - 1
    keep = (win >= 0) & (win < n)
    sums = np.bincount(win[keep], weights=values[keep].astype(np.float64), minlength=n)
    counts = np.bincount(win[keep], minlength=n)
    out = np.zeros(n, dtype=np.float64)
    last = 0.0
    for i in range(n):
        if counts[i]:
            last = float(sums[i] / counts[i])
        out[i] = last
    return out


def sampled_max(t_ns: Int64s, values: Int64s, edges_ns: Int64s) -> npt.NDArray[np.int64]:
    """Largest sample in each window; an empty window repeats the previous (0 first)."""
    n = len(edges_ns) - 1
    win = np.searchsorted(edges_ns, t_ns, side="right") - 1
    keep = (win >= 0) & (win < n)
    most = np.full(n, -1, dtype=np.int64)
    np.maximum.at(most, win[keep], values[keep])
    last = 0
    for i in range(n):
        if most[i] < 0:
            most[i] = last
        last = int(most[i])
    return most


def build(
    duration_s: float,
    done_t: Int64s,
    intended_done: Int64s,
    response_ns: Int64s,
    sample_t: Int64s,
    backlog: Int64s,
    open_copies: Int64s,
    rss_t: Int64s,
    rss_bytes: Int64s,
    harness_bytes: Int64s | None = None,
    window_s: float = WINDOW_S,
) -> Timeline:
    """The timeline of one run (see the module docstring)."""
    n = window_count(duration_s, window_s)
    window_ns = round(window_s * 1e9)
    edges = np.arange(n + 1, dtype=np.int64) * window_ns
    done_win = done_t // window_ns
    completed = np.bincount(done_win[(done_win >= 0) & (done_win < n)], minlength=n)
    return Timeline(
        window_s=window_s,
        completed=tuple(int(c) for c in completed.tolist()),
        response_p99_ns=tuple(
            windowed_percentile(intended_done, response_ns, edges, 99.0).tolist()
        ),
        backlog=tuple(round(b, 3) for b in sampled_means(sample_t, backlog, edges).tolist()),
        breakers_open=tuple(sampled_max(sample_t, open_copies, edges).tolist()),
        rss_bytes=tuple(int(r) for r in sampled_means(rss_t, rss_bytes, edges).tolist()),
        harness_bytes=tuple(
            int(h)
            for h in sampled_means(
                rss_t, rss_bytes * 0 if harness_bytes is None else harness_bytes, edges
            ).tolist()
        ),
    )
