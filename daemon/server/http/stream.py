"""``GET /v1/subscribe?pattern=…``: a WebSocket receiving matching events as JSON text."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from aiohttp import WSCloseCode, WSMsgType, web

from daemon.server.http.errors import error_response
from daemon.server.http.guard import PRINCIPAL
from daemon.server.subscribers.streams import Stream, StreamLimit
from events.errors import InvalidSubject
from events.subjects import validate_pattern

if TYPE_CHECKING:
    from daemon.server.server import DaemonServer

CLOSE_SLOW_CONSUMER = WSCloseCode.POLICY_VIOLATION
#: How long closing a slow consumer's socket may wait for it (to flush the close frame
#: and answer it) before the connection is aborted: a client that never reads would
#: otherwise hold the socket, and what its transport buffers, forever.
SLOW_CLOSE_TIMEOUT_S = 10.0


async def _send_loop(ws: web.WebSocketResponse, stream: Stream) -> None:
    while True:
        await stream.wake.wait()
        stream.wake.clear()
        while stream.buffer and not ws.closed:
            await ws.send_str(stream.pop_nowait())
            stream.sent += 1
        if stream.closed:
            return


async def _close_slow_consumer(ws: web.WebSocketResponse, request: web.Request) -> None:
    """Close with 1008; abort the connection if the client does not let that finish."""
    transport = request.transport
    try:
        async with asyncio.timeout(SLOW_CLOSE_TIMEOUT_S):
            await ws.close(code=CLOSE_SLOW_CONSUMER, message=b"slow consumer: send buffer full")
    except (TimeoutError, ConnectionError):
        if transport is not None:
            transport.abort()


async def subscribe(server: DaemonServer, request: web.Request) -> web.StreamResponse:
    pattern = request.query.get("pattern", "")
    try:
        validate_pattern(pattern)
    except InvalidSubject as exc:
        return error_response(422, "invalid_pattern", f"pattern: {exc}")
    principal = request[PRINCIPAL]
    refusal = server.access.subscribe_refusal_nowait(principal, pattern)
    if refusal is not None:
        return refusal
    ws = web.WebSocketResponse(heartbeat=30.0)
    if not ws.can_prepare(request).ok:
        # aiohttp's own refusal is a text/plain 400; every error here is JSON.
        return error_response(
            400, "not_websocket", "GET /v1/subscribe takes a WebSocket upgrade request (RFC 6455)"
        )
    if server.admission.draining:
        return error_response(503, "draining", "the daemon is shutting down", 1)
    limit = server.admission.config.max_streams_per_principal
    if not server.access.open_stream_nowait(principal.name, limit):
        return error_response(
            429, "too_many_streams", f"token {principal.name!r} holds {limit} streams already", 1
        )
    try:
        hub, stream = server.streams.open_nowait(pattern)
    except StreamLimit as exc:
        server.access.close_stream_nowait(principal.name)
        return error_response(503, "too_many_streams", str(exc), 1)
    sender: asyncio.Task[None] | None = None
    try:
        await ws.prepare(request)
        sender = asyncio.create_task(_send_loop(ws, stream), name=f"ws-send:{pattern}")
        reader = asyncio.create_task(_read_until_closed(ws), name=f"ws-read:{pattern}")
        # The sender may be blocked on a client that does not read: an overflow must
        # not wait for it.
        slow = asyncio.create_task(stream.overflow.wait(), name=f"ws-slow:{pattern}")
        await asyncio.wait({sender, reader, slow}, return_when=asyncio.FIRST_COMPLETED)
        for task in (reader, slow, sender) if stream.overflowed else (reader, slow):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await task
        if stream.overflowed:
            await _close_slow_consumer(ws, request)
        else:
            await ws.close()
    finally:
        server.access.close_stream_nowait(principal.name)
        server.streams.close_nowait(hub, stream)
        if sender is not None and not sender.done():
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await sender
    return ws


async def _read_until_closed(ws: web.WebSocketResponse) -> None:
    # Clients only listen; reading is how a close from their side is noticed.
    async for msg in ws:
        if msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
            return
