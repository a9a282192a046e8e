"""Equal-utilisation comparison: each architecture at the same fraction of its own capacity.

``compare`` at one offered rate compares a router at 30% of its capacity with one at
60% of its own. Here each architecture's capacity comes from a capacity file
(``capacity --json``) or a quick search run first (:func:`quick_search`), and at each
level u (``--at-capacity 0.5,0.8,0.95``) each architecture is offered the pattern
scaled so that its *mean* offered rate is u x its capacity (utilisation in the
queueing sense: arrival rate over service rate; a spike pattern's spikes then go
above capacity, and the table says how far). The capacity used is the claimed one,
or where there is no claim the highest rate the search saw pass (the lower end of
its interval); either way the file or the search says which.

Each level is an ordinary adaptive comparison (:mod:`bench.experiments.adaptive`),
every run a fresh subprocess at its architecture's own rate, judged on latency
(throughput differs by design). The capacity ratio of each architecture against the
first is C_b / C_a with the interval [L_b / H_a, H_b / L_a] from the two searches'
intervals [L, H]; H counts only where the router failed there (a search stopped by
the generator or the host bounds nothing above), so an end is open where it is unknown.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import msgspec

from bench.analysis.compare import METRICS
from bench.experiments import adaptive
from bench.experiments.capacity import SearchOutcome, SearchSettings
from bench.experiments.capacity_step import Criteria, Sizing, StepCallback, search_architectures
from bench.run.runner import Launcher, Progress, run_in_subprocess
from bench.schema import (
    SCHEMA,
    CompareResult,
    CompareSettings,
    Environment,
    Label,
    RunResult,
    RunSpec,
)
from events.errors import ConfigError

AT_CAPACITY_SCHEMA = "switchyard.at-capacity/1"
#: Headline metrics of a level: latency, since offered rates differ on purpose.
HEADLINE = ("response_p50", "response_p99")
#: What a level judges: every latency figure, and the recovery time after a higher-rate
#: phase where the metric exists (throughput differs by design, so it is left out).
LEVEL_METRICS = tuple(m for m in METRICS if m.unit == "ms" or m.name == "recovery")
#: Quick search: 2 s steps, 10% precision, one confirmation.
QUICK = SearchSettings(start_rate=500.0, precision=0.10, confirmations=1, max_steps=40)
QUICK_STEP_S = 2.0


class Capacity(msgspec.Struct, frozen=True):
    """The capacity one architecture's levels scale: ``rate`` and the interval [low, high]."""

    arch: str
    rate: float
    low: float | None
    high: float | None
    claimed: bool
    limited_by: str
    source: str


class CapacityRatio(msgspec.Struct, frozen=True):
    """Capacity of ``arch`` over that of ``baseline``; ends None where an interval is open."""

    baseline: str
    arch: str
    ratio: float
    low: float | None
    high: float | None
    verdict: Label
    explanation: str


class Level(msgspec.Struct, frozen=True):
    """One utilisation level: each architecture's offered rates and the comparison there."""

    level: float
    mean_rate: dict[str, float]
    base_rate: dict[str, float]
    peak_rate: dict[str, float]
    comparison: CompareResult


class AtCapacityResult(msgspec.Struct, frozen=True):
    """What ``compare --at-capacity --json`` writes."""

    schema: str
    environment: Environment
    profile: str
    pattern: str
    capacities: tuple[Capacity, ...]
    ratios: tuple[CapacityRatio, ...]
    levels: tuple[Level, ...]
    elapsed_s: float
    #: The quick search's outcomes, when the capacities came from one.
    search: tuple[SearchOutcome, ...] = ()
    #: The machine's hashing speed (bytes/µs) after each search step.
    machine_speed: tuple[float, ...] = ()


def parse_levels(text: str) -> tuple[float, ...]:
    """``0.5,0.8,0.95`` -> (0.5, 0.8, 0.95); each in (0, 1.5], distinct, ascending."""
    try:
        levels = tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise ConfigError(f"--at-capacity {text!r}: expected fractions such as 0.5,0.8") from None
    if not levels or any(not 0.0 < u <= 1.5 for u in levels):
        raise ConfigError(f"--at-capacity {text!r}: each level must lie in (0, 1.5]")
    if len(set(levels)) != len(levels):
        raise ConfigError(f"--at-capacity {text!r}: a level is repeated")
    return tuple(sorted(levels))


def from_outcome(arch: str, outcome: SearchOutcome, source: str) -> Capacity:
    """The capacity a level scales: the claim, else the interval's lower end."""
    rate = outcome.capacity if outcome.capacity is not None else outcome.low
    if rate is None:
        raise ConfigError(
            f"{arch}: the capacity search ({source}) found no rate that met the SLO, so"
            " there is no capacity to take a fraction of"
        )
    return Capacity(
        arch, rate, outcome.low, outcome.router_high, outcome.capacity is not None,
        outcome.limited_by, source,
    )  # fmt: skip


def from_sizings(sizings: Sequence[Sizing], archs: Sequence[str], source: str) -> list[Capacity]:
    """Each of ``archs`` from a capacity file's sizings; raise ConfigError for one it lacks."""
    found = {s.arch: s.outcome for s in sizings}
    missing = [a for a in archs if a not in found]
    if missing:
        have = ", ".join(found) or "none"
        raise ConfigError(f"{source} has no capacity for {', '.join(missing)} (it has {have})")
    return [from_outcome(a, found[a], source) for a in archs]


def quick_search(
    archs: Sequence[str],
    base: RunSpec,
    criteria: Criteria,
    max_time_s: float,
    settings: SearchSettings = QUICK,
    launch: Launcher = run_in_subprocess,
    on_step: StepCallback | None = None,
) -> dict[str, SearchOutcome]:
    """A time-bounded search per architecture (steps interleaved; see capacity_bounded)."""
    return search_architectures(
        archs, base, settings, criteria, launch=launch, on_step=on_step, max_time_s=max_time_s
    )


def capacity_ratio(
    a: Capacity, b: Capacity, noise: float, host_deviation: float | None = None
) -> CapacityRatio:
    """C_b / C_a with the interval the two capacity intervals allow (see the module doc).

    A difference no larger than ``host_deviation`` (the machine-speed spread during the
    searches) is not established, even between intervals that are apart.
    """
    ratio = b.rate / a.rate
    low = b.low / a.high if b.low is not None and a.high is not None else None
    high = b.high / a.low if b.high is not None and a.low else None
    label: Label
    if low is not None and low > 1.0 + noise:
        label, why = "better", f"{b.arch} carries more: even the interval's low end is {low:.2f}x"
    elif high is not None and high < 1.0 - noise:
        label, why = "worse", f"{b.arch} carries less: even the interval's high end is {high:.2f}x"
    elif low is not None and high is not None and low >= 1.0 - noise and high <= 1.0 + noise:
        label, why = "equivalent", f"the interval lies within ±{noise:.0%}"
    elif low is None or high is None:
        label = "inconclusive"
        why = "a search made no claim, so its interval is open: no difference is established"
    else:
        label, why = "inconclusive", "the capacity intervals overlap: no difference is established"
    drift = host_deviation is not None and abs(ratio - 1.0) <= host_deviation
    if label in ("better", "worse") and drift:
        label = "inconclusive"
        why = (
            f"the intervals are apart, but the machine's speed moved ±{host_deviation:.0%}"
            " during the search, more than that difference: not established on this host"
        )
    return CapacityRatio(a.arch, b.arch, ratio, low, high, label, why)


def shape(profile: str, pattern: str, duration_s: float | None) -> tuple[float, float]:
    """(mean, peak) offered rate of the pattern per unit of base rate."""
    import workload

    phases = workload.plan_phases(profile, pattern, duration_s=duration_s, base_rate=1.0)
    total = sum(p.duration_s for p in phases)
    mean = sum(p.expected_events for p in phases) / total
    peak = max(max(p.rate_start, p.rate_end) for p in phases)
    return mean, peak


def measure_level(
    level: float,
    labels: Sequence[str],
    names: dict[str, str],
    capacities: dict[str, Capacity],
    base: RunSpec,
    settings: adaptive.AdaptiveSettings,
    progress: Progress,
    environment: Callable[[str], Environment],
    launch: Launcher = run_in_subprocess,
) -> Level:
    """The adaptive comparison at ``level``: each label at level x its own capacity."""
    mean_factor, peak_factor = shape(base.profile, base.pattern, base.duration_s)
    rates = {label: level * capacities[names[label]].rate for label in labels}
    base_rates = {label: rate / mean_factor for label, rate in rates.items()}
    by_arch = {names[label]: base_rates[label] for label in labels}

    def at_rate(spec: RunSpec, timeout_s: float) -> RunResult:
        return launch(msgspec.structs.replace(spec, base_rate=by_arch[spec.arch]), timeout_s)

    began = time.monotonic()
    outcome = adaptive.run_adaptive(
        labels, base, msgspec.structs.replace(settings, headline=HEADLINE), progress,
        names=names, launch=at_rate, metrics=LEVEL_METRICS,
    )  # fmt: skip
    hashes: dict[str, set[str]] = {}
    for record in outcome.records:
        hashes.setdefault(record.arch, set()).add(record.result.schedule_hash)
    if any(len(h) != 1 for h in hashes.values()):
        raise ConfigError("runs of one architecture saw different schedules: not comparable")
    joined = ",".join(f"{label}={next(iter(h))[:12]}" for label, h in hashes.items())
    comparison = CompareResult(
        schema=SCHEMA,
        environment=environment(joined),
        settings=CompareSettings(
            archs=tuple(labels), profile=base.profile, pattern=base.pattern, seed=base.seed,
            runs=min(len([r for r in outcome.records if r.arch == a]) for a in labels),
            duration_s=base.duration_s or 0.0, warmup_s=settings.warmup_s, noise=settings.noise,
            loop=base.loop, order=outcome.blocks,
        ),
        runs=outcome.records,
        ratios=outcome.ratios,
        elapsed_s=time.monotonic() - began,
        sequential=outcome.sequential,
    )  # fmt: skip
    return Level(
        level,
        rates,
        base_rates,
        {label: rate * peak_factor for label, rate in base_rates.items()},
        comparison,
    )
