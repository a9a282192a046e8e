"""From measured runs to ratios: per metric, each architecture against the first.

A run that failed an ``all`` gate is left out of every metric (its figures
cannot be trusted); a run that failed only a ``capacity`` gate (the generator
fell behind) is left out of throughput alone, since its latencies still count
from the intended times. Verdicts come from :mod:`bench.analysis.stats`.

Failures are two metrics: ``reject_rate`` (events the router rejected, % of events
published) and ``failure_rate`` (deliveries dead-lettered or dropped, % of deliveries
started).

``recovery`` is a run's mean recovery time over its episodes (:mod:`bench.run.recovery`):
an episode not recovered within its horizon counts at the horizon (a lower bound), one
too short to measure is left out, and a run with no measured episode gives no value.
``startup`` (process start to router ready) and ``idle_rss`` (resident memory once the
router is ready, before any load) answer "does it start slower, hold more at idle?".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from bench.schema import Label, Ratio, RunResult


class Metric:
    """A per-run figure the comparison judges; ``value`` is None where a run has none."""

    def __init__(
        self,
        name: str,
        unit: str,
        higher_is_better: bool,
        value: Callable[[RunResult], float | None],
        needs_capacity: bool = False,
        applies: Callable[[RunResult], bool] | None = None,
        missing: str = "",
    ) -> None:
        self.name = name
        self.unit = unit
        self.higher_is_better = higher_is_better
        self.value = value
        self.needs_capacity = needs_capacity
        #: Does the metric mean anything for this run? A metric no run applies to is
        #: left out of the comparison (no recovery in a steady run without an outage).
        self.applies = applies
        #: Why a run it applies to may still have no value.
        self.missing = missing

    def applies_to(self, results: Sequence[RunResult]) -> bool:
        return self.applies is None or any(self.applies(r) for r in results)

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


def recovery_s(result: RunResult) -> float | None:
    """The run's mean recovery time (s) over its measured episodes; None when it has none."""
    times = [
        r.recovery_s if r.recovery_s is not None else r.horizon_s
        for r in result.recoveries
        if r.status != "too_short"
    ]
    return sum(times) / len(times) if times else None


METRICS: tuple[Metric, ...] = (
    Metric("throughput", "deliveries/s", True, lambda r: r.throughput_dps, needs_capacity=True),
    Metric("payload", "MB/s", True, lambda r: r.payload_mbps, needs_capacity=True),
    Metric("response_p50", "ms", False, _ms("response", "p50")),
    Metric("response_p95", "ms", False, _ms("response", "p95")),
    Metric("response_p99", "ms", False, _ms("response", "p99")),
    Metric("response_p99.9", "ms", False, _ms("response", "p999")),
    Metric("service_p99", "ms", False, _ms("service", "p99")),
    Metric("dispatch_lag_p99", "ms", False, _ms("dispatch_lag", "p99")),
    Metric(
        "recovery",
        "s",
        False,
        recovery_s,
        applies=lambda r: bool(r.recoveries),
        missing="every recovery episode was too short to measure (see the phase table)",
    ),
    Metric("peak_rss", "MiB", False, lambda r: r.resources.rss_peak_bytes / 2**20),
    Metric("idle_rss", "MiB", False, lambda r: r.resources.rss_idle_bytes / 2**20),
    Metric("startup", "s", False, lambda r: r.resources.startup_s),
    Metric("cpu", "s", False, lambda r: r.resources.cpu_s),
    # CPU of the run's process plus the processes it relies on (the nats-server of
    # ``jetstream``): judged only where some run recorded such a process.
    Metric(
        "cpu_total",
        "s",
        False,
        lambda r: r.resources.cpu_s + sum(r.resources.external_cpu_s.values()),
        applies=lambda r: bool(r.resources.external_cpu_s),
    ),
    # Two rates, never one sum: rejects count events, failures count deliveries.
    Metric("reject_rate", "%", False, lambda r: r.rates().reject_rate * 100.0),
    Metric("failure_rate", "%", False, lambda r: r.rates().failure_rate * 100.0),
)


def values_of(metric: Metric, results: Sequence[RunResult]) -> list[float]:
    """The metric's value in every usable run that has one."""
    values = (metric.value(r) for r in results if metric.usable(r))
    return [v for v in values if v is not None]


def compare_metric(
    metric: Metric,
    baseline: str,
    arch: str,
    a: Sequence[float],
    b: Sequence[float],
    noise: float,
    seed: int,
    confidence: float = 0.95,
) -> Ratio:
    """The ratio arch/baseline of one metric with its CI and verdict.

    The interval is :func:`bench.analysis.intervals.metric_ci` at ``confidence`` (below
    1 - 5% when looks are repeated, :mod:`bench.analysis.sequential`).
    """
    # Imported here: scipy costs a second of start-up to every process that imports
    # this module, run workers included, and only a comparison needs it.
    from bench.analysis.intervals import metric_ci
    from bench.analysis.stats import verdict

    mean_a = float(np.mean(a)) if len(a) else None
    mean_b = float(np.mean(b)) if len(b) else None

    def ratio(
        label: Label, explanation: str, r: float | None = None, low: float | None = None,
        high: float | None = None, runs_needed: int | None = None,
    ) -> Ratio:  # fmt: skip
        return Ratio(
            metric=metric.name, unit=metric.unit, higher_is_better=metric.higher_is_better,
            baseline=baseline, arch=arch, baseline_mean=mean_a, arch_mean=mean_b,
            ratio=r, low=low, high=high, confidence=confidence, n_baseline=len(a), n_arch=len(b),
            verdict=label, runs_needed=runs_needed, explanation=explanation,
        )  # fmt: skip

    if len(a) < 2 or len(b) < 2:
        why = f"; {metric.missing}" if metric.missing and not (a or b) else ""
        return ratio(
            "inconclusive",
            f"only {len(a)} usable {baseline} and {len(b)} usable {arch} runs;"
            f" at least 2 valid runs per architecture are needed{why}",
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
        ci = metric_ci(metric.name, a, b, confidence=confidence, seed=seed)
    except ValueError as exc:
        return ratio("inconclusive", f"no ratio: {exc}")
    v = verdict(
        ci, noise=noise, higher_is_better=metric.higher_is_better, a_name=baseline, b_name=arch
    )
    return ratio(v.label, v.explanation, ci.ratio, ci.low, ci.high, v.runs_needed)


def compare_runs(
    archs: Sequence[str],
    results: dict[str, list[RunResult]],
    noise: float,
    seed: int,
    confidence: float = 0.95,
    metrics: Sequence[Metric] = METRICS,
) -> tuple[Ratio, ...]:
    """Every metric of every architecture after the first, against the first."""
    baseline = archs[0]
    out = []
    for arch in archs[1:]:
        for index, metric in enumerate(metrics):
            if not metric.applies_to([*results[baseline], *results[arch]]):
                continue
            out.append(
                compare_metric(
                    metric,
                    baseline,
                    arch,
                    values_of(metric, results[baseline]),
                    values_of(metric, results[arch]),
                    noise,
                    seed + index,
                    confidence,
                )
            )
    return tuple(out)
