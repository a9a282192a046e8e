"""The HTTP ingress over a real socket: every route and every error code with its JSON body."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.daemon.server.support import running

pytestmark = pytest.mark.anyio

RECORDING = """
[[handlers]]
service = "rec"
pattern = ">"
factory = "tests.daemon.server.support:recorder"
args = {{ path = "{tmp}/delivered.txt" }}
"""

EVENT = {"subject": "fs.file.created", "source": "test"}


async def post(
    session: aiohttp.ClientSession, url: str, body: Any, ctype: str = "application/json"
) -> tuple[int, dict[str, Any], dict[str, str]]:
    data = body if isinstance(body, bytes) else msgspec.json.encode(body)
    async with session.post(url, data=data, headers={"Content-Type": ctype}) as resp:
        return resp.status, await resp.json(), dict(resp.headers)


async def test_single_event_gets_an_id_and_is_delivered(tmp_path: Path) -> None:
    """POST /v1/events answers 202 with an assigned id, and the handler receives it."""
    async with running(tmp_path, RECORDING) as (server, base), aiohttp.ClientSession() as s:
        status, body, _ = await post(s, f"{base}/v1/events", EVENT)
        await server.router.drain(1.0)
    delivered = (tmp_path / "delivered.txt").read_text().split()
    assert (202, 1, body["accepted"]) == (status, len(body["accepted"]), delivered)


async def test_batch_json_and_msgpack_keep_client_ids(tmp_path: Path) -> None:
    """A batch in either codec answers 202 listing the ids the client chose."""
    events = [{**EVENT, "id": f"e{i}"} for i in range(3)]
    async with running(tmp_path, RECORDING) as (_, base), aiohttp.ClientSession() as s:
        st_json, body_json, _ = await post(s, f"{base}/v1/events:batch", events)
        packed = msgspec.msgpack.encode([{**e, "id": e["id"] + "m"} for e in events])
        st_mp, body_mp, _ = await post(s, f"{base}/v1/events:batch", packed, "application/msgpack")
    assert (
        st_json,
        body_json["accepted"],
        st_mp,
        body_mp["accepted"],
    ) == (202, ["e0", "e1", "e2"], 202, ["e0m", "e1m", "e2m"])


@pytest.mark.parametrize(
    ("body", "ctype", "status", "error"),
    [
        (b'{"subject": "fs.file', "application/json", 400, "malformed"),
        (b"\xc1", "application/msgpack", 400, "malformed"),
        (b"{}", "text/plain", 415, "unsupported_media_type"),
        (b'{"subject": "fs..x", "source": "t"}', "application/json", 422, "invalid_subject"),
        (b'{"subject": "fs.*", "source": "t"}', "application/json", 422, "invalid_subject"),
        (
            b'{"subject": "fs.a", "source": "t", "bogus": 1}',
            "application/json",
            422,
            "invalid_field",
        ),
        (
            b'{"subject": "fs.a", "source": "t", "priority": 9}',
            "application/json",
            422,
            "invalid_field",
        ),
        (b'{"subject": "zz.a", "source": "t"}', "application/json", 422, "invalid_field"),
        (b'{"subject": 5, "source": "t"}', "application/json", 422, "invalid_field"),
        (b'{"subject": "fs.a", "source": ""}', "application/json", 422, "invalid_field"),
        (b'{"subject": "fs.a", "source": "t", "id": ""}', "application/json", 422, "invalid_field"),
        (b"x" * 70_000, "application/json", 413, "too_large"),
    ],
)
async def test_single_event_errors(
    tmp_path: Path, body: bytes, ctype: str, status: int, error: str
) -> None:
    """Each bad request gets its status and a JSON body naming the problem; nothing is published."""
    async with running(tmp_path, RECORDING) as (server, base), aiohttp.ClientSession() as s:
        got_status, got, _ = await post(s, f"{base}/v1/events", body, ctype)
        published = server.router.stats().published
    assert (status, status, error, True, 0) == (
        got_status,
        got["status"],
        got["error"],
        bool(got["message"]),
        published,
    )


async def test_batch_is_validated_all_or_nothing(tmp_path: Path) -> None:
    """One invalid item answers 422 naming its index, and no item of the batch is published."""
    events = [EVENT, EVENT, {**EVENT, "subject": "fs..bad"}]
    async with running(tmp_path, RECORDING) as (server, base), aiohttp.ClientSession() as s:
        status, body, _ = await post(s, f"{base}/v1/events:batch", events)
        published = server.router.stats().published
    assert (status, "[2]." in body["message"], published) == (422, True, 0)


async def test_batch_of_complete_events_alone_or_mixed(tmp_path: Path) -> None:
    """Complete events (id and category given) keep their ids on a subject seen before or not;
    mixed with an event lacking its id, that one gets a server-made id in its place; a complete
    event out of range later in the batch is 422 naming its index, and nothing is published."""
    complete = {**EVENT, "category": "filesystem"}
    async with running(tmp_path, RECORDING) as (server, base), aiohttp.ClientSession() as s:
        url = f"{base}/v1/events:batch"
        first, body_first, _ = await post(s, url, [{**complete, "id": f"a{i}"} for i in range(3)])
        cached, body_cached, _ = await post(s, url, [{**complete, "id": f"b{i}"} for i in range(3)])
        mixed, body_mixed, _ = await post(s, url, [{**complete, "id": "c0"}, EVENT])
        published_before = server.router.stats().published
        bad, body_bad, _ = await post(
            s, url, [{**complete, "id": "d0"}, {**complete, "id": "d1", "priority": 9}]
        )
        published_after = server.router.stats().published
        await server.router.drain(1.0)
    delivered = (tmp_path / "delivered.txt").read_text().split()
    made = body_mixed["accepted"][1]
    assert (
        first,
        body_first["accepted"],
        cached,
        body_cached["accepted"],
        mixed,
        body_mixed["accepted"][0],
        made not in {"", "c0"},
        bad,
        "[1].priority" in body_bad["message"],
        published_after - published_before,
        delivered,
    ) == (
        202,
        ["a0", "a1", "a2"],
        202,
        ["b0", "b1", "b2"],
        202,
        "c0",
        True,
        422,
        True,
        0,
        ["a0", "a1", "a2", "b0", "b1", "b2", "c0", made],
    )


async def test_batch_limits(tmp_path: Path) -> None:
    """An empty batch is 422 and a batch above max_batch is 413."""
    async with running(tmp_path, RECORDING) as (_, base), aiohttp.ClientSession() as s:
        empty, _, _ = await post(s, f"{base}/v1/events:batch", [])
        big, body, _ = await post(s, f"{base}/v1/events:batch", [EVENT] * 51)
    assert (empty, big, body["error"]) == (422, 413, "too_large")


async def test_principal_over_its_bucket_gets_429(tmp_path: Path) -> None:
    """With auth off every client is "anonymous": burst 2 lets two events in, then 429 with
    Retry-After and nothing taken, whatever source the next event names."""
    limited = RECORDING + '[admission.principals]\n"anonymous" = {{ rate = 1.0, burst = 2.0 }}\n'
    async with running(tmp_path, limited) as (server, base), aiohttp.ClientSession() as s:
        first, _, _ = await post(s, f"{base}/v1/events:batch", [EVENT, EVENT])
        second, body, headers = await post(s, f"{base}/v1/events", {**EVENT, "source": "new"})
        accepted = server.router.stats().accepted
    assert (
        first,
        second,
        body["error"],
        headers.get("Retry-After"),
        accepted,
    ) == (202, 429, "rate_limited", "1", 2)


async def test_ops_endpoints(tmp_path: Path) -> None:
    """healthz, readyz, status and openapi answer JSON; /metrics parses as Prometheus text."""
    async with running(tmp_path, RECORDING) as (server, base), aiohttp.ClientSession() as s:
        await post(s, f"{base}/v1/events", {**EVENT, "subject": "db.row.inserted.users"})
        await server.router.drain(1.0)
        answers = {}
        for path in ("/healthz", "/readyz", "/v1/status", "/openapi.json"):
            async with s.get(base + path) as resp:
                answers[path] = (resp.status, await resp.json())
        async with s.get(base + "/metrics") as resp:
            text = await resp.text()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    ingress = {
        (x.labels["prefix"], x.labels["outcome"]): x.value
        for x in families["switchyard_ingress_events"].samples
    }
    assert (answers["/healthz"][0], answers["/healthz"][1]["status"]) == (200, "ok")
    assert (answers["/readyz"][0], answers["/readyz"][1]["ready"]) == (200, True)
    assert (
        answers["/v1/status"][1]["router"]["delivered"],
        answers["/v1/status"][1]["identity_errors"],
    ) == (1, [])
    assert "/v1/events:batch" in answers["/openapi.json"][1]["paths"]
    assert ingress == {("db", "accepted"): 1.0}
    assert "switchyard_delivery_latency_seconds" in families


async def test_openapi_documents_every_route(tmp_path: Path) -> None:
    """The OpenAPI document in the repo lists exactly the routes the app serves."""
    async with running(tmp_path, RECORDING) as (server, base), aiohttp.ClientSession() as s:
        async with s.get(f"{base}/openapi.json") as resp:
            doc = await resp.json()
        assert server.app is not None
        served = {r.resource.canonical for r in server.app.router.routes() if r.resource}
    assert set(doc["paths"]) == served
