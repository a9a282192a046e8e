"""The ``[transport]`` table made real: which router the daemon runs, and what it reports.

``memory`` is the in-process ``CentralRouter``; ``jetstream`` is the
``JetStreamRouter`` on the configured NATS server, shared by every daemon
started with the same table. The server asks this module, not the router's
class, for what differs between them: the ingress's "stored" hook (202 only
once the PubAck arrived), the load admission control compares with its high
water, the transport's part of ``/v1/status`` and its metrics.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import msgspec
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from daemon.jetstream import JetStreamRouter
from daemon.router.central import CentralRouter
from daemon.server.config import DaemonConfig
from events.router import Router

#: What the ingress awaits before answering 202 (``count`` events just accepted).
StoredHook = Callable[[int], asyncio.Future[None]]


def build_router(config: DaemonConfig) -> Router:
    """The router ``config.transport`` names (not yet started)."""
    if config.transport.kind == "jetstream":
        return JetStreamRouter(config.transport.jetstream())
    return CentralRouter(config.router)


def stored_hook(router: Router) -> StoredHook | None:
    """The ingress's wait for the stream's PubAck, or None when accepting is enough."""
    if isinstance(router, JetStreamRouter):
        return router.stored_nowait
    return None


def load(router: Router, pending: int, capacity: int) -> tuple[int, int]:
    """(pending, capacity) admission control compares with its high water.

    In memory that is the router's pending deliveries against the mailboxes. On
    JetStream undelivered events wait in the stream, shared with other processes,
    so this process's own backlog is its outgoing buffer (accepted, PubAck not
    yet back): it fills when the server is slow, away, or its stream is full.
    """
    if isinstance(router, JetStreamRouter):
        return router.outgoing.count, router.config.outgoing_max_events
    return pending, capacity


def status(router: Router, config: DaemonConfig) -> dict[str, Any]:
    """The transport's part of ``/v1/status``."""
    if not isinstance(router, JetStreamRouter):
        return {"kind": "memory"}
    js = router.config
    return {
        "kind": "jetstream",
        "url": js.redacted_url(),
        "connected": router.nc is not None and router.nc.is_connected,
        "stream": js.stream,
        "dead_letter_stream": js.dead_letter_stream,
        "subject_prefix": js.subject_prefix,
        "consumers": sorted(lane.durable for lane in router.lanes.values() if not lane.local),
        "local_consumers": sorted(lane.durable for lane in router.lanes.values() if lane.local),
        **msgspec.to_builtins(router.transport_stats()),
    }


class TransportCollector(Collector):
    """``switchyard_transport_info{kind}`` and, on JetStream, the transport's counters."""

    def __init__(self, router: Router, kind: str) -> None:
        self.router = router
        self.kind = kind

    def collect(self) -> Iterator[Metric]:
        info = GaugeMetricFamily(
            "switchyard_transport_info", "The transport in use (1)", labels=["kind"]
        )
        info.add_metric([self.kind], 1)
        yield info
        router = self.router
        if not isinstance(router, JetStreamRouter):
            return
        stats = router.transport_stats()
        for name, doc, value in (
            ("stored", "Events the stream confirmed stored (PubAck)", stats.stored),
            ("duplicates", "Publishes the stream refused as duplicate ids", stats.duplicates),
            (
                "publish_retries",
                "Publishes sent again (no or failed PubAck)",
                stats.publish_retries,
            ),
            ("redelivered", "Messages the server delivered again", stats.redelivered),
            ("naks", "Attempts NAK'd for a retry", stats.naks),
            ("terminated", "Messages terminated after their last attempt", stats.terminated),
        ):
            yield CounterMetricFamily(f"switchyard_jetstream_{name}", doc, value=value)
        yield GaugeMetricFamily(
            "switchyard_jetstream_outgoing",
            "Events accepted whose PubAck has not arrived",
            stats.outgoing,
        )
