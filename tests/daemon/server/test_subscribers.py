"""Webhook and WebSocket subscribers against real local sockets."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from events import Category, Event
from tests.conformance.helpers import until
from tests.daemon.server.support import running
from tests.daemon.server.test_http_ingress import EVENT, post

pytestmark = pytest.mark.anyio


class Receiver:
    """A real aiohttp server standing in for a webhook endpoint."""

    def __init__(self, fail_first: int = 0, status: int = 500) -> None:
        self.fail_first = fail_first
        self.status = status
        self.bodies: list[dict[str, Any]] = []
        self.calls = 0
        self.got = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        self.calls += 1
        if self.calls <= self.fail_first:
            return web.Response(status=self.status)
        self.bodies.append(await request.json())
        self.got.set()
        return web.Response(status=204)


async def serve(receiver: Receiver) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    return runner, f"http://{host}:{port}/hook"


def webhook_config(url: str) -> str:
    return f"""
[[webhooks]]
service = "hook"
pattern = "fs.>"
url = "{url}"
policy = {{{{ retry = {{{{ attempts = 3, backoff_base_s = 0.001, backoff_cap_s = 0.002 }}}} }}}}
"""


async def test_webhook_retries_until_2xx(tmp_path: Path) -> None:
    """A webhook answering 500 twice is retried by the pipeline and then receives the event."""
    receiver = Receiver(fail_first=2)
    runner, url = await serve(receiver)
    try:
        async with (
            running(tmp_path, webhook_config(url)) as (server, base),
            aiohttp.ClientSession() as s,
        ):
            await post(s, f"{base}/v1/events", {**EVENT, "id": "w1"})
            await asyncio.wait_for(receiver.got.wait(), 5)
            await server.router.drain(2.0)
            stats = server.router.stats()
    finally:
        await runner.cleanup()
    assert (receiver.calls, [b["id"] for b in receiver.bodies], stats.retries) == (3, ["w1"], 2)


async def test_webhook_4xx_is_permanent(tmp_path: Path) -> None:
    """A 404 answer dead-letters the delivery at once, without retries."""
    receiver = Receiver(fail_first=10, status=404)
    runner, url = await serve(receiver)
    try:
        async with (
            running(tmp_path, webhook_config(url)) as (server, base),
            aiohttp.ClientSession() as s,
        ):
            await post(s, f"{base}/v1/events", EVENT)
            await server.router.drain(2.0)
            stats = server.router.stats()
    finally:
        await runner.cleanup()
    assert (receiver.calls, stats.dead_lettered) == (1, {"permanent": 1})


STREAMS = """
[streams]
send_buffer = 3
"""


async def test_websocket_stream_receives_matching_events(tmp_path: Path) -> None:
    """A socket on db.> receives the db events, in order, and not the fs ones."""
    async with (
        running(tmp_path, STREAMS) as (_, base),
        aiohttp.ClientSession() as s,
        s.ws_connect(f"{base}/v1/subscribe?pattern=db.>") as ws,
    ):
        await post(s, f"{base}/v1/events", {**EVENT, "id": "skip"})
        for i in range(2):
            await post(
                s, f"{base}/v1/events", {**EVENT, "subject": "db.txn.committed", "id": f"d{i}"}
            )
        got = [(await asyncio.wait_for(ws.receive_json(), 5))["id"] for _ in range(2)]
    assert got == ["d0", "d1"]


async def test_websocket_invalid_pattern_is_422(tmp_path: Path) -> None:
    """A bad pattern is refused before the upgrade, with a JSON error."""
    async with (
        running(tmp_path, STREAMS) as (_, base),
        aiohttp.ClientSession() as s,
        s.get(f"{base}/v1/subscribe?pattern=a.>.b") as resp,
    ):
        status, body = resp.status, await resp.json()
    assert (status, body["error"]) == (422, "invalid_pattern")


async def test_slow_websocket_consumer_is_disconnected(tmp_path: Path) -> None:
    """A socket that does not keep up overflows its 3-event buffer and is closed and counted."""
    async with (
        running(tmp_path, STREAMS) as (server, base),
        aiohttp.ClientSession() as s,
        s.ws_connect(f"{base}/v1/subscribe?pattern=fs.>") as ws,
    ):
        hub = server.streams.hubs["fs.>"]
        stream = hub.streams[0]
        # Publish in-process so nothing yields to the sender between events.
        event = Event(id="x", subject="fs.file.created", category=Category.FILESYSTEM, source="t")
        for _ in range(10):
            await hub(event)  # never yields: the sender cannot drain the buffer meanwhile
        msg = None
        for _ in range(20):
            msg = await asyncio.wait_for(ws.receive(), 5)
            if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                break
        slow = server.metrics.streams_slow_disconnects
        await until(lambda: server.streams.unsubscribed == 1)  # the handler's cleanup ran
        lost = (server.streams.dropped, server.streams.unheard)
    assert (stream.overflowed, slow, ws.close_code) == (True, 1, 1008)
    # 3 buffered + the one that overflowed are dropped; the socket had left for the other 6.
    assert lost == (4, 6)


async def test_last_socket_closing_unsubscribes_its_pattern(tmp_path: Path) -> None:
    """When a pattern's last socket leaves, its hub is unsubscribed and hears nothing more."""
    async with running(tmp_path, STREAMS) as (server, base), aiohttp.ClientSession() as s:
        async with s.ws_connect(f"{base}/v1/subscribe?pattern=fs.>") as first:
            async with s.ws_connect(f"{base}/v1/subscribe?pattern=fs.>") as second:
                await post(s, f"{base}/v1/events", {**EVENT, "id": "a"})
                heard = [
                    (await asyncio.wait_for(ws.receive_json(), 5))["id"] for ws in (first, second)
                ]
            await until(lambda: server.streams.open_streams == 1)
            services_one_left = [sub.service for sub in server.router.stats().subscriptions]
        await until(lambda: server.streams.unsubscribed == 1)
        await post(s, f"{base}/v1/events", {**EVENT, "id": "b"})
        stats = server.router.stats()
        hubs = dict(server.streams.hubs)
    assert (heard, services_one_left) == (["a", "a"], ["stream:fs.>"])
    assert (hubs, stats.subscriptions, stats.unrouted) == ({}, [], 1)
    assert (stats.deliveries, stats.delivered, stats.identity_errors()) == (1, 1, [])
    assert (server.streams.unheard, server.streams.dropped) == (0, 0)
