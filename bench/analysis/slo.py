"""Service-level objectives: parse them, load them from configs/slo.toml, check runs against them.

Objectives are written k6-style: ``p99<=50ms`` (or ``p95<=20ms``, any percentile) bounds
a percentile of the response latency (completed - intended), ``0.1%`` bounds each of
the two failure rates (:func:`rate_breaches`: the event-level ``reject_rate`` and the
delivery-level ``failure_rate``, never their sum), ``256MiB`` bounds the memory growth
(peak RSS minus RSS after set-up), ``4MiB/h`` bounds the resident-memory trend of a
soak (a breach is a trend whose whole 95% CI lies above it, :mod:`bench.analysis.trend`).
:func:`check` judges any run on the point estimates it recorded; the capacity search
asks for more, the upper confidence bound of the percentile (:func:`latency_upper_bound_ns`).

Two tiers: the ``[slo]`` table holds the **fail** level (a breach exits 5), the optional
``[slo.warn]`` table the same kinds of objective at a **warn** level (printed and kept
in the results, exit 0). A warning is left out when the same objective (the same
percentile, rate or memory figure) already failed in that run.

The runs hold HDR histograms, not raw samples. The order-statistic bound only needs the
k-th smallest sample, so each recorded sample is replaced by the highest value of its HDR
bucket (the sample can only be smaller) and :func:`bench.analysis.stats.percentile_upper_bound`
runs on those: the bound is exact up to one bucket (0.1% at three significant digits) and
errs on the high, safe side.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import msgspec
import numpy as np

from bench.analysis.stats import percentile_upper_bound
from bench.run.histograms import decode
from bench.schema import CompareResult, Histogram, RssTrend, RunResult, SloLevel, Violation
from events.config import CONFIG_DIR, load_table
from events.errors import ConfigError

DEFAULT_PATH = CONFIG_DIR / "slo.toml"

_UNITS_NS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000}
_LATENCY = re.compile(r"^\s*p(\d+(?:\.\d+)?)\s*(<=|<)\s*(\d+(?:\.\d+)?)\s*(ns|us|µs|ms|s)\s*$")
_BYTES = {"b": 1, "kib": 2**10, "mib": 2**20, "gib": 2**30, "kb": 10**3, "mb": 10**6, "gb": 10**9}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmg]i?b|b)\s*$", re.IGNORECASE)


class LatencyObjective(msgspec.Struct, frozen=True):
    """The ``percentile`` (0-100) of response latency must not exceed ``threshold_ns``."""

    text: str
    percentile: float
    threshold_ns: int
    strict: bool = False

    @property
    def q(self) -> float:
        return self.percentile / 100.0

    def holds(self, value_ns: float) -> bool:
        return value_ns < self.threshold_ns if self.strict else value_ns <= self.threshold_ns


class WarnFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The ``[slo.warn]`` table: objectives at the warning level (each optional)."""

    latency: tuple[str, ...] = ()
    errors: str | None = None
    memory_growth: str | None = None
    rss_growth: str | None = None


class SloFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The ``[slo]`` table of configs/slo.toml, as written (its objectives fail a run)."""

    latency: tuple[str, ...] = ("p99<=50ms",)
    errors: str = "0.1%"
    memory_growth: str = "256MiB"
    rss_growth: str = "4MiB/h"
    confidence: float = 0.95
    warn: WarnFile | None = None


class SloTier(msgspec.Struct, frozen=True):
    """The objectives of the warning level; a field left None is not checked."""

    latency: tuple[LatencyObjective, ...] = ()
    error_rate: float | None = None
    memory_growth_bytes: int | None = None
    rss_growth_mib_per_h: float | None = None


class Slo(msgspec.Struct, frozen=True):
    """Parsed objectives: latency percentiles, a memory growth limit, ``error_rate`` (the
    fraction that reject_rate and failure_rate must each stay within) and the soak's RSS
    trend limit, all at the fail level; ``warn`` holds the warning level, if any."""

    latency: tuple[LatencyObjective, ...]
    error_rate: float
    memory_growth_bytes: int | None = None
    confidence: float = 0.95
    rss_growth_mib_per_h: float | None = None
    warn: SloTier | None = None

    def texts(self) -> tuple[str, ...]:
        """Every objective in words, each with its level."""
        out = [f"fail: {o.text}" for o in self.latency]
        out.append(f"fail: errors<={self.error_rate:.4%}")
        if self.memory_growth_bytes is not None:
            out.append(f"fail: memory_growth<={self.memory_growth_bytes / 2**20:g}MiB")
        if self.rss_growth_mib_per_h is not None:
            out.append(f"fail: rss_growth<={self.rss_growth_mib_per_h:g}MiB/h")
        w = self.warn
        if w is not None:
            out += [f"warn: {o.text}" for o in w.latency]
            if w.error_rate is not None:
                out.append(f"warn: errors<={w.error_rate:.4%}")
            if w.memory_growth_bytes is not None:
                out.append(f"warn: memory_growth<={w.memory_growth_bytes / 2**20:g}MiB")
            if w.rss_growth_mib_per_h is not None:
                out.append(f"warn: rss_growth<={w.rss_growth_mib_per_h:g}MiB/h")
        return tuple(out)


def parse_latency(text: str) -> LatencyObjective:
    """``p99<=50ms`` -> a :class:`LatencyObjective`; raise ConfigError saying what is wrong."""
    match = _LATENCY.match(text)
    if match is None:
        raise ConfigError(
            f"latency objective {text!r}: expected p<percentile><=<number><unit>,"
            " e.g. 'p99<=50ms' (units ns, us, ms, s)"
        )
    percentile = float(match.group(1))
    if not 0.0 < percentile < 100.0:
        raise ConfigError(f"latency objective {text!r}: percentile must lie in (0, 100)")
    threshold = float(match.group(3)) * _UNITS_NS[match.group(4)]
    if threshold <= 0:
        raise ConfigError(f"latency objective {text!r}: the threshold must be positive")
    return LatencyObjective(text.strip(), percentile, int(threshold), match.group(2) == "<")


def parse_latencies(text: str) -> tuple[LatencyObjective, ...]:
    """A comma-separated list of latency objectives (at least one)."""
    parts = [p for p in text.split(",") if p.strip()]
    if not parts:
        raise ConfigError("no latency objective given: e.g. --slo 'p99<=50ms'")
    return tuple(parse_latency(p) for p in parts)


def parse_error_rate(text: str) -> float:
    """``0.1%`` or ``0.001`` -> 0.001; raise ConfigError outside [0, 1]."""
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100.0 if raw.endswith("%") else float(raw)
    except ValueError:
        raise ConfigError(f"error-rate objective {text!r}: expected e.g. '0.1%' or 0.001") from None
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"error-rate objective {text!r}: must lie between 0% and 100%")
    return value


def parse_size(text: str) -> int:
    """``256MiB`` -> bytes; raise ConfigError on anything else."""
    match = _SIZE.match(text)
    if match is None:
        raise ConfigError(f"size {text!r}: expected a number and a unit (B, KiB, MiB, GiB, MB …)")
    return int(float(match.group(1)) * _BYTES[match.group(2).lower()])


_RATE = re.compile(r"^\s*(.+?)\s*/\s*h(?:our)?\s*$", re.IGNORECASE)


def parse_growth_rate(text: str) -> float:
    """``4MiB/h`` -> MiB per hour; raise ConfigError on anything else."""
    match = _RATE.match(text)
    if match is None:
        raise ConfigError(f"growth rate {text!r}: expected a size per hour, e.g. '4MiB/h'")
    return parse_size(match.group(1)) / 2**20


def _warn_tier(raw: WarnFile) -> SloTier:
    return SloTier(
        latency=tuple(parse_latency(t) for t in raw.latency),
        error_rate=None if raw.errors is None else parse_error_rate(raw.errors),
        memory_growth_bytes=None if raw.memory_growth is None else parse_size(raw.memory_growth),
        rss_growth_mib_per_h=None if raw.rss_growth is None else parse_growth_rate(raw.rss_growth),
    )


def from_file(raw: SloFile, where: str) -> Slo:
    """Parse the objectives of a loaded ``[slo]`` table (and its ``[slo.warn]``)."""
    if not 0.0 < raw.confidence < 1.0:
        raise ConfigError(f"{where}: confidence must lie strictly between 0 and 1")
    try:
        latency = tuple(parse_latency(t) for t in raw.latency)
        errors = parse_error_rate(raw.errors)
        memory = parse_size(raw.memory_growth)
        rss = parse_growth_rate(raw.rss_growth)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    try:
        warn = None if raw.warn is None else _warn_tier(raw.warn)
    except ConfigError as exc:
        raise ConfigError(f"{where} [slo.warn]: {exc}") from None
    return Slo(latency, errors, memory, raw.confidence, rss, warn)


def load(path: str | Path = DEFAULT_PATH) -> Slo:
    """The objectives of ``[slo]`` in ``path`` (configs/slo.toml by default)."""
    return from_file(load_table(path, "slo", SloFile), f"{path} [slo]")


#: The rates ``errors<=X`` bounds, each with what it counts.
RATES = (
    ("reject_rate", "rejected events / events published"),
    ("failure_rate", "dead-lettered + dropped deliveries / deliveries started"),
)


def rate_breaches(result: RunResult, limit: float) -> list[tuple[str, str, float]]:
    """(name, what it counts, measured) of each rate of :data:`RATES` above ``limit``."""
    rates = result.rates()
    measured = {"reject_rate": rates.reject_rate, "failure_rate": rates.failure_rate}
    return [(name, what, measured[name]) for name, what in RATES if measured[name] > limit]


def response_histogram(result: RunResult, scope: str = "all") -> Histogram:
    """The run's response-latency histogram; KeyError when it was not recorded."""
    for hist in result.histograms:
        if hist.metric == "response" and hist.scope == scope:
            return hist
    raise KeyError(f"no response histogram for scope {scope!r}")


def bucket_samples(hist: Histogram) -> np.ndarray:
    """Every recorded sample as the highest value of its HDR bucket (an upper stand-in)."""
    hdr = decode(hist.encoded)
    counts = np.asarray(hdr.counts[: hdr.counts_len], dtype=np.int64)
    nonzero = np.flatnonzero(counts)
    tops = [hdr.get_highest_equivalent_value(hdr.get_value_from_index(int(i))) for i in nonzero]
    return np.repeat(np.asarray(tops, dtype=np.int64), counts[nonzero])


def latency_upper_bound_ns(hist: Histogram, q: float, confidence: float = 0.95) -> float:
    """Upper ``confidence`` bound of the q-quantile of a recorded histogram (see module doc).

    Raises ValueError when the histogram holds too few samples to bound it.
    """
    return percentile_upper_bound(bucket_samples(hist), q, confidence=confidence)


def _percentile_ns(hist: Histogram, percentile: float) -> float:
    summary = hist.summary
    named = {
        50.0: summary.p50,
        90.0: summary.p90,
        95.0: summary.p95,
        99.0: summary.p99,
        99.9: summary.p999,
    }
    if percentile in named:
        return float(named[percentile])
    return float(decode(hist.encoded).get_value_at_percentile(percentile))


def _tier_violations(
    result: RunResult,
    run: int,
    level: SloLevel,
    latency: Sequence[LatencyObjective],
    error_rate: float | None,
    memory_growth_bytes: int | None,
) -> list[tuple[str, Violation]]:
    """(kind, violation) of one tier; ``kind`` names the figure, so tiers can be merged."""
    arch = result.spec.arch
    out: list[tuple[str, Violation]] = []
    hist = response_histogram(result)
    for objective in latency:
        kind = f"latency p{objective.percentile:g}"
        if hist.summary.count == 0:
            out.append((kind, Violation(
                arch, run, objective.text, float("nan"), objective.threshold_ns / 1e6,
                "no delivery completed, so no latency was measured", level)))  # fmt: skip
            continue
        value = _percentile_ns(hist, objective.percentile)
        if not objective.holds(value):
            out.append((kind, Violation(
                arch, run, objective.text, value / 1e6, objective.threshold_ns / 1e6,
                f"response p{objective.percentile:g} {value / 1e6:.2f} ms breaks"
                f" {objective.text}", level)))  # fmt: skip
    if error_rate is not None:
        for name, what, value in rate_breaches(result, error_rate):
            out.append((name, Violation(
                arch, run, f"errors<={error_rate:.4%}", value, error_rate,
                f"{name} {value:.4%} ({what}) exceeds {error_rate:.4%}", level)))  # fmt: skip
    if memory_growth_bytes is not None:
        growth = result.resources.rss_peak_bytes - result.resources.rss_setup_bytes
        if growth > memory_growth_bytes:
            out.append(("memory_growth", Violation(
                arch, run, f"memory_growth<={memory_growth_bytes / 2**20:.0f}MiB",
                growth / 2**20, memory_growth_bytes / 2**20,
                f"RSS grew {growth / 2**20:.1f} MiB during the run", level)))  # fmt: skip
    return out


def check_run(result: RunResult, slo: Slo, run: int = 0) -> list[Violation]:
    """The objectives one run broke, judged on its recorded point estimates: the fail
    level, then the warn level for figures that did not already fail."""
    failed = _tier_violations(
        result, run, "fail", slo.latency, slo.error_rate, slo.memory_growth_bytes
    )
    out = [v for _, v in failed]
    if slo.warn is not None:
        kinds = {kind for kind, _ in failed}
        w = slo.warn
        warned = _tier_violations(
            result, run, "warn", w.latency, w.error_rate, w.memory_growth_bytes
        )
        out += [v for kind, v in warned if kind not in kinds]
    return out


def check_trend(arch: str, run: int, trend: RssTrend, slo: Slo) -> list[Violation]:
    """A soak's RSS trend against the fail, then the warn level of ``rss_growth``: a
    breach is a ``leak`` verdict at that level's threshold."""
    from bench.analysis.trend import verdict

    if trend.verdict == "too short":
        return []
    levels: list[tuple[SloLevel, float]] = []
    if slo.rss_growth_mib_per_h is not None:
        levels.append(("fail", slo.rss_growth_mib_per_h))
    if slo.warn is not None and slo.warn.rss_growth_mib_per_h is not None:
        levels.append(("warn", slo.warn.rss_growth_mib_per_h))
    for level, limit in levels:
        label, _ = verdict(
            trend.slope_mib_per_h, trend.low, trend.high, trend.second_half_mib_per_h, limit
        )
        if label == "leak":
            return [
                Violation(
                    arch,
                    run,
                    f"rss_growth<={limit:g}MiB/h",
                    trend.slope_mib_per_h,
                    limit,
                    f"RSS grows {trend.slope_mib_per_h:.1f} MiB/h (95% CI {trend.low:.1f} to"
                    f" {trend.high:.1f}), wholly above {limit:g} MiB/h",
                    level,
                )
            ]
    return []


def check(
    results: RunResult | Sequence[RunResult] | CompareResult, slo: Slo | None = None
) -> list[Violation]:
    """Every objective broken by any run (objectives of configs/slo.toml by default).

    Runs that failed a validity gate are judged too: their latencies count from the
    intended times whatever the generator did, so an SLO breach is still a breach.
    A comparison's RSS trends (soak runs) are judged against ``rss_growth``.
    """
    objectives = load() if slo is None else slo
    if isinstance(results, RunResult):
        runs: Sequence[RunResult] = [results]
    elif isinstance(results, CompareResult):
        runs = [record.result for record in results.runs]
    else:
        runs = results
    out: list[Violation] = []
    for index, result in enumerate(runs):
        out.extend(check_run(result, objectives, index))
    if isinstance(results, CompareResult):
        for item in results.rss_trends:
            out.extend(check_trend(item.arch, item.run, item.trend, objectives))
    return out
