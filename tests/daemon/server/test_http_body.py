"""The ingress body fast path: a received body is taken as is, or refused past the limit."""

from __future__ import annotations

import asyncio
from unittest import mock

import pytest
from aiohttp import StreamReader, web
from aiohttp.test_utils import make_mocked_request

from daemon.server.http.body import received_body_nowait
from daemon.server.http.errors import IngressError

pytestmark = pytest.mark.anyio


def request(
    chunks: list[bytes], *, eof: bool, headers: dict[str, str] | None = None
) -> web.Request:
    payload = StreamReader(mock.Mock(_reading_paused=False), 2**16, loop=asyncio.get_running_loop())
    for chunk in chunks:
        payload.feed_data(chunk)
    if eof:
        payload.feed_eof()
    return make_mocked_request("POST", "/v1/events", headers=headers or {}, payload=payload)


async def test_a_received_body_is_taken_whole_and_anything_else_is_left_to_read() -> None:
    """Whole and plain: its bytes (chunks joined); still arriving, or encoded: None."""
    whole = received_body_nowait(request([b'{"a":', b"1}"], eof=True), 100)
    arriving = received_body_nowait(request([b'{"a":'], eof=False), 100)
    encoded = received_body_nowait(
        request([b"x"], eof=True, headers={"Content-Encoding": "gzip"}), 100
    )
    assert (whole, arriving, encoded) == (b'{"a":1}', None, None)


async def test_a_received_body_past_the_limit_is_413_in_the_streaming_paths_words() -> None:
    """Past client_max_size: 413 too_large, the message aiohttp's read() refusal gives."""
    with pytest.raises(IngressError) as refused:
        received_body_nowait(request([b"x" * 11], eof=True), 10)
    assert (refused.value.status, refused.value.error, refused.value.message) == (
        413,
        "too_large",
        "body too large: Maximum request body size 10 exceeded.",
    )
