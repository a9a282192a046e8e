"""Admission over a real socket: overload and draining answer 503 with Retry-After."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from tests.daemon.server.support import running
from tests.daemon.server.test_http_ingress import EVENT, post

pytestmark = pytest.mark.anyio

BLOCKED = """
[admission]
high_water = 0.5
sample_interval_s = 0.005

[[handlers]]
service = "stuck"
pattern = "fs.>"
factory = "tests.daemon.server.support:blocked"
policy = {{ mailbox = 4, concurrency = 1 }}
"""

#: High water at 100%: only the router's own mailbox check refuses.
FULL_ONLY = BLOCKED.replace("high_water = 0.5", "high_water = 1.0")


async def test_full_mailbox_answers_503(tmp_path: Path) -> None:
    """When the router refuses (mailbox full), the ingress answers 503 overloaded + Retry-After."""
    async with (
        running(tmp_path, FULL_ONLY, drain_s=0.05) as (_server, base),
        aiohttp.ClientSession() as s,
    ):
        statuses = [(await post(s, f"{base}/v1/events", EVENT))[0] for _ in range(5)]
        status, body, headers = await post(s, f"{base}/v1/events", EVENT)
    # One event in the worker, four in the mailbox, then the mailbox is full.
    assert (
        statuses,
        status,
        body["error"],
        headers.get("Retry-After"),
    ) == ([202] * 5, 503, "overloaded", "1")


async def test_above_high_water_not_ready_and_503(tmp_path: Path) -> None:
    """Above the high-water mark /readyz turns 503 and the ingress refuses before publishing."""
    async with (
        running(tmp_path, BLOCKED, drain_s=0.05) as (server, base),
        aiohttp.ClientSession() as s,
    ):
        for _ in range(4):
            await post(s, f"{base}/v1/events", EVENT)
        for _ in range(200):  # the sampler runs every 5 ms; poll, bounded
            async with s.get(f"{base}/readyz") as resp:
                if resp.status == 503:
                    break
            await asyncio.sleep(0.01)
        ready_status = resp.status
        published = server.router.stats().published
        status, body, _ = await post(s, f"{base}/v1/events", EVENT)
        after = server.router.stats().published
    assert (503, 503, "overloaded", published) == (ready_status, status, body["error"], after)


async def test_draining_answers_503(tmp_path: Path) -> None:
    """While draining, intake answers 503 draining and readiness is off."""
    async with (
        running(tmp_path, BLOCKED, drain_s=0.05) as (server, base),
        aiohttp.ClientSession() as s,
    ):
        server.admission.draining = True
        server.ready = False
        server.stopping = True
        status, body, headers = await post(s, f"{base}/v1/events", EVENT)
        async with s.get(f"{base}/readyz") as resp:
            ready = (resp.status, (await resp.json())["reasons"])
    assert (
        status,
        body["error"],
        headers.get("Retry-After"),
        ready,
    ) == (503, "draining", "1", (503, ["draining"]))


HUB_HIGH_WATER = """
[admission]
high_water = 0.5
sample_interval_s = 0.005

[[handlers]]
service = "stuck"
pattern = "fs.>"
factory = "tests.daemon.server.support:blocked"
policy = {{ mailbox = 100, concurrency = 1 }}
"""


async def test_stream_hubs_do_not_inflate_the_high_water_mark(tmp_path: Path) -> None:
    """Five stream patterns open (five hubs) and 60 of 100 pending: above 0.5, so 503.

    Each hub used to add its 10,000-event mailbox to the denominator (100 + 50,000),
    so the ingress went on accepting far past the configured subscriptions' room.
    """
    async with (
        running(tmp_path, HUB_HIGH_WATER, drain_s=0.05) as (server, base),
        aiohttp.ClientSession() as s,
    ):
        sockets = [await s.ws_connect(f"{base}/v1/subscribe?pattern=sys.{n}") for n in range(5)]
        statuses = [(await post(s, f"{base}/v1/events", EVENT))[0] for _ in range(60)]
        for _ in range(500):  # the sampler runs every 5 ms; poll, bounded
            async with s.get(f"{base}/readyz") as resp:
                if resp.status == 503:
                    break
            await asyncio.sleep(0.01)
        ready_status = resp.status
        refused, body, _ = await post(s, f"{base}/v1/events", EVENT)
        hubs, capacity = len(server.streams.hubs), server.admission.capacity
        for ws in sockets:
            await ws.close()
    # Up to 50 pending nothing may be refused; past it the sampler may refuse any time.
    assert (statuses[:50], hubs, capacity, ready_status, refused, body["error"]) == (
        [202] * 50,
        5,
        100,
        503,
        503,
        "overloaded",
    )


HEADER_BYTES = """
[[handlers]]
service = "stuck"
pattern = "fs.>"
factory = "tests.daemon.server.support:blocked"
policy = {{ mailbox = 100, mailbox_bytes = 20000, concurrency = 1 }}
"""


async def test_headers_count_against_mailbox_bytes(tmp_path: Path) -> None:
    """Events carrying 8 KB each in headers fill a 20 KB mailbox: the third queued is refused."""
    heavy = {**EVENT, "headers": {"blob": "x" * 8000}}
    async with (
        running(tmp_path, HEADER_BYTES, drain_s=0.05) as (_server, base),
        aiohttp.ClientSession() as s,
    ):
        # The first goes to the (blocked) worker; two fit the mailbox, the next does not.
        statuses = [(await post(s, f"{base}/v1/events", heavy))[0] for _ in range(4)]
    assert statuses == [202, 202, 202, 503]


async def test_invalid_subjects_leave_no_trace_in_the_ingress(tmp_path: Path) -> None:
    """A thousand distinct invalid subjects: all 422, none cached by the ingress or router."""
    async with (
        running(tmp_path, HEADER_BYTES, drain_s=0.05) as (server, base),
        aiohttp.ClientSession() as s,
    ):
        statuses = {
            (await post(s, f"{base}/v1/events", {**EVENT, "subject": f"fs..{n}" + "x" * 250}))[0]
            for n in range(1000)
        }
        cached = len(server.ingress._subjects)
    assert (statuses, cached) == ({422}, 0)
