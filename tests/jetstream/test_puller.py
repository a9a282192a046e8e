"""The pull loop's credit: what ends a request, when a lost one is forgotten, no lost wake-up.

A stand-in client records the pull requests; no server and no timing assertion
(the loop's own timeouts are an hour long, so only a wake-up can move it).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from nats.aio.msg import Msg

from daemon.jetstream.puller import VANISHED_GRACE_S, Puller
from tests.conformance.helpers import until

pytestmark = pytest.mark.anyio

HOUR_S = 3600.0


class Client:
    """Records each pull request's batch; ``during_publish`` runs inside the next publish."""

    def __init__(self) -> None:
        self.batches: list[int] = []
        self.during_publish: list[Any] = []

    def new_inbox(self) -> str:
        return "_INBOX.test"

    async def subscribe(self, subject: str, **_: Any) -> None:
        return None

    async def publish(self, subject: str, payload: bytes, reply: str = "") -> None:
        self.batches.append(json.loads(payload)["batch"])
        while self.during_publish:
            self.during_publish.pop(0)()
        await asyncio.sleep(0)  # a publish may yield (nats-py flushes a full buffer)


def puller(client: Client, capacity: int = 32) -> Puller:
    return Puller(
        client,  # type: ignore[arg-type]
        api_prefix="$JS.API",
        stream="S",
        durable="d",
        capacity=capacity,
        expires_s=HOUR_S,
        on_message=lambda msg: None,
    )


def status(code: str, pending: int | None = None) -> Msg:
    headers = {"Status": code}
    if pending is not None:
        headers["Nats-Pending-Messages"] = str(pending)
    return Msg(None, subject="_INBOX.test", headers=headers)  # type: ignore[arg-type]


def data() -> Msg:
    return Msg(None, subject="x", reply="$JS.ACK.S.d.1.1.1.0.0", data=b"")  # type: ignore[arg-type]


@pytest.mark.parametrize("code", ["408", "409", "404", "503", "400"], ids=lambda c: f"status-{c}")
async def test_every_status_but_a_heartbeat_ends_a_request(code: str) -> None:
    """A request the server answered with a status no longer counts: its room is asked again."""
    p = puller(Client())
    p.requested_nowait(0.0, 32)
    await p._on_msg(data())
    p.released_nowait()
    await p._on_msg(status(code, pending=31 if code == "408" else None))
    assert (p.outstanding, p.plan_nowait(1.0)) == (0, 32)


async def test_a_heartbeat_keeps_the_request() -> None:
    """An idle heartbeat says the request is alive: it still counts, nothing new is asked."""
    p = puller(Client())
    p.requested_nowait(0.0, 32)
    await p._on_msg(status("100"))
    assert (p.outstanding, p.plan_nowait(1.0)) == (32, 0)


async def test_a_retry_nak_does_not_ask_again_while_the_request_stands() -> None:
    """The NAK'd-with-delay case: one message taken and released leaves room 1 (< half),
    so the standing request (31 left) is what the redelivery comes back on."""
    p = puller(Client())
    p.requested_nowait(0.0, 32)
    await p._on_msg(data())
    p.released_nowait()
    assert (p.outstanding, p.held, p.plan_nowait(1.0)) == (31, 0, 0)


def test_a_request_past_its_expiry_is_forgotten_and_the_loop_looks_on_time() -> None:
    """An unanswered request counts until its expiry plus the grace, and the loop's sleep
    ends by then (not up to half an expiry later), so a lost request is renewed at once."""
    p = puller(Client())
    p.requested_nowait(0.0, 31)
    p.held = 0
    lost_at = HOUR_S + VANISHED_GRACE_S
    before = (p.plan_nowait(lost_at - 1.0), p.wait_nowait(lost_at - 1.0) <= 1.0 + 0.1)
    after = (p.plan_nowait(lost_at + 0.001), p.outstanding)
    assert (before, after) == ((0, True), (32, 0))


async def test_a_wake_up_during_a_publish_is_not_lost() -> None:
    """A request expiring while the loop publishes makes it ask again at once (before, the
    event was cleared after the publish and the loop slept until its next look)."""
    client = Client()
    p = puller(client)
    p.requested_nowait(time.monotonic(), 16)  # an older request, 16 still to come
    # The loop asks for the other 16; the older request's 408 (16 unfilled) arrives
    # during that publish, so 16 more are free and must be asked for next.
    client.during_publish.append(lambda: asyncio.ensure_future(p._on_msg(status("408", 16))))
    task = asyncio.create_task(p.run())
    try:
        await until(lambda: len(client.batches) >= 2)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert client.batches[:2] == [16, 16]
