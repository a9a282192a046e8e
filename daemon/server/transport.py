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
from daemon.jetstream.shutdown import DL_UNPUBLISHED
from daemon.router.central import CentralRouter
from daemon.server.config import DaemonConfig
from events.model import RouterStats
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


def exit_losses(router: Router, stats: RouterStats) -> dict[str, int]:
    """Deliveries this process can prove it lost at exit, by cause (its drain is over).

    In memory that is every delivery still pending: no other process will end
    it. On shared JetStream consumers this process's ``pending`` (deliveries it
    routed less those it ended) proves nothing: another daemon ends part of what
    this one accepted, this one ends part of theirs, and a redelivery after a
    kill -9 ends a second time, so the number is any sign once processes share
    the work. What the stream keeps is not lost. What is: an accepted event the
    stream never confirmed (no PubAck before drain ended), whose deliveries were
    dead-lettered ``unpublished`` (the dead-letter file has the event; no
    consumer will ever see it). An ephemeral router ends its own backlog at
    drain, so its ``pending`` counts as in memory.
    """
    if isinstance(router, JetStreamRouter) and not router.config.ephemeral:
        return {"unpublished": router.unpublished.get(DL_UNPUBLISHED, 0)}
    return {"pending_at_exit": stats.pending}


def exit_terms(router: Router, stats: RouterStats) -> dict[str, int | None]:
    """Shared JetStream: this process's terms of the cluster-wide identity, for the final
    report (information, not an exit verdict); empty in memory.

    Summed over every daemon sharing the stream, ``stored`` (events the stream
    took, once each) routes into delivered + dead-lettered + what the stream
    still holds (``stream_backlog``, as last read by the process that stopped
    last), less the deliveries handled twice (a redelivery of a message whose
    handler ran but whose ack never arrived: ``redelivered`` bounds them).
    """
    if not isinstance(router, JetStreamRouter) or router.config.ephemeral:
        return {}
    t = router.transport_stats()
    return {
        "accepted_here": stats.accepted,
        "stored": t.stored,
        "duplicates": t.duplicates,
        "delivered_here": stats.delivered,
        "dead_lettered_here": stats.dead_lettered_total,
        "redelivered": t.redelivered,
        "returned": t.returned,
        "routed_less_ended_here": stats.pending,
        "stream_backlog": t.server_pending,
    }


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
