"""JetStreamRouter beyond the contract suite: dedupe, dead-letter stream, back-pressure,
drain accounting against the server, isolation, and clear errors."""

from __future__ import annotations

import asyncio

import pytest

from bench.architectures import ArchitectureError, make
from daemon.jetstream import JetStreamConfig, JetStreamRouter, TransportError
from events import Ack, Event, RetryPolicy, Subscription, decode_msgpack
from tests.conformance.helpers import Recorder, until
from tests.jetstream.helpers import fresh_config, fs_event, stream_messages

pytestmark = pytest.mark.anyio


async def test_duplicate_ids_are_stored_once_and_counted_as_duplicates(nats_url: str) -> None:
    """A second event with the same id within the duplicate window is one delivery, not two."""
    router = JetStreamRouter(fresh_config(nats_url))
    rec = Recorder()
    router.subscribe(Subscription(service="a", pattern="fs.>"), rec)
    await router.start()
    acks = [router.publish(fs_event(1)), router.publish(fs_event(1)), router.publish(fs_event(2))]
    report = await router.drain(10)
    stats, transport = report.stats, router.transport_stats()
    assert ([Ack.accepted()] * 3, ["e1", "e2"]) == (acks, rec.ids)
    assert (stats.accepted, stats.deliveries, stats.delivered, stats.pending) == (3, 2, 2, 0)
    assert (transport.stored, transport.duplicates, report.completed) == (2, 1, True)


async def test_last_attempt_goes_to_the_dead_letter_stream_with_its_reason(nats_url: str) -> None:
    """Each failed attempt is NAK'd; after the last one the message is terminated and the
    dead-letter stream holds it with service, reason, attempts and error."""
    config = fresh_config(nats_url)
    router = JetStreamRouter(config)
    calls: list[str] = []

    async def broken(event: Event) -> None:
        calls.append(event.id)
        raise RuntimeError("down")

    retry = RetryPolicy(attempts=2, backoff_base_s=0.001, backoff_cap_s=0.002)
    router.subscribe(Subscription(service="a", pattern="fs.>", retry=retry), broken)
    await router.start()
    router.publish(fs_event(1))
    report = await router.drain(10)
    stats, transport = report.stats, router.transport_stats()
    assert (calls, stats.dead_lettered, stats.retries, stats.pending) == (
        ["e1", "e1"],
        {"failed": 1},
        1,
        0,
    )
    assert (transport.naks, transport.terminated, transport.redelivered) == (1, 1, 1)
    [(subject, headers, data)] = await stream_messages(nats_url, config.dead_letter_stream)
    expected_subject = f"{config.dead_letter_prefix}.fs.file.created"
    assert (subject, decode_msgpack(data).id) == (expected_subject, "e1")
    assert (
        headers["Switchyard-Service"],
        headers["Switchyard-Reason"],
        headers["Switchyard-Attempts"],
        "down" in headers["Switchyard-Error"],
    ) == ("a", "failed", "2", True)


async def test_outgoing_buffer_bounds_refuse_overloaded_and_lose_nothing(nats_url: str) -> None:
    """Past the outgoing bound (events or bytes) publish answers 'overloaded' at once; what
    was accepted is delivered."""
    router = JetStreamRouter(fresh_config(nats_url, outgoing_max_events=3))
    rec = Recorder()
    router.subscribe(Subscription(service="a", pattern="fs.>"), rec)
    # Not started: nothing drains the buffer, so the bound is reached deterministically.
    acks = [router.publish(fs_event(n)) for n in range(4)]
    await router.start()
    report = await router.drain(10)
    assert [Ack.accepted()] * 3 + [Ack.rejected("overloaded")] == acks
    assert (rec.ids, report.stats.rejected, report.completed) == (
        ["e0", "e1", "e2"],
        {"overloaded": 1},
        True,
    )
    by_bytes = JetStreamRouter(fresh_config(nats_url, outgoing_max_bytes=3000))
    big = [by_bytes.publish(fs_event(n, payload=b"x" * 1024)) for n in range(3)]
    assert [Ack.accepted()] * 2 + [Ack.rejected("overloaded")] == big
    await by_bytes.drain(10)


async def test_drain_gives_unfinished_work_back_and_another_instance_ends_it(
    nats_url: str,
) -> None:
    """Drain gives back what it could not finish (pending, and the server agrees); a second
    instance on the same config handles exactly that, and the summed identity holds."""
    config = fresh_config(nats_url)
    first = JetStreamRouter(config)
    stuck = asyncio.Event()

    async def stalls_from_three(event: Event) -> None:
        if event.seq >= 3:
            stuck.set()
            await asyncio.Event().wait()

    first.subscribe(Subscription(service="a", pattern="fs.>", timeout_s=20.0), stalls_from_three)
    await first.start()
    for n in range(10):
        first.publish(fs_event(n))
    await asyncio.wait_for(stuck.wait(), 10)
    report = await first.drain(0.1)
    stats = report.stats
    assert (report.completed, stats.delivered, stats.dead_lettered, stats.pending) == (
        False,
        3,
        {},
        7,
    )
    assert (first.last_server_pending, report.timed_out, stats.identity_errors()) == (7, 7, [])
    second = JetStreamRouter(config)
    rec = Recorder()
    second.subscribe(Subscription(service="a", pattern="fs.>"), rec)
    await second.start()
    await until(lambda: len(rec.ids) == 7, 10)
    after = await second.drain(10)
    assert sorted(rec.ids) == sorted(f"e{n}" for n in range(3, 10))
    deliveries = stats.deliveries + after.stats.deliveries
    ended = stats.ended + after.stats.ended
    assert (deliveries, ended, second.last_server_pending) == (10, 10, 0)
    assert second.transport_stats().redelivered >= 1


async def test_two_namespaces_on_one_server_do_not_see_each_other(nats_url: str) -> None:
    """Same service and pattern in two namespaces: each router gets only its own events."""
    left, right = JetStreamRouter(fresh_config(nats_url)), JetStreamRouter(fresh_config(nats_url))
    left_rec, right_rec = Recorder(), Recorder()
    left.subscribe(Subscription(service="a", pattern="fs.>"), left_rec)
    right.subscribe(Subscription(service="a", pattern="fs.>"), right_rec)
    await asyncio.gather(left.start(), right.start())
    left.publish(fs_event(1))
    right.publish(fs_event(2))
    await asyncio.gather(left.drain(10), right.drain(10))
    assert (left_rec.ids, right_rec.ids) == (["e1"], ["e2"])


async def test_an_unreachable_server_is_a_clear_error_and_loses_nothing() -> None:
    """start names the server; drain dead-letters what was accepted as 'unpublished'."""
    config = JetStreamConfig(url="nats://127.0.0.1:1", connect_timeout_s=0.2)
    router = JetStreamRouter(config)
    router.subscribe(Subscription(service="a", pattern="fs.>"), Recorder())
    router.publish(fs_event(1))
    with pytest.raises(TransportError) as caught:
        await router.start()
    report = await router.drain(1)
    assert "nats://127.0.0.1:1" in str(caught.value)
    assert (report.stats.dead_lettered, report.stats.pending, len(router.dead_letters)) == (
        {"unpublished": 1},
        0,
        1,
    )


def test_the_registry_names_the_variable_when_no_server_is_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """make('jetstream') without SWITCHYARD_NATS_URL says which variable to set."""
    monkeypatch.delenv("SWITCHYARD_NATS_URL", raising=False)
    with pytest.raises(ArchitectureError) as caught:
        make("jetstream")
    assert "SWITCHYARD_NATS_URL" in str(caught.value)
