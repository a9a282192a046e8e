"""The daemon's counters and latency histograms, and their Prometheus exposition.

The hot path only bumps Python ints and list slots (a Prometheus ``observe`` with
labels costs microseconds, more than routing an event); a custom collector turns
them into metric families at scrape time, in the daemon's own CollectorRegistry.
Subjects are labelled by their PREFIX (first token), folded into ``other`` when
the prefix is not a known category's, so clients cannot explode cardinality.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from events.model import CATEGORY_PATTERNS, RouterStats

KNOWN_PREFIXES = frozenset(p.split(".", 1)[0] for ps in CATEGORY_PATTERNS.values() for p in ps)
OTHER = "other"

SUB_BUCKETS = 4  # sub-buckets per power of two: relative error under 25%
N_BUCKETS = SUB_BUCKETS * 40


def prefix_of(subject: str) -> str:
    """The label for ``subject``: its first token when it is a known category prefix."""
    head = subject.split(".", 1)[0]
    return head if head in KNOWN_PREFIXES else OTHER


def bucket_index(us: int) -> int:
    """Log-linear bucket of a value in microseconds (4 sub-buckets per octave)."""
    if us < SUB_BUCKETS:
        return us if us > 0 else 0
    e = us.bit_length() - 1
    index = SUB_BUCKETS * (e - 1) + ((us >> (e - 2)) & (SUB_BUCKETS - 1))
    return index if index < N_BUCKETS else N_BUCKETS - 1


def bucket_upper_us(index: int) -> int:
    """The exclusive upper bound, in microseconds, of bucket ``index``."""
    if index < SUB_BUCKETS:
        return index + 1
    e = index // SUB_BUCKETS + 1
    sub = index % SUB_BUCKETS
    return (1 << e) + ((sub + 1) << (e - 2))


class LatencyHistogram:
    """Counts of latencies in log-linear microsecond buckets; cheap to record."""

    __slots__ = ("counts", "sum_us")

    def __init__(self) -> None:
        self.counts = [0] * N_BUCKETS
        self.sum_us = 0

    @property
    def count(self) -> int:
        # Derived, not kept: one attribute update less per recorded value.
        return sum(self.counts)

    def record_ns(self, ns: int) -> None:
        # bucket_index inlined: this runs once per delivery.
        us = ns // 1000 if ns > 0 else 0
        if us < SUB_BUCKETS:
            index = us
        else:
            e = us.bit_length() - 1
            index = SUB_BUCKETS * (e - 1) + ((us >> (e - 2)) & (SUB_BUCKETS - 1))
            if index >= N_BUCKETS:
                index = N_BUCKETS - 1
        self.counts[index] += 1
        self.sum_us += us

    def percentile_s(self, q: float) -> float:
        """Upper bound (seconds) of the bucket holding quantile ``q``; 0 when empty."""
        count = self.count
        if not count:
            return 0.0
        rank = q * count
        seen = 0
        for index, n in enumerate(self.counts):
            seen += n
            if n and seen >= rank:
                return bucket_upper_us(index) / 1e6
        return bucket_upper_us(N_BUCKETS - 1) / 1e6

    def summary(self) -> dict[str, Any]:
        """Count, mean, percentiles, and the raw non-empty buckets (upper bound in µs)."""
        count = self.count
        return {
            "count": count,
            "mean_s": (self.sum_us / count / 1e6) if count else 0.0,
            "p50_s": self.percentile_s(0.50),
            "p90_s": self.percentile_s(0.90),
            "p99_s": self.percentile_s(0.99),
            "p999_s": self.percentile_s(0.999),
            "buckets_us": [[bucket_upper_us(i), n] for i, n in enumerate(self.counts) if n],
        }

    def prometheus_buckets(self) -> list[tuple[str, float]]:
        """Cumulative buckets at every other octave boundary (exact, being cumulative)."""
        out: list[tuple[str, float]] = []
        seen = 0
        for index, n in enumerate(self.counts):
            seen += n
            if index % (2 * SUB_BUCKETS) == SUB_BUCKETS - 1 and index < N_BUCKETS - 1:
                out.append((repr(bucket_upper_us(index) / 1e6), float(seen)))
        out.append(("+Inf", float(seen)))
        return out


class ServerMetrics:
    """Everything the server counts itself (the router counts the rest)."""

    def __init__(self) -> None:
        self.http: dict[tuple[str, int], int] = {}
        self.ingress: dict[tuple[str, str], int] = {}
        #: Accepted events by subject, updated once per request with Counter.update
        #: (C speed) and folded into ``ingress`` by prefix when read.
        self.accepted_subjects: Counter[str] = Counter()
        self.request_latency: dict[str, LatencyHistogram] = {}
        self.delivery_latency: dict[str, LatencyHistogram] = {
            p: LatencyHistogram() for p in sorted(KNOWN_PREFIXES | {OTHER})
        }
        self.streams_opened = 0
        self.streams_closed = 0
        self.streams_slow_disconnects = 0
        #: The listener's connections (daemon.server.http.connections): open now,
        #: refused past max_connections, closed by a read timeout (by phase).
        self.connections_open = 0
        self.connections_refused = 0
        self.connections_timed_out: dict[str, int] = {}
        self.webhook_calls: dict[tuple[str, str], int] = {}
        self.loop_lag_s = 0.0
        self.loop_lag_max_s = 0.0
        self.journal_appended = 0
        self.journal_replayed = 0
        self.journal_fsyncs = 0
        self.dead_letters_spilled = 0
        self.dead_letter_write_errors = 0
        self.journal_errors = 0
        self.duplicates = 0
        self.duplicate_window_shortened = 0
        self.reloads: dict[str, int] = {}
        #: The trace recorder (daemon/server/recorder.py): events written, sampled events
        #: dropped because its buffer was full, bytes written, files finished, on or off.
        self.record_events = 0
        self.record_dropped = 0
        self.record_bytes = 0
        self.record_rotations = 0
        self.record_active = 0

    def count_request(self, route: str, code: int, elapsed_ns: int) -> None:
        http = self.http
        key = (route, code)
        http[key] = http.get(key, 0) + 1
        hist = self.request_latency.get(route)
        if hist is None:
            hist = self.request_latency[route] = LatencyHistogram()
        # LatencyHistogram.record_ns inlined: this runs once per request.
        us = elapsed_ns // 1000 if elapsed_ns > 0 else 0
        if us < SUB_BUCKETS:
            index = us
        else:
            e = us.bit_length() - 1
            index = SUB_BUCKETS * (e - 1) + ((us >> (e - 2)) & (SUB_BUCKETS - 1))
            if index >= N_BUCKETS:
                index = N_BUCKETS - 1
        hist.counts[index] += 1
        hist.sum_us += us

    def count_ingress(self, prefix: str, outcome: str, n: int = 1) -> None:
        key = (prefix, outcome)
        self.ingress[key] = self.ingress.get(key, 0) + n

    def count_accepted(self, subjects: Iterable[str]) -> None:
        self.accepted_subjects.update(subjects)
        if len(self.accepted_subjects) > 65_536:
            self.fold_accepted()  # bounded: clients choose subjects

    def fold_accepted(self) -> dict[tuple[str, str], int]:
        """Move the per-subject accepted counts into ``ingress``; answer ``ingress``."""
        for subject, n in self.accepted_subjects.items():
            self.count_ingress(prefix_of(subject), "accepted", n)
        self.accepted_subjects.clear()
        return self.ingress

    def count_webhook(self, service: str, outcome: str) -> None:
        key = (service, outcome)
        self.webhook_calls[key] = self.webhook_calls.get(key, 0) + 1


class DaemonCollector(Collector):
    """Yields the server's counters and a fresh router stats snapshot at each scrape."""

    def __init__(self, metrics: ServerMetrics, stats: Callable[[], RouterStats]) -> None:
        self.metrics = metrics
        self.stats = stats

    def collect(self) -> Iterator[Metric]:
        m = self.metrics
        http = CounterMetricFamily(
            "switchyard_http_requests", "HTTP requests answered", labels=["route", "code"]
        )
        for (route, code), n in sorted(m.http.items()):
            http.add_metric([route, str(code)], n)
        yield http
        ingress = CounterMetricFamily(
            "switchyard_ingress_events",
            "Events offered to the ingress, by subject prefix and outcome",
            labels=["prefix", "outcome"],
        )
        for (prefix, outcome), n in sorted(m.fold_accepted().items()):
            ingress.add_metric([prefix, outcome], n)
        yield ingress
        req = HistogramMetricFamily(
            "switchyard_http_request_seconds", "Time to answer a request", labels=["route"]
        )
        for route, hist in sorted(m.request_latency.items()):
            req.add_metric([route], hist.prometheus_buckets(), hist.sum_us / 1e6)
        yield req
        deliv = HistogramMetricFamily(
            "switchyard_delivery_latency_seconds",
            "Intended time (client wall clock) to handler completion, by subject prefix",
            labels=["prefix"],
        )
        for prefix, hist in sorted(m.delivery_latency.items()):
            deliv.add_metric([prefix], hist.prometheus_buckets(), hist.sum_us / 1e6)
        yield deliv
        hooks = CounterMetricFamily(
            "switchyard_webhook_calls", "Webhook POSTs by outcome", labels=["service", "outcome"]
        )
        for (service, outcome), n in sorted(m.webhook_calls.items()):
            hooks.add_metric([service, outcome], n)
        yield hooks
        yield CounterMetricFamily(
            "switchyard_streams_opened", "WebSocket streams opened", value=m.streams_opened
        )
        yield CounterMetricFamily(
            "switchyard_streams_slow_disconnects",
            "WebSocket streams closed because their send buffer overflowed",
            value=m.streams_slow_disconnects,
        )
        yield GaugeMetricFamily(
            "switchyard_http_connections_open", "Connections open", m.connections_open
        )
        yield CounterMetricFamily(
            "switchyard_http_connections_refused",
            "Connections answered 503 and closed past server.max_connections",
            m.connections_refused,
        )
        timed_out = CounterMetricFamily(
            "switchyard_http_connections_timed_out",
            "Connections closed for sending their headers or body too slowly",
            labels=["phase"],
        )
        for phase, n in sorted(m.connections_timed_out.items()):
            timed_out.add_metric([phase], n)
        yield timed_out
        yield CounterMetricFamily(
            "switchyard_journal_appended", "Events appended to the journal", m.journal_appended
        )
        yield CounterMetricFamily(
            "switchyard_dead_letters_spilled",
            "Dead letters written to the dead-letter journal",
            m.dead_letters_spilled,
        )
        yield CounterMetricFamily(
            "switchyard_dead_letter_write_errors",
            "Failed writes of the dead-letter file (each retried; data kept in memory)",
            m.dead_letter_write_errors,
        )
        yield CounterMetricFamily(
            "switchyard_journal_errors",
            "Failed event-journal writes (their requests answered 503 journal_failed)",
            m.journal_errors,
        )
        yield CounterMetricFamily(
            "switchyard_ingress_duplicates",
            "Events not routed because their id was accepted within the duplicate window",
            m.duplicates,
        )
        yield CounterMetricFamily(
            "switchyard_duplicate_window_shortened",
            "Ids forgotten before their duplicate window ended (a memory bound was hit)",
            m.duplicate_window_shortened,
        )
        reloads = CounterMetricFamily(
            "switchyard_reloads", "SIGHUP config reloads by outcome", labels=["outcome"]
        )
        for outcome, n in sorted(m.reloads.items()):
            reloads.add_metric([outcome], n)
        yield reloads
        yield from self._record()
        yield GaugeMetricFamily(
            "switchyard_event_loop_lag_seconds", "Last measured event-loop lag", m.loop_lag_s
        )
        yield from self._router()

    def _record(self) -> Iterator[Metric]:
        m = self.metrics
        for name, doc, value in (
            ("events", "Events written to trace files by the recorder", m.record_events),
            (
                "dropped",
                "Sampled events the recorder dropped (buffer full or a write failed);"
                " intake is never slowed for recording",
                m.record_dropped,
            ),
            ("bytes", "Bytes the recorder wrote", m.record_bytes),
            ("rotations", "Trace files the recorder finished and rotated in", m.record_rotations),
        ):
            yield CounterMetricFamily(f"switchyard_record_{name}", doc, value=value)
        yield GaugeMetricFamily(
            "switchyard_record_active", "1 while the recorder is recording", m.record_active
        )

    def _router(self) -> Iterator[Metric]:
        s = self.stats()
        for name, doc, value in (
            ("published", "Events offered to router.publish", s.published),
            ("accepted", "Events the router accepted", s.accepted),
            ("unrouted", "Accepted events no subscription matched", s.unrouted),
            ("deliveries", "Deliveries made (one per matching subscription)", s.deliveries),
            ("delivered", "Deliveries that ended delivered", s.delivered),
            ("retries", "Handler attempts retried", s.retries),
        ):
            yield CounterMetricFamily(f"switchyard_router_{name}", doc, value=value)
        for name, doc, values in (
            ("rejected", "Events the router refused, by reason", s.rejected),
            ("dead_lettered", "Deliveries dead-lettered, by reason", s.dead_lettered),
            ("dropped", "Deliveries dropped, by reason", s.dropped),
        ):
            family = CounterMetricFamily(f"switchyard_router_{name}", doc, labels=["reason"])
            for reason, n in sorted(values.items()):
                family.add_metric([reason], n)
            yield family
        yield GaugeMetricFamily("switchyard_router_pending", "Deliveries not ended", s.pending)
        yield GaugeMetricFamily(
            "switchyard_router_dead_letter_store",
            "Entries in the dead-letter store",
            s.dead_letter_store,
        )
        depth = GaugeMetricFamily(
            "switchyard_subscription_depth", "Events waiting in a mailbox", labels=["service"]
        )
        open_ = GaugeMetricFamily(
            "switchyard_subscription_breaker_open",
            "1 when the subscription's breaker is not closed",
            labels=["service"],
        )
        for sub in s.subscriptions:
            depth.add_metric([sub.service], sub.depth)
            open_.add_metric([sub.service], 0 if sub.breaker == "closed" else 1)
        yield depth
        yield open_


def build_registry(metrics: ServerMetrics, stats: Callable[[], RouterStats]) -> CollectorRegistry:
    """A registry of the daemon's own (not the process-global default one)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DaemonCollector(metrics, stats))
    # process_resident_memory_bytes, CPU seconds, open fds: the dashboard's RSS panel.
    ProcessCollector(registry=registry)
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
