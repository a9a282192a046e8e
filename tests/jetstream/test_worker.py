"""A lane's workers: the inlined first attempt ends each delivery as ``run_attempt`` judges it,
a burst reaches every worker whose handler waits, and ack subjects are read as nats-py reads
them."""

from __future__ import annotations

import asyncio

import nats.errors
import pytest
from nats.aio.msg import Msg

from daemon.jetstream import JetStreamRouter
from daemon.jetstream.attempt import delivery_count
from events import Event, Permanent, RetryPolicy, Subscription
from tests.jetstream.helpers import fresh_config, fs_event

pytestmark = pytest.mark.anyio


async def test_every_outcome_of_an_inline_attempt_is_judged_like_a_run_attempt(
    nats_url: str,
) -> None:
    """Success, a failure, a permanent failure, a timeout, a handler raising
    CancelledError itself and one swallowing the watchdog's cancellation: each first
    attempt runs in the worker loop; failures are NAK'd and redelivered (attempt 2
    succeeds), the permanent one is dead-lettered, the swallowed timeout counts as
    delivered, and nothing is left pending."""
    router = JetStreamRouter(fresh_config(nats_url, watchdog_tick_s=0.005))
    calls: list[tuple[str, int]] = []
    script = {"e2": "fail", "e3": "permanent", "e4": "hang", "e5": "cancel", "e6": "swallow"}

    async def handler(event: Event) -> None:
        attempt = sum(1 for seen, _ in calls if seen == event.id) + 1
        calls.append((event.id, attempt))
        outcome = script.get(event.id, "ok") if attempt == 1 else "ok"
        if outcome == "fail":
            raise RuntimeError("down")
        if outcome == "permanent":
            raise Permanent("bad input")
        if outcome == "hang":
            await asyncio.Event().wait()
        if outcome == "cancel":
            raise asyncio.CancelledError
        if outcome == "swallow":
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                return

    retry = RetryPolicy(attempts=2, backoff_base_s=0.001, backoff_cap_s=0.002)
    sub = Subscription(service="a", pattern="fs.>", timeout_s=0.05, retry=retry, concurrency=2)
    router.subscribe(sub, handler)
    await router.start()
    for n in range(1, 7):
        router.publish(fs_event(n))
    report = await router.drain(10)
    stats, transport = report.stats, router.transport_stats()
    expected_calls = sorted([(f"e{n}", 1) for n in range(1, 7)] + [("e2", 2), ("e4", 2), ("e5", 2)])
    assert expected_calls == sorted(calls)
    assert (
        stats.delivered,
        stats.dead_lettered,
        stats.retries,
        stats.pending,
    ) == (5, {"permanent": 1}, 3, 0)
    assert (
        transport.naks,
        transport.redelivered,
        transport.terminated,
        report.completed,
    ) == (3, 3, 1, True)


async def test_a_burst_reaches_every_worker_when_handlers_wait(nats_url: str) -> None:
    """Workers are woken one after another, not one per message: still, with handlers
    that wait, a burst of eight events has all four workers of the subscription
    running at once."""
    router = JetStreamRouter(fresh_config(nats_url))
    running = 0
    most = 0
    all_in = asyncio.Event()

    async def handler(event: Event) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        if running == 4:
            all_in.set()
        await all_in.wait()
        running -= 1

    router.subscribe(Subscription(service="a", pattern="fs.>", concurrency=4), handler)
    await router.start()
    for n in range(1, 9):
        router.publish(fs_event(n))
    await asyncio.wait_for(all_in.wait(), 10)
    report = await router.drain(10)
    assert (most, report.stats.delivered, report.stats.pending) == (4, 8, 0)


def test_an_ack_subject_is_read_as_nats_py_reads_it_and_anything_else_refused() -> None:
    """The attempt number comes from the ack subject's delivered token (with or without
    a domain); a reply that is not a JetStream ack subject is refused as nats-py refuses it."""
    replies = [
        "$JS.ACK.S.C.3.41.7.1733284567123456789.0",
        "$JS.ACK.dom.acc.S.C.4.52.9.1733284567123456789.2",
        "$JS.ACK.dom.acc.S.C.5.52.9.1733284567123456789.2.rnd",
    ]
    msgs = [Msg(None, subject="x", reply=reply) for reply in replies]  # type: ignore[arg-type]
    assert [m.metadata.num_delivered for m in msgs] == [delivery_count(m) for m in msgs]
    for reply in ("_INBOX.abc.1", "$JS.ACK.S.C.3.41.7.0", "$JS.NAK.S.C.3.41.7.1.0"):
        with pytest.raises(nats.errors.NotJSMessageError):
            Msg(None, subject="x", reply=reply).metadata  # type: ignore[arg-type]  # noqa: B018
        with pytest.raises(nats.errors.NotJSMessageError):
            delivery_count(Msg(None, subject="x", reply=reply))  # type: ignore[arg-type]
