"""The report's figures, computed from result records: each a :class:`~bench.report.svg.Chart`.

Histograms of one architecture are merged over its usable runs (a run that
failed an ``all`` gate is left out, as :mod:`bench.analysis.compare` does), so a CDF or
percentile curve rests on every trustworthy sample. Runs carry per-phase
figures rather than per-second series, so "over time" is drawn per phase (a
step per phase) in front of the pattern's intended rate, which comes from
:func:`workload.plan_phases` for the run's own duration and base rate.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from hdrh.histogram import HdrHistogram

from bench.report.svg import BACKDROP, PALETTE, Axis, Chart, Marker, Series
from bench.run.histograms import decode, new_histogram
from bench.schema import CompareResult, RunResult

#: At most this many points per curve: enough for a smooth line, small HTML.
MAX_POINTS = 400


def colour_of(archs: Sequence[str], arch: str) -> str:
    return PALETTE[list(archs).index(arch) % len(PALETTE)] if arch in archs else PALETTE[-1]


def usable(result: RunResult) -> bool:
    """May this run's latencies be shown? (no ``all``-scope gate failed)."""
    return all(g.passed or g.scope != "all" for g in result.gates)


def runs_by_arch(result: CompareResult) -> dict[str, list[RunResult]]:
    out: dict[str, list[RunResult]] = {arch: [] for arch in result.settings.archs}
    for record in result.runs:
        out.setdefault(record.arch, []).append(record.result)
    return out


def merged(runs: Sequence[RunResult], metric: str, scope: str = "all") -> HdrHistogram:
    """One histogram of ``metric`` in ``scope`` over every usable run."""
    total = new_histogram()
    for run in runs:
        if not usable(run):
            continue
        for hist in run.histograms:
            if hist.metric == metric and hist.scope == scope:
                total.add(decode(hist.encoded))
    return total


def _thin(xs: list[float], ys: list[float]) -> tuple[list[float], list[float]]:
    if len(xs) <= MAX_POINTS:
        return xs, ys
    keep = np.unique(np.linspace(0, len(xs) - 1, MAX_POINTS).astype(int)).tolist()
    return [xs[i] for i in keep], [ys[i] for i in keep]


def cdf_points(hist: HdrHistogram) -> tuple[list[float], list[float]]:
    """(latency ms, cumulative fraction) at every recorded bucket."""
    total = hist.get_total_count()
    if not total:
        return [], []
    xs: list[float] = []
    ys: list[float] = []
    for item in hist.get_recorded_iterator():
        xs.append(item.value_iterated_to / 1e6)
        ys.append(item.total_count_to_this_value / total)
    return _thin(xs, ys)


def percentile_points(hist: HdrHistogram, steps: int = 200) -> tuple[list[float], list[float]]:
    """(percentile as a fraction, latency ms), evenly spaced in nines up to the last sample."""
    total = hist.get_total_count()
    if not total:
        return [], []
    top = math.log10(max(total, 10))
    levels = [1 - 10.0**-k for k in np.linspace(0.0, top, steps).tolist()]
    levels = [p for p in levels if p <= 1 - 1 / total] or [0.0]
    xs = list(levels)
    ys = [hist.get_value_at_percentile(p * 100) / 1e6 for p in levels]
    # The curve ends on the largest sample, drawn at the last percentile the samples resolve.
    xs.append(max(xs[-1], 1 - 1 / total))
    ys.append(hist.get_max_value() / 1e6)
    return xs, ys


def latency_cdf(result: CompareResult) -> Chart:
    archs = result.settings.archs
    chart = Chart(
        "Response latency CDF (from intended time)",
        Axis("latency (ms, log)", "log"),
        Axis("fraction of deliveries ≤ latency"),
    )
    every: list[float] = []
    for arch, runs in runs_by_arch(result).items():
        colour = colour_of(archs, arch)
        for metric, dash in (("response", ""), ("service", "5 3")):
            xs, ys = cdf_points(merged(runs, metric))
            every += xs
            label = arch if metric == "response" else f"{arch} service time"
            chart.series.append(Series(label, xs, ys, colour, "step", dash=dash))
    chart.x.fit(every)
    chart.y.lo, chart.y.hi = 0.0, 1.0
    chart.note = "dashed: service time (completed - dispatched)"
    return chart


def hdr_percentiles(result: CompareResult) -> Chart:
    archs = result.settings.archs
    chart = Chart(
        "Response latency by percentile (HDR plot)",
        Axis("percentile", "nines"),
        Axis("latency (ms, log)", "log"),
    )
    xs_all: list[float] = []
    ys_all: list[float] = []
    for arch, runs in runs_by_arch(result).items():
        hist = merged(runs, "response")
        xs, ys = percentile_points(hist)
        xs_all += xs
        ys_all += ys
        count = hist.get_total_count()
        chart.series.append(Series(f"{arch} (n={count:,})", xs, ys, colour_of(archs, arch)))
    chart.x.fit(xs_all)
    chart.y.fit(ys_all)
    return chart


def _phase_steps(
    starts: Sequence[float], end: float, values: Sequence[float]
) -> tuple[list[float], list[float]]:
    return [*starts, end], [*values, values[-1]] if values else []


def _pattern_series(result: CompareResult, runs: Sequence[RunResult]) -> Series | None:
    """The intended rate over time, drawn behind on the right-hand axis."""
    import workload

    spec = runs[0].spec
    try:
        phases = workload.plan_phases(
            spec.profile, spec.pattern, duration_s=spec.duration_s, base_rate=spec.base_rate
        )
    except Exception:
        # The scenarios may have changed since the run; the measured offered rates remain.
        first = runs[0].phases
        if not first:
            return None
        end = first[-1].start_s + first[-1].duration_s
        xs, ys = _phase_steps([p.start_s for p in first], end, [p.offered_eps for p in first])
        return Series("offered (events/s)", xs, ys, BACKDROP, "area", on_y2=True)
    edges: list[float] = []
    rates: list[float] = []
    for phase in phases:
        edges += [phase.start_s, phase.end_s]
        rates += [phase.rate_start, phase.rate_end]
    return Series("intended rate (events/s)", edges, rates, BACKDROP, "area", on_y2=True)


def _mean_per_phase(runs: Sequence[RunResult], field: str) -> tuple[list[float], list[float]]:
    """Phase starts and the mean of ``field`` per phase over usable runs."""
    chosen = [r for r in runs if usable(r) and r.phases] or [r for r in runs if r.phases]
    if not chosen:
        return [], []
    names = [p.name for p in chosen[0].phases]
    starts = [p.start_s for p in chosen[0].phases]
    means = []
    for i, _ in enumerate(names):
        means.append(float(np.mean([getattr(r.phases[i], field) for r in chosen])))
    return starts, means


def over_time(result: CompareResult) -> tuple[Chart, Chart]:
    """Throughput and response latency per phase, the intended rate drawn behind both."""
    archs = result.settings.archs
    by_arch = runs_by_arch(result)
    any_runs = [r for runs in by_arch.values() for r in runs]
    end = max((p.start_s + p.duration_s for r in any_runs for p in r.phases), default=1.0)
    thr = Chart("Completed deliveries/s per phase", Axis("time (s)", lo=0.0, hi=end),
                Axis("deliveries/s"), Axis("intended events/s"))  # fmt: skip
    lat = Chart("Response latency per phase", Axis("time (s)", lo=0.0, hi=end),
                Axis("latency (ms, log)", "log"), Axis("intended events/s"))  # fmt: skip
    pattern = _pattern_series(result, any_runs) if any_runs else None
    rates: list[float] = []
    thr_values: list[float] = []
    lat_values: list[float] = []
    if pattern is not None:
        thr.series.append(pattern)
        lat.series.append(pattern)
        rates = list(pattern.ys)
    for arch, runs in by_arch.items():
        colour = colour_of(archs, arch)
        starts, means = _mean_per_phase(runs, "completed_dps")
        if not starts:
            continue
        xs, ys = _phase_steps(starts, end, means)
        thr.series.append(Series(arch, xs, ys, colour, "step"))
        thr_values += ys
        names = [p.name for p in runs[0].phases]
        for q, dash in ((99.0, ""), (50.0, "5 3")):
            vals = []
            for name in names:
                hist = merged(runs, "response", f"phase:{name}")
                count = hist.get_total_count()
                vals.append(hist.get_value_at_percentile(q) / 1e6 if count else math.nan)
            xs, ys = _phase_steps(starts, end, vals)
            lat.series.append(Series(f"{arch} p{q:g}", xs, ys, colour, "step", dash=dash))
            lat_values += ys
    thr.y.fit(thr_values)
    lat.y.fit(lat_values)
    for chart in (thr, lat):
        assert chart.y2 is not None
        chart.y2.fit(rates)
    return thr, lat


def phase_latency_throughput(result: CompareResult) -> Chart:
    """Each phase as a point: completed deliveries/s against its response p99."""
    archs = result.settings.archs
    chart = Chart(
        "Latency against throughput, one point per phase",
        Axis("completed deliveries/s"),
        Axis("response p99 (ms, log)", "log"),
    )
    xs_all: list[float] = []
    ys_all: list[float] = []
    for arch, runs in runs_by_arch(result).items():
        starts, means = _mean_per_phase(runs, "completed_dps")
        if not starts:
            continue
        names = [p.name for p in runs[0].phases]
        p99 = []
        for name in names:
            hist = merged(runs, "response", f"phase:{name}")
            p99.append(hist.get_value_at_percentile(99.0) / 1e6 if hist.get_total_count() else 0)
        chart.series.append(Series(arch, means, p99, colour_of(archs, arch), "points"))
        xs_all += means
        ys_all += p99
    chart.x.fit(xs_all)
    chart.y.fit(ys_all)
    return chart


def _window_means(runs: Sequence[RunResult], field: str) -> tuple[list[float], list[float]]:
    """Window start times and the mean over usable runs of a timeline series."""
    chosen = [r for r in runs if usable(r) and r.timeline.completed]
    if not chosen:
        return [], []
    n = min(len(getattr(r.timeline, field)) for r in chosen)
    window = chosen[0].timeline.window_s
    values = np.mean([list(getattr(r.timeline, field))[:n] for r in chosen], axis=0)
    return [i * window for i in range(n)], [float(v) for v in values]


def timeline_charts(result: CompareResult) -> list[Chart]:
    """Response p99 of the events intended in each 250 ms window, and the router's backlog
    with the breakers not closed: where a spike or an outage hurts and how it recovers."""
    archs = result.settings.archs
    by_arch = runs_by_arch(result)
    lat = Chart("Response p99 per 250 ms window (by intended time; mean of runs)",
                Axis("time (s)"), Axis("p99 (ms, log)", "log"))  # fmt: skip
    backlog = Chart("Router backlog per 250 ms window (mean of runs)", Axis("time (s)"),
                    Axis("deliveries not ended"), Axis("breakers not closed"))  # fmt: skip
    xs_all: list[float] = []
    lat_all: list[float] = []
    back_all: list[float] = []
    open_all: list[float] = []
    for arch, runs in by_arch.items():
        colour = colour_of(archs, arch)
        xs, p99 = _window_means(runs, "response_p99_ns")
        p99_ms = [v / 1e6 if v > 0 else math.nan for v in p99]
        lat.series.append(Series(arch, xs, p99_ms, colour, "step"))
        xs_b, load = _window_means(runs, "backlog")
        backlog.series.append(Series(arch, xs_b, load, colour, "step"))
        if result.settings.outages:
            xs_o, opened = _window_means(runs, "breakers_open")
            backlog.series.append(
                Series(f"{arch} breakers", xs_o, opened, colour, "step", dash="3 3", on_y2=True)
            )
            open_all += opened
        xs_all += xs + xs_b
        lat_all += p99_ms
        back_all += load
    for outage in result.settings.outages:
        for chart in (lat, backlog):
            chart.markers.append(Marker("x", outage.start_s, f"{outage.service} down", "#b00020"))
            chart.markers.append(Marker("x", outage.end_s, "up", "#11772d"))
    for chart in (lat, backlog):
        chart.x.fit(xs_all, pad=0.0)
    lat.y.fit(lat_all)
    backlog.y.fit(back_all)
    assert backlog.y2 is not None
    backlog.y2.fit([*open_all, 1.0])
    return [lat, backlog]
