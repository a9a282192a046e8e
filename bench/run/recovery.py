"""Recovery time: how long after a load (or an outage) ends until latency and backlog are
back to what they were before it.

Episodes (:func:`episodes`):

- **phase**: a phase that starts at a lower rate than the phase before it ended (spike
  -> recovery, burst -> base, overload -> recovery). Its baseline is the nearest earlier
  phase whose rate never exceeded the recovering phase's starting rate (by more than 5%);
  the clock starts when the phase starts and stops at its end. A step down with no such
  earlier phase (the start of a ramp after a burst) has no baseline and no episode.
- **outage**: the end of an ``--outage`` window. The baseline is the (up to)
  :data:`OUTAGE_BASELINE_S` seconds before the outage began (after any earlier outage);
  the clock runs from the outage's end to the next outage, the next step up in rate,
  or the end of the run, whichever comes first.

Measure (:func:`measure`): a window of :data:`WINDOW_S` slides in steps of
:data:`STEP_S` from the start of the episode. The episode has **recovered** at the end of
the first window in which (1) the p99 response latency of the deliveries whose events
were *intended* in the window is at most :data:`FACTOR` x the baseline's p99 and (2) the
mean sampled backlog (router deliveries not ended) is at most :data:`FACTOR` x the
baseline's mean backlog plus one delivery (so an idle baseline does not demand an exactly
empty router). The recovery time is that window's end minus the episode's start: at least
one window (0.25 s means "within the first window"), in steps of 50 ms. When no window
qualifies before the horizon the episode is **not recovered** (it took longer than the
horizon). It is **too short** when the horizon is shorter than one window or the baseline
holds fewer than :data:`MIN_BASELINE` completed deliveries (too few for a p99).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

from bench.quantiles import percentile, ranks
from bench.run.histograms import Int64s
from bench.schema import Outage, Recovery, RecoveryStatus

WINDOW_S = 0.25
STEP_S = 0.05
FACTOR = 1.2
#: A p99 needs at least 100 samples to rest on one beyond it.
MIN_BASELINE = 100
#: How far back an outage's baseline reaches.
OUTAGE_BASELINE_S = 5.0
#: A rate counts as higher than another when it exceeds it by more than this share.
RATE_TOLERANCE = 0.05


class PhaseLike(Protocol):
    """What :func:`episodes` needs of a phase (``workload.Phase`` has it)."""

    @property
    def name(self) -> str: ...
    @property
    def start_s(self) -> float: ...
    @property
    def end_s(self) -> float: ...
    @property
    def rate_start(self) -> float: ...
    @property
    def rate_end(self) -> float: ...


class Episode:
    """Where one recovery is measured: baseline interval and the clock's start and horizon."""

    def __init__(
        self,
        kind: Literal["phase", "outage"],
        name: str,
        after: str,
        baseline: str,
        baseline_s: tuple[float, float],
        start_s: float,
        end_s: float,
    ) -> None:
        self.kind = kind
        self.name = name
        self.after = after
        self.baseline = baseline
        self.baseline_s = baseline_s
        self.start_s = start_s
        self.end_s = end_s


def _higher(a: float, b: float) -> bool:
    """Is rate ``a`` higher than rate ``b`` (beyond the tolerance)?"""
    return a > b * (1.0 + RATE_TOLERANCE) + 1e-9


def episodes(
    phases: Sequence[PhaseLike], outages: Sequence[Outage] = (), run_end_s: float | None = None
) -> list[Episode]:
    """Every recovery episode of a run, in time order of their start (see module doc)."""
    end = run_end_s if run_end_s is not None else (phases[-1].end_s if phases else 0.0)
    out: list[Episode] = []
    for k in range(1, len(phases)):
        phase, before = phases[k], phases[k - 1]
        if not _higher(before.rate_end, phase.rate_start):
            continue
        level = phase.rate_start
        base = next(
            (
                phases[j]
                for j in range(k - 2, -1, -1)
                if not _higher(max(phases[j].rate_start, phases[j].rate_end), level)
            ),
            None,
        )
        if base is None:
            continue
        out.append(
            Episode("phase", phase.name, before.name, base.name,
                    (base.start_s, base.end_s), phase.start_s, phase.end_s)
        )  # fmt: skip
    steps_up = [
        phases[k].start_s
        for k in range(1, len(phases))
        if _higher(phases[k].rate_start, phases[k - 1].rate_end)
    ]
    ordered = sorted(outages, key=lambda o: o.start_s)
    previous_end = 0.0
    for index, outage in enumerate(ordered):
        later = [o.start_s for o in ordered[index + 1 :]] + [
            s for s in steps_up if s > outage.end_s
        ]
        horizon = min([end, *later])
        b0 = max(0.0, previous_end, outage.start_s - OUTAGE_BASELINE_S)
        out.append(
            Episode("outage", f"after outage {outage.label}", f"outage {outage.label}",
                    f"{b0:g}-{outage.start_s:g} s", (b0, outage.start_s), outage.end_s, horizon)
        )  # fmt: skip
        previous_end = max(previous_end, outage.end_s)
    return sorted(out, key=lambda e: e.start_s)


def _sliding_p99(
    t_ns: Int64s, values: Int64s, starts: Int64s, window_ns: int
) -> npt.NDArray[np.int64]:
    """p99 of ``values`` with ``t`` in each ``[start, start + window)``; 0 where empty.
    ``t_ns`` must be sorted."""
    lo = np.searchsorted(t_ns, starts, side="left")
    hi = np.searchsorted(t_ns, starts + window_ns, side="left")
    out = np.zeros(starts.size, dtype=np.int64)
    for i, (a, b) in enumerate(zip(lo.tolist(), hi.tolist(), strict=True)):
        if b > a:
            chunk = values[a:b]
            k = ranks(b - a, (99.0,))[0] - 1
            out[i] = int(np.partition(chunk, k)[k])
    return out


def _sliding_mean(
    t_ns: Int64s, values: npt.NDArray[np.floating] | Int64s, starts: Int64s, window_ns: int
) -> npt.NDArray[np.float64]:
    """Mean of the samples in each window; an empty window takes the last sample before it."""
    cums = np.concatenate(([0.0], np.cumsum(values.astype(np.float64))))
    lo = np.searchsorted(t_ns, starts, side="left")
    hi = np.searchsorted(t_ns, starts + window_ns, side="left")
    out = np.empty(starts.size, dtype=np.float64)
    for i, (a, b) in enumerate(zip(lo.tolist(), hi.tolist(), strict=True)):
        if b > a:
            out[i] = (cums[b] - cums[a]) / (b - a)
        else:
            out[i] = float(values[a - 1]) if a > 0 else 0.0
    return out


def measure(
    episode: Episode,
    intended_ns: Int64s,
    response_ns: Int64s,
    sample_t_ns: Int64s,
    backlog: Int64s,
    *,
    window_s: float = WINDOW_S,
    step_s: float = STEP_S,
    factor: float = FACTOR,
) -> Recovery:
    """The recovery of one episode from a run's completions and backlog samples.

    ``intended_ns``/``response_ns``: the intended time (ns after the run's start) and
    response latency of every completed delivery; ``sample_t_ns``/``backlog``: the
    router's backlog samples, both sorted by time.
    """
    order = np.argsort(intended_ns, kind="stable")
    t_sorted = intended_ns[order]
    lat_sorted = response_ns[order]
    b0, b1 = (round(x * 1e9) for x in episode.baseline_s)
    in_base = slice(
        int(np.searchsorted(t_sorted, b0, side="left")),
        int(np.searchsorted(t_sorted, b1, side="left")),
    )
    base_lat = lat_sorted[in_base]
    base_samples = backlog[(sample_t_ns >= b0) & (sample_t_ns < b1)]
    base_backlog = float(base_samples.mean()) if base_samples.size else 0.0
    horizon_s = max(0.0, episode.end_s - episode.start_s)

    def result(status: RecoveryStatus, seconds: float | None, p99: int, detail: str) -> Recovery:
        return Recovery(
            kind=episode.kind, name=episode.name, after=episode.after,
            start_s=episode.start_s, horizon_s=horizon_s, baseline=episode.baseline,
            baseline_p99_ns=p99, baseline_backlog=base_backlog, status=status,
            recovery_s=seconds, detail=detail,
        )  # fmt: skip

    if base_lat.size < MIN_BASELINE:
        return result(
            "too_short", None, 0,
            f"baseline {episode.baseline} has {base_lat.size} completed deliveries;"
            f" a p99 needs at least {MIN_BASELINE} (a longer run or a higher rate)",
        )  # fmt: skip
    base_p99 = int(percentile(base_lat, 99.0))
    window_ns = round(window_s * 1e9)
    step_ns = round(step_s * 1e9)
    start_ns = round(episode.start_s * 1e9)
    end_ns = round(episode.end_s * 1e9)
    if end_ns - start_ns < window_ns:
        return result(
            "too_short", None, base_p99,
            f"{horizon_s:.2f} s to observe after {episode.after} is shorter than one"
            f" {window_s:g} s window (a longer run)",
        )  # fmt: skip
    starts = np.arange(start_ns, end_ns - window_ns + 1, step_ns, dtype=np.int64)
    p99 = _sliding_p99(t_sorted, lat_sorted, starts, window_ns)
    load = _sliding_mean(sample_t_ns, backlog, starts, window_ns)
    lat_limit = factor * base_p99
    backlog_limit = factor * base_backlog + 1.0
    ok = (p99 <= lat_limit) & (load <= backlog_limit)
    limits = (
        f"p99 <= {factor:g} x {base_p99 / 1e6:.2f} ms and backlog <= {backlog_limit:.1f}"
        f" (baseline {episode.baseline}: mean backlog {base_backlog:.1f})"
    )
    if not ok.any():
        return result(
            "not_recovered", None, base_p99,
            f"not back within {horizon_s:.2f} s after {episode.after}: no {window_s:g} s"
            f" window had {limits}",
        )  # fmt: skip
    first = int(np.flatnonzero(ok)[0])
    seconds = (int(starts[first]) + window_ns - start_ns) / 1e9
    return result(
        "recovered", seconds, base_p99,
        f"back {seconds:.2f} s after {episode.after} ended: first window with {limits}",
    )  # fmt: skip


def measure_all(
    phases: Sequence[PhaseLike],
    outages: Sequence[Outage],
    run_end_s: float,
    intended_ns: Int64s,
    response_ns: Int64s,
    sample_t_ns: Int64s,
    backlog: Int64s,
) -> tuple[Recovery, ...]:
    """Every episode of the run, measured."""
    return tuple(
        measure(e, intended_ns, response_ns, sample_t_ns, backlog)
        for e in episodes(phases, outages, run_end_s)
    )
