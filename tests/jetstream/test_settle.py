"""When drain counts a consumer as settled: never while an event stored for it is unseen.

The server counts a stored message in a consumer's ``num_pending`` only after its
stream has signalled the consumer, which happens after the PubAck is sent. A drain
that read the consumer in between saw nothing left, stopped pulling, and the event
ended as ``drain_timeout`` (the flake of test_exhausted_retries_dead_letter and
test_deliveries_match_reference_model on a server with many streams).
"""

from __future__ import annotations

import datetime

import pytest
from nats.js import api as js_api

from daemon.jetstream import JetStreamRouter
from daemon.jetstream.router import consumer_backlog
from events import Subscription
from tests.conformance.helpers import Recorder, event
from tests.jetstream.helpers import fresh_config

pytestmark = pytest.mark.anyio


def info(pending: int, ack_pending: int, delivered_seq: int) -> js_api.ConsumerInfo:
    return js_api.ConsumerInfo(
        name="d",
        stream_name="S",
        config=js_api.ConsumerConfig(),
        created=datetime.datetime.now(datetime.UTC),
        delivered=js_api.SequenceInfo(consumer_seq=delivered_seq, stream_seq=delivered_seq),
        num_pending=pending,
        num_ack_pending=ack_pending,
    )


def test_an_event_stored_but_not_yet_counted_keeps_the_consumer_unsettled() -> None:
    """Empty counts with the last stored event (5) not yet delivered: 1 left, not 0; once
    the consumer delivered past it, its counts are the backlog."""
    assert (
        consumer_backlog(info(0, 0, 4), stored_seq=5),
        consumer_backlog(info(0, 0, 5), stored_seq=5),
        consumer_backlog(info(2, 1, 4), stored_seq=5),
        consumer_backlog(info(0, 0, 0), stored_seq=0),
    ) == (1, 0, 3, 0)


async def test_each_pub_ack_records_the_stored_sequence_on_the_lanes_it_routes_to(
    nats_url: str,
) -> None:
    """A lane remembers the highest stream sequence stored for it, from the PubAcks."""
    router = JetStreamRouter(fresh_config(nats_url, ephemeral=True))
    router.subscribe(Subscription(service="a", pattern="fs.>"), Recorder())
    router.subscribe(Subscription(service="b", pattern="db.>"), Recorder())
    await router.start()
    for n, subject in enumerate(["fs.file.created", "db.row.updated", "fs.file.deleted"], 1):
        router.publish(event(n, subject))
    report = await router.drain(10)
    seqs = sorted(lane.stored_seq for lane in router.lanes.values())
    assert (seqs, report.stats.delivered, report.completed) == ([2, 3], 3, True)
