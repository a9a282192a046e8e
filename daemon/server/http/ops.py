"""Operations endpoints: health, readiness, metrics, status and the OpenAPI document."""

from __future__ import annotations

import functools
import time
from importlib import resources
from typing import TYPE_CHECKING, Any

import msgspec
import psutil  # type: ignore[import-untyped]
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from daemon.server.metrics import build_registry, exposition
from daemon.server.transport import TransportCollector, status

if TYPE_CHECKING:
    from daemon.server.server import DaemonServer


@functools.cache
def openapi_document() -> bytes:
    """The OpenAPI document, package data beside this module (read once, on first use)."""
    return resources.files(__package__).joinpath("openapi.json").read_bytes()


_encoder = msgspec.json.Encoder()


def _json(status: int, body: Any) -> web.Response:
    return web.Response(status=status, body=_encoder.encode(body), content_type="application/json")


class Ops:
    """The read-only endpoints; each answers from the server's live state."""

    def __init__(self, server: DaemonServer) -> None:
        self.server = server
        self.registry = build_registry(server.metrics, server.router.stats)
        kind = server.loaded.config.transport.kind
        self.registry.register(TransportCollector(server.router, kind))
        self._process = psutil.Process()

    def _count(self, route: str, status: int, t0: int) -> None:
        self.server.metrics.count_request(route, status, time.perf_counter_ns() - t0)

    async def healthz(self, request: web.Request) -> web.Response:
        t0 = time.perf_counter_ns()
        health = self.server.health
        ok = health.healthy
        body = {
            "status": "ok" if ok else "unhealthy",
            "loop_lag_s": health.lag_s,
            "loop_lag_max_s": health.max_lag_s,
            "threshold_s": health.config.lag_threshold_s,
        }
        status = 200 if ok else 503
        self._count("healthz", status, t0)
        return _json(status, body)

    def readiness(self) -> tuple[bool, list[str]]:
        """Ready when started, not draining, below high water, not refusing most intake,
        and the journal and dead-letter file are writing (``DaemonServer.not_ready_reasons``)."""
        reasons = self.server.not_ready_reasons()
        return not reasons, reasons

    async def readyz(self, request: web.Request) -> web.Response:
        t0 = time.perf_counter_ns()
        ok, reasons = self.readiness()
        status = 200 if ok else 503
        self._count("readyz", status, t0)
        return _json(status, {"ready": ok, "reasons": reasons})

    async def metrics(self, request: web.Request) -> web.Response:
        t0 = time.perf_counter_ns()
        self.server.refresh_metrics_nowait()
        body = exposition(self.registry)
        self._count("metrics", 200, t0)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def status(self, request: web.Request) -> web.Response:
        t0 = time.perf_counter_ns()
        body = self.status_body()
        self._count("status", 200, t0)
        return _json(200, body)

    def status_body(self) -> dict[str, Any]:
        s = self.server
        m = s.metrics
        stats = s.router.stats()
        ready, reasons = self.readiness()
        store = s.dead_letter_store
        recent = []
        if store is not None:
            for dl in list(store.entries)[-10:]:
                recent.append(
                    {
                        "event_id": dl.event.id,
                        "subject": dl.event.subject,
                        "service": dl.service,
                        "reason": dl.reason,
                        "attempts": dl.attempts,
                        "error": dl.error,
                    }
                )
        return {
            "uptime_s": time.monotonic() - s.started_at,
            "ready": ready,
            "not_ready_reasons": reasons,
            "healthy": s.health.healthy,
            "loop_lag_s": s.health.lag_s,
            "process": {
                "cpu_s": time.process_time(),
                "rss_bytes": self._process.memory_info().rss,
            },
            "rates": s.rates,
            "reloads": s.reloads,
            "router": msgspec.to_builtins(stats),
            "identity_errors": stats.identity_errors(),
            "admission": {
                "pending": s.admission.pending,
                "capacity": s.admission.capacity,
                "high_water": s.admission.config.high_water,
                "overloaded": s.admission.overloaded,
                "draining": s.admission.draining,
                "rejected": s.admission.rejected,
            },
            "access": s.access.status_nowait(),
            "dead_letters": {
                "store": stats.dead_letter_store,
                "by_reason": stats.dead_lettered,
                "spilled": s.dead_letter_journal.spilled,
                "write_errors": s.dead_letter_journal.errors,
                "buffered": s.dead_letter_journal.buffered,
                "recent": recent,
            },
            "ingress": [
                {"prefix": p, "outcome": o, "count": n}
                for (p, o), n in sorted(m.fold_accepted().items())
            ],
            "delivery_latency": {
                prefix: hist.summary() for prefix, hist in m.delivery_latency.items() if hist.count
            },
            "streams": {
                "open": s.streams.open_streams,
                "opened": m.streams_opened,
                "slow_disconnects": m.streams_slow_disconnects,
                "unheard": s.streams.unheard,
                "dropped": s.streams.dropped,
                "unsubscribed": s.streams.unsubscribed,
            },
            "record": s.recorder.status(),
            "transport": status(s.router, s.loaded.config),
            "journal": None
            if s.journal is None
            else {
                "appended": s.journal.appended,
                "fsyncs": s.journal.fsyncs,
                "checkpoints": s.journal.checkpoints,
                "segments_closed": s.journal.segments_closed,
                "segments_deleted": s.journal.segments_deleted,
                "segments_kept": s.journal.segments_kept,
                "errors": s.journal.errors,
                "replayed": s.replayed,
            },
        }

    async def openapi(self, request: web.Request) -> web.Response:
        return web.Response(body=openapi_document(), content_type="application/json")
