"""From measured runs to ratios: per metric, each architecture against the first.

A run that failed an ``all`` gate is left out of every metric (its figures
cannot be trusted); a run that failed only a ``capacity`` gate (the generator
fell behind) is left out of throughput alone, since its latencies still count
from the intended times. Verdicts come from :mod:`bench.analysis.stats`.

Failures are two metrics: ``reject_rate`` (events the router rejected, % of events
published) and ``failure_rate`` (deliveries dead-lettered or dropped, % of deliveries
started).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from bench.schema import Label, Ratio, RunResult


class Metric:
    """A per-run figure the comparison judges."""

    def __init__(
        self,
        name: str,
        unit: str,
        higher_is_better: bool,
        value: Callable[[RunResult], float],
        needs_capacity: bool = False,
    ) -> None:
        self.name = name
        self.unit = unit
        self.higher_is_better = higher_is_better
        self.value = value
        self.needs_capacity = needs_capacity

    def usable(self, result: RunResult) -> bool:
        """May this run's value enter the statistics of this metric?"""
        for gate in result.gates:
            if not gate.passed and (gate.scope == "all" or self.needs_capacity):
                return False
        return True


def _ms(metric: str, field: str) -> Callable[[RunResult], float]:
    def value(result: RunResult) -> float:
        return float(getattr(result.summary(metric), field)) / 1e6

    return value


METRICS: tuple[Metric, ...] = (
    Metric("throughput", "deliveries/s", True, lambda r: r.throughput_dps, needs_capacity=True),
    Metric("response_p50", "ms", False, _ms("response", "p50")),
    Metric("response_p99", "ms", False, _ms("response", "p99")),
    Metric("response_p99.9", "ms", False, _ms("response", "p999")),
    Metric("service_p99", "ms", False, _ms("service", "p99")),
    Metric("dispatch_lag_p99", "ms", False, _ms("dispatch_lag", "p99")),
    Metric("peak_rss", "MiB", False, lambda r: r.resources.rss_peak_bytes / 2**20),
    Metric("cpu", "s", False, lambda r: r.resources.cpu_s),
    # Two rates, never one sum: rejects count events, failures count deliveries.
    Metric("reject_rate", "%", False, lambda r: r.rates().reject_rate * 100.0),
    Metric("failure_rate", "%", False, lambda r: r.rates().failure_rate * 100.0),
)


#: CPU of the run's process plus the processes it relies on (the nats-server of
#: ``jetstream``); judged only in comparisons where some run recorded such a process.
CPU_TOTAL = Metric(
    "cpu_total", "s", False, lambda r: r.resources.cpu_s + sum(r.resources.external_cpu_s.values())
)


def metrics_for(results: Sequence[RunResult]) -> tuple[Metric, ...]:
    """The metrics to judge: :data:`METRICS`, and :data:`CPU_TOTAL` if any run has external CPU."""
    if any(r.resources.external_cpu_s for r in results):
        return (*METRICS, CPU_TOTAL)
    return METRICS


def values_of(metric: Metric, results: Sequence[RunResult]) -> list[float]:
    """The metric's value in every usable run."""
    return [metric.value(r) for r in results if metric.usable(r)]


def compare_metric(
    metric: Metric,
    baseline: str,
    arch: str,
    a: Sequence[float],
    b: Sequence[float],
    noise: float,
    seed: int,
) -> Ratio:
    """The ratio arch/baseline of one metric with its CI and verdict."""
    # Imported here: scipy costs a second of start-up to every process that imports
    # this module, run workers included, and only a comparison needs it.
    from bench.analysis.stats import ratio_ci, verdict

    mean_a = float(np.mean(a)) if len(a) else None
    mean_b = float(np.mean(b)) if len(b) else None

    def ratio(
        label: Label, explanation: str, r: float | None = None, low: float | None = None,
        high: float | None = None, runs_needed: int | None = None,
    ) -> Ratio:  # fmt: skip
        return Ratio(
            metric=metric.name, unit=metric.unit, higher_is_better=metric.higher_is_better,
            baseline=baseline, arch=arch, baseline_mean=mean_a, arch_mean=mean_b,
            ratio=r, low=low, high=high, confidence=0.95, n_baseline=len(a), n_arch=len(b),
            verdict=label, runs_needed=runs_needed, explanation=explanation,
        )  # fmt: skip

    if len(a) < 2 or len(b) < 2:
        return ratio(
            "inconclusive",
            f"only {len(a)} usable {baseline} and {len(b)} usable {arch} runs;"
            " at least 2 valid runs per architecture are needed",
        )
    if not any(a) and not any(b):
        return ratio("equivalent", f"{metric.name} is 0 in every run of both", 1.0, 1.0, 1.0)
    if min(a) <= 0:
        zeros = sum(1 for x in a if x <= 0)
        return ratio(
            "inconclusive",
            f"no ratio: {metric.name} of {baseline} is 0 in {zeros} of {len(a)} runs"
            f" (means {mean_a:.3g} vs {mean_b:.3g} {metric.unit})",
        )
    try:
        ci = ratio_ci(a, b, seed=seed)
    except ValueError as exc:
        return ratio("inconclusive", f"no ratio: {exc}")
    v = verdict(
        ci, noise=noise, higher_is_better=metric.higher_is_better, a_name=baseline, b_name=arch
    )
    return ratio(v.label, v.explanation, ci.ratio, ci.low, ci.high, v.runs_needed)


def compare_runs(
    archs: Sequence[str], results: dict[str, list[RunResult]], noise: float, seed: int
) -> tuple[Ratio, ...]:
    """Every metric of every architecture after the first, against the first."""
    baseline = archs[0]
    metrics = metrics_for([r for runs in results.values() for r in runs])
    out = []
    for arch in archs[1:]:
        for index, metric in enumerate(metrics):
            out.append(
                compare_metric(
                    metric,
                    baseline,
                    arch,
                    values_of(metric, results[baseline]),
                    values_of(metric, results[arch]),
                    noise,
                    seed + index,
                )
            )
    return tuple(out)
