"""How a router's counters become a :class:`RouterStats`, shared by both architectures.

Both routers count deliveries in their pipelines (the coordinator: one per
module copy of a subscription) and intake in counters of their own. Summing the
pipelines, adding what subscriptions that are gone left behind, and building
the snapshot is the same work in both, so it lives here once. Only ``stats()``
calls it: publish and the workers never do.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from events.delivery import Pipeline
from events.model import RouterStats, add_counts

#: One pipeline as the stats see it: the pipeline (its ``deliveries`` current),
#: its queued deliveries and its deliveries in flight.
Copy = tuple[Pipeline, int, int]


class DeliveryTotals:
    """Delivery counters summed over pipelines: what a router keeps of subscriptions gone."""

    __slots__ = ("dead_lettered", "delivered", "deliveries", "dropped", "retries")

    def __init__(self) -> None:
        self.deliveries = 0
        self.delivered = 0
        self.retries = 0
        self.dead_lettered: dict[str, int] = {}
        self.dropped: dict[str, int] = {}

    def add_nowait(self, pipeline: Pipeline) -> None:
        """Add ``pipeline``'s counters (its ``deliveries`` must be current)."""
        self.deliveries += pipeline.deliveries
        self.delivered += pipeline.delivered
        self.retries += pipeline.retries
        add_counts(self.dead_lettered, pipeline.dead_lettered)
        add_counts(self.dropped, pipeline.dropped)

    def copy(self) -> DeliveryTotals:
        totals = DeliveryTotals()
        totals.deliveries = self.deliveries
        totals.delivered = self.delivered
        totals.retries = self.retries
        totals.dead_lettered = dict(self.dead_lettered)
        totals.dropped = dict(self.dropped)
        return totals


def router_stats(
    *,
    published: int,
    accepted: int,
    rejected: Mapping[str, int],
    unrouted: int,
    unknown_targets: int,
    pending: int,
    dead_letter_store: int,
    copies: Iterable[Copy],
    retired: DeliveryTotals | None = None,
) -> RouterStats:
    """The snapshot: intake counters as given, delivery counters summed over ``copies``.

    ``retired`` (the totals of subscriptions that are gone) is added to the sums,
    not to the per-subscription list. Nothing passed in is modified.
    """
    totals = DeliveryTotals() if retired is None else retired.copy()
    subscriptions = []
    for pipeline, depth, in_flight in copies:
        totals.add_nowait(pipeline)
        subscriptions.append(pipeline.stats(depth, in_flight))
    return RouterStats(
        published=published,
        accepted=accepted,
        rejected=dict(rejected),
        unrouted=unrouted,
        unknown_targets=unknown_targets,
        deliveries=totals.deliveries,
        delivered=totals.delivered,
        dead_lettered=totals.dead_lettered,
        dropped=totals.dropped,
        retries=totals.retries,
        pending=pending,
        dead_letter_store=dead_letter_store,
        subscriptions=subscriptions,
    )
