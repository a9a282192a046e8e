"""The versioned result records of the bench: immutable msgspec Structs, validated on load.

A run worker writes one :class:`RunResult`; ``compare`` writes one
:class:`CompareResult` holding every measured run (warm-ups excluded), the
environment and the ratios. Latencies are integer nanoseconds throughout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import msgspec

from events.errors import SwitchyardError

SCHEMA = "switchyard.bench/3"

Scope = Literal["all", "capacity"]
Label = Literal["better", "worse", "equivalent", "inconclusive"]


class SchemaError(SwitchyardError):
    """Raised when a results file is missing, malformed or of another schema version."""


class Summary(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Percentiles of one histogram (ns); ``thin`` names percentiles resting on too few samples."""

    count: int
    p50: int
    p90: int
    p95: int
    p99: int
    p999: int
    max: int
    mean: float
    thin: tuple[str, ...] = ()


class Histogram(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One HDR histogram: ``metric`` is response, service or dispatch_lag; ``scope`` is
    ``all``, ``phase:<name>`` or ``category:<name>``; ``encoded`` is HdrHistogram.encode()."""

    metric: str
    scope: str
    summary: Summary
    encoded: str


class PhaseResult(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Offered versus achieved rates in one named phase of the pattern."""

    name: str
    start_s: float
    duration_s: float
    offered_eps: float
    published_eps: float
    accepted_eps: float
    completed_dps: float
    rejected: int
    #: Payload delivered in the phase (completed deliveries only), 10^6 bytes per second.
    completed_mbps: float = 0.0


class Accounting(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The router's counters after drain beside the bench's own counts."""

    published: int
    accepted: int
    rejected: dict[str, int]
    unrouted: int
    deliveries: int
    delivered: int
    dead_lettered: dict[str, int]
    dropped: dict[str, int]
    retries: int
    pending: int
    unaccounted: int
    bench_published: int
    bench_accepted: int
    bench_rejected: dict[str, int]
    bench_completions: int
    identity_errors: tuple[str, ...]
    drain_completed: bool
    drain_s: float


class Resources(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Process-level measurements of one run (bytes, seconds, milliseconds as named)."""

    startup_s: float
    #: RSS once the router has started with its subscribers, before the bench builds
    #: the schedule: what the architecture holds at idle.
    rss_idle_bytes: int
    rss_setup_bytes: int
    rss_peak_bytes: int
    ru_maxrss_bytes: int
    cpu_s: float
    cpu_user_s: float
    cpu_system_s: float
    cpu_us_per_event: float
    gc_pauses: int
    gc_pause_total_s: float
    gc_pause_max_s: float
    loop_lag_p99_ms: float
    loop_lag_max_ms: float
    #: Seconds the generator spent inside ``publish`` (its busy time; see
    #: :class:`bench.run.generator.GeneratorLog`). Absent (0) in older results.
    publish_s: float = 0.0
    #: CPU seconds the hypervisor took from this machine (all CPUs) during the
    #: window, from /proc/stat; 0 where there is no such column.
    steal_s: float = 0.0
    #: CPU seconds used during the window by processes outside this one that the
    #: run relies on, by name (``nats-server`` for ``jetstream``; see
    #: :mod:`bench.host.external`). Empty when none was named or readable.
    external_cpu_s: dict[str, float] = {}


class Gate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One validity check; ``scope`` capacity means only throughput claims are void."""

    name: str
    passed: bool
    scope: Scope
    detail: str


class Outage(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A window (seconds after the run's start) in which ``service`` fails every delivery."""

    service: str
    start_s: float
    duration_s: float

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s

    @property
    def label(self) -> str:
        return f"{self.service}:{self.start_s:g}:{self.duration_s:g}"


class TraceReplay(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A trace a run replays in place of a pattern (docs/traces.md), as the parent read it.

    ``path`` is absolute (each run worker reads the file itself) and ``hash`` the
    content hash the parent saw: a worker refuses a file that changed since. The
    replay options are those of ``--speed``, ``--scale``, ``--window``,
    ``--max-shift`` and ``--windows``; the seed is the run's.
    """

    path: str
    name: str
    hash: str
    speed: float = 1.0
    scale: float = 1.0
    window_start_s: float = 0.0
    window_end_s: float | None = None
    max_shift_s: float = 1.0
    windows: int = 10


class RunSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Everything that defines one run; the worker gets exactly this.

    With ``trace`` set the run replays it: ``pattern`` reads ``trace:<name>``,
    ``base_rate`` is unused and ``duration_s`` (if set) cuts the replay after that
    many seconds. ``scenarios`` is the scenarios file (absolute; None: the shipped
    configs/scenarios.toml). ``services`` is ``sim``, ``noop`` or
    ``module:factory`` (see :mod:`bench.run.services`).
    """

    arch: str
    profile: str
    pattern: str
    seed: int
    scenarios: str | None = None
    trace: TraceReplay | None = None
    duration_s: float | None = None
    base_rate: float | None = None
    loop: Literal["uvloop", "asyncio"] = "uvloop"
    services: str = "sim"
    drain_timeout_s: float = 10.0
    outages: tuple[Outage, ...] = ()


class ServiceResult(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One simulated service's deliveries and breaker over a run.

    ``copies`` is how many pipelines (breakers) the architecture gave the service (the
    coordinator keeps one per module its pattern can match). Breaker figures come from
    the router's stats sampled every ``sample_s``: ``breaker_trips`` counts observed
    moves of a copy from closed to open (a re-open from half-open within one sample is
    the same episode), ``breaker_open_s`` the time at least one copy was not closed.
    """

    service: str
    copies: int
    deliveries: int
    delivered: int
    dead_lettered: int
    dropped: int
    breaker_trips: int
    breaker_open_s: float
    sample_s: float


RecoveryStatus = Literal["recovered", "not_recovered", "too_short"]


class Recovery(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """How long latency and backlog took to return to their baseline after a load
    (a phase after a higher-rate one) or an outage ended (see
    :mod:`bench.analysis.recovery`). ``recovery_s`` is None unless ``recovered``; when
    ``not_recovered`` it was longer than ``horizon_s``."""

    kind: Literal["phase", "outage"]
    name: str
    after: str
    start_s: float
    horizon_s: float
    baseline: str
    baseline_p99_ns: int
    baseline_backlog: float
    status: RecoveryStatus
    recovery_s: float | None
    detail: str


class Timeline(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The run in consecutive windows of ``window_s`` from its start.

    ``completed``: deliveries completed in the window; ``response_p99_ns``: p99 of the
    response latency of events intended in the window (0 when none completed);
    ``backlog``: mean router backlog (deliveries not ended) sampled in the window;
    ``breakers_open``: the most breakers not closed at one sample in the window;
    ``rss_bytes``: the process's mean resident memory sampled in the window;
    ``harness_bytes``: of that, what the harness's own recordings held (the lists of
    completions, batches and samples, which grow with the run whatever the router does).
    """

    window_s: float
    completed: tuple[int, ...]
    response_p99_ns: tuple[int, ...]
    backlog: tuple[float, ...]
    breakers_open: tuple[int, ...]
    rss_bytes: tuple[int, ...]
    harness_bytes: tuple[int, ...] = ()


TrendVerdict = Literal["leak", "no leak", "no leak shown", "too short"]


class RssTrend(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Resident memory's growth over a run: OLS slope (MiB/hour) with its 95% CI, judged
    against ``threshold_mib_per_h`` like ``bench memory`` judges the heap (see
    :mod:`bench.analysis.trend`)."""

    points: int
    span_s: float
    slope_mib_per_h: float
    low: float
    high: float
    #: The slope of the later half alone: a leak keeps growing, a warm-up step does not.
    second_half_mib_per_h: float
    threshold_mib_per_h: float
    verdict: TrendVerdict
    explanation: str


class RunTrend(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The RSS trend of run ``run`` (its index in the comparison's runs) of ``arch``."""

    arch: str
    run: int
    trend: RssTrend


class ErrorRates(msgspec.Struct, frozen=True):
    """A run's failures as fractions (0-1), each over its own denominator.

    ``reject_rate`` is event-level: events the router rejected over events published.
    ``failure_rate`` is delivery-level: deliveries dead-lettered or dropped over
    deliveries started.
    """

    reject_rate: float
    failure_rate: float


def error_rates(acc: Accounting) -> ErrorRates:
    """The rates of a run's router counters; a rate with no denominator is 0."""
    rejected = sum(acc.rejected.values())
    failed = sum(acc.dead_lettered.values()) + sum(acc.dropped.values())
    return ErrorRates(
        reject_rate=rejected / acc.published if acc.published else 0.0,
        failure_rate=failed / acc.deliveries if acc.deliveries else 0.0,
    )


class RunResult(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What one run measured, and whether it may be trusted.

    Failures are two rates, each over its own denominator (see :class:`ErrorRates`):
    ``reject_rate`` over events published and ``failure_rate`` over deliveries started.
    """

    schema: str
    spec: RunSpec
    schedule_hash: str
    events: int
    window_s: float
    throughput_dps: float
    reject_rate: float
    failure_rate: float
    valid: bool
    reasons: tuple[str, ...]
    gates: tuple[Gate, ...]
    accounting: Accounting
    resources: Resources
    phases: tuple[PhaseResult, ...]
    histograms: tuple[Histogram, ...]
    #: Payload of completed deliveries in the window, 10^6 bytes per second.
    payload_mbps: float = 0.0
    services: tuple[ServiceResult, ...] = ()
    recoveries: tuple[Recovery, ...] = ()
    timeline: Timeline = msgspec.field(default_factory=lambda: Timeline(0.25, (), (), (), (), ()))

    def rates(self) -> ErrorRates:
        """The run's two failure rates."""
        return ErrorRates(self.reject_rate, self.failure_rate)

    def summary(self, metric: str, scope: str = "all") -> Summary:
        """The percentiles of one histogram; raise KeyError when it was not recorded."""
        for hist in self.histograms:
            if hist.metric == metric and hist.scope == scope:
                return hist.summary
        raise KeyError(f"no {metric} histogram for scope {scope!r}")


class Environment(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The machine and versions a comparison ran on."""

    python: str
    implementation: str
    uvloop: str
    loop: str
    cpu_model: str
    cpu_count: int
    platform: str
    git_sha: str | None
    config_hash: str
    seed: int
    schedule_hash: str
    argv: tuple[str, ...]


class RunRecord(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One measured run in its place in the interleaved plan."""

    arch: str
    block: int
    position: int
    result: RunResult


class Ratio(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One metric of ``arch`` against the baseline: ratio arch/baseline with its CI and verdict.

    Means are None when a side has no usable run; ratio and CI when no ratio exists.
    """

    metric: str
    unit: str
    higher_is_better: bool
    baseline: str
    arch: str
    baseline_mean: float | None
    arch_mean: float | None
    ratio: float | None
    low: float | None
    high: float | None
    confidence: float
    n_baseline: int
    n_arch: int
    verdict: Label
    runs_needed: int | None
    explanation: str


class CompareSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The options of a comparison."""

    archs: tuple[str, ...]
    profile: str
    pattern: str
    seed: int
    runs: int
    duration_s: float
    warmup_s: float
    noise: float
    loop: str
    order: tuple[tuple[str, ...], ...]
    outages: tuple[Outage, ...] = ()


SloLevel = Literal["warn", "fail"]


class Violation(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One objective a run broke at ``level``: which, by how much, in plain words."""

    arch: str
    run: int
    objective: str
    measured: float
    limit: float
    detail: str
    level: SloLevel = "fail"


class SloOutcome(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The objectives a comparison was checked against and what broke them."""

    source: str
    objectives: tuple[str, ...]
    violations: tuple[Violation, ...]

    def failed(self) -> bool:
        return any(v.level == "fail" for v in self.violations)


class Look(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One look of an adaptive comparison: runs per architecture by then, seconds spent,
    and the headline metrics still inconclusive."""

    runs: int
    elapsed_s: float
    inconclusive: tuple[str, ...]


class Sequential(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """How an adaptive comparison grew (see :mod:`bench.analysis.sequential`).

    ``planned`` holds the runs per architecture at each planned look, ``confidence``
    the level every look's intervals used so that all of them hold together at
    ``family``; ``stopped`` says in words why no further block was run.
    """

    correction: str
    family: float
    confidence: float
    planned: tuple[int, ...]
    looks: tuple[Look, ...]
    max_runs: int
    max_time_s: float | None
    stopped: str


class CompareResult(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A whole comparison: environment, settings, every measured run, the ratios."""

    schema: str
    environment: Environment
    settings: CompareSettings
    runs: tuple[RunRecord, ...]
    ratios: tuple[Ratio, ...]
    elapsed_s: float
    slo: SloOutcome | None = None
    rss_trends: tuple[RunTrend, ...] = ()
    #: Present when the run count was adaptive: the looks and why it stopped.
    sequential: Sequential | None = None


def encode(record: RunResult | CompareResult) -> bytes:
    """JSON bytes of a result record."""
    return msgspec.json.encode(record)


#: Versions this bench once wrote and no longer reads, each with what changed.
RETIRED = {
    "switchyard.bench/1": "its mixed error_rate gave way to reject_rate and failure_rate",
    "switchyard.bench/2": "it has no p95, payload MB/s, idle RSS, per-service breaker figures,"
    " recovery times, timeline or RSS trend",
}


def check_schema(schema: str, where: str) -> None:
    """Raise :class:`SchemaError` unless ``schema`` is this bench's (a retired version is
    named as such, with what changed)."""
    _check_schema(schema, where)


def _check_schema(schema: str, where: str) -> None:
    if schema == SCHEMA:
        return
    if schema in RETIRED:
        raise SchemaError(
            f"{where}: schema {schema!r} is older than this bench reads ({SCHEMA!r}):"
            f" {RETIRED[schema]}; measure again (or save the baseline again)"
        )
    raise SchemaError(f"{where}: schema {schema!r} is not {SCHEMA!r}")


class _Head(msgspec.Struct):
    schema: str = "(none)"


def _check_head(data: bytes | str, where: str) -> None:
    """Check the version first, so another version is named as such, not as bad fields."""
    try:
        head = msgspec.json.decode(data, type=_Head)
    except msgspec.DecodeError as exc:
        raise SchemaError(f"{where}: {exc}") from None
    _check_schema(head.schema, where)


def decode_run(data: bytes | str, where: str = "run result") -> RunResult:
    """Validate and decode a :class:`RunResult`; raise :class:`SchemaError` saying why not."""
    _check_head(data, where)
    try:
        result = msgspec.json.decode(data, type=RunResult)
    except msgspec.DecodeError as exc:
        raise SchemaError(f"{where}: {exc}") from None
    _check_schema(result.schema, where)
    return result


def decode_compare(data: bytes | str, where: str = "comparison") -> CompareResult:
    """Validate and decode a :class:`CompareResult`; raise :class:`SchemaError` saying why not."""
    _check_head(data, where)
    try:
        result = msgspec.json.decode(data, type=CompareResult)
    except msgspec.DecodeError as exc:
        raise SchemaError(f"{where}: {exc}") from None
    _check_schema(result.schema, where)
    for record in result.runs:
        _check_schema(record.result.schema, f"{where}: run {record.block}.{record.position}")
    return result


def load_compare(path: str | Path) -> CompareResult:
    """Read and validate a comparison written by ``compare --json``."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SchemaError(f"{path}: cannot read: {exc.strerror}") from None
    return decode_compare(data, str(path))
