"""The router's snapshots: the contract's ``RouterStats`` and the transport's own counters."""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from events.model import RouterStats, add_counts

if TYPE_CHECKING:
    from daemon.jetstream.router import JetStreamRouter


#: Drop reason of what a local consumer still held when its process drained.
LOCAL_CLOSED = "local_consumer_closed"


class Intake:
    """What ``publish`` counted: outcomes, and the deliveries it routed here."""

    __slots__ = ("accepted", "deliveries", "published", "rejected", "unknown_targets", "unrouted")

    def __init__(self) -> None:
        self.published = 0
        self.accepted = 0
        self.rejected: dict[str, int] = {}
        self.unrouted = 0
        self.unknown_targets = 0
        #: Deliveries routed by this process's publishes, less those of duplicates.
        self.deliveries = 0


class JetStreamStats(msgspec.Struct, frozen=True):
    """What the stream and the consumers did in this process.

    ``redelivered`` counts messages pulled again (after a NAK, an expired
    ``ack_wait`` or a drain that gave them back); each still ends once.
    ``returned`` counts messages given back unfinished at drain; ``skipped``
    counts messages a consumer took that none of its members wanted (they
    were routed for a configuration other than this process's).
    """

    stored: int
    duplicates: int
    publish_retries: int
    publish_errors: dict[str, int]
    outgoing: int
    outgoing_bytes: int
    redelivered: int
    naks: int
    terminated: int
    returned: int
    ack_errors: int
    dead_letter_errors: int
    skipped: int
    undecodable: int
    pull_requests: int
    server_pending: int | None


def router_stats(router: JetStreamRouter) -> RouterStats:
    """The contract's snapshot: intake counters, and delivery counters summed over members.

    ``pending`` is ``deliveries - ended``: undelivered events live on the server.
    Local lanes add what they received to ``deliveries`` and what they dropped.
    Members that left count in the totals, not in the per-subscription list.
    """
    retired = router.retired
    delivered, retries = retired.delivered, retired.retries
    dead_lettered: dict[str, int] = dict(retired.dead_lettered)
    subscriptions = []
    for member in router.members():
        pipeline = member.pipeline
        # As a consumer sees it: deliveries this member ended or holds.
        pipeline.deliveries = pipeline.ended + len(member.queue) + member.busy
        delivered += pipeline.delivered
        retries += pipeline.retries
        add_counts(dead_lettered, pipeline.dead_lettered)
        subscriptions.append(pipeline.stats(len(member.queue), member.busy))
    add_counts(dead_lettered, router.unpublished)
    # Local lanes' deliveries are counted as they arrive, not at publish (see ``lane``).
    local = [lane for lane in [*router.lanes.values(), *router.retired_lanes] if lane.local]
    dropped_local = sum(lane.dropped for lane in local)
    dropped = {LOCAL_CLOSED: dropped_local} if dropped_local else {}
    ended = delivered + sum(dead_lettered.values()) + dropped_local
    intake = router.intake
    deliveries = intake.deliveries + sum(lane.received for lane in local)
    return RouterStats(
        published=intake.published,
        accepted=intake.accepted,
        rejected=dict(intake.rejected),
        unrouted=intake.unrouted,
        unknown_targets=intake.unknown_targets,
        deliveries=deliveries,
        delivered=delivered,
        dead_lettered=dead_lettered,
        dropped=dropped,
        retries=retries,
        pending=deliveries - ended,
        dead_letter_store=len(router.dead_letters),
        subscriptions=subscriptions,
    )


def transport_stats(router: JetStreamRouter) -> JetStreamStats:
    """The transport's counters in ``router`` (zeros for what never started)."""
    out = router.outgoing
    transport = router.transport
    lanes = [*router.lanes.values(), *router.retired_lanes]
    return JetStreamStats(
        stored=out.stored,
        duplicates=out.duplicates,
        publish_retries=out.retried,
        publish_errors=dict(out.errors),
        outgoing=out.count,
        outgoing_bytes=out.nbytes,
        redelivered=transport.redelivered if transport else 0,
        naks=transport.naks if transport else 0,
        terminated=transport.terminated if transport else 0,
        returned=transport.returned if transport else 0,
        ack_errors=transport.ack_errors if transport else 0,
        dead_letter_errors=transport.dead_letter_errors if transport else 0,
        skipped=sum(lane.skipped for lane in lanes),
        undecodable=sum(lane.undecodable for lane in lanes),
        pull_requests=sum(lane.puller.requests for lane in lanes if lane.puller),
        server_pending=router.last_server_pending,
    )
