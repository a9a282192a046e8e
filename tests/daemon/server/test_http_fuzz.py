"""Fuzzing the ingress: random bodies, content types and fields never crash it or half-accept.

The daemon runs on its own event loop in a thread; hypothesis drives it with a
plain blocking HTTP client over a real socket, one request at a time, so the
router's counters can be compared before and after each request.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daemon.server.config import load_config
from daemon.server.server import DaemonServer
from tests.daemon.server.support import write_config

SINK = """
[[handlers]]
service = "sink"
pattern = ">"
factory = "daemon.server.subscribers.simulated:sink"

[admission.principals]
"anonymous" = {{ rate = 1000.0, burst = 20.0 }}
"""

ALLOWED = {202, 400, 413, 415, 422, 429, 503}

FIELDS = ["id", "subject", "category", "source", "priority", "payload", "targets", "headers"]
values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    st.sampled_from(["fs.file.created", "db.row.inserted.t", "a..b", "x.>", "", "database"]),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3),
)
event_like = st.dictionaries(
    st.one_of(st.sampled_from(FIELDS), st.text(max_size=8)), values, max_size=9
)
valid_event = st.fixed_dictionaries(
    {"subject": st.sampled_from(["fs.file.created", "sys.metrics"])},
    optional={
        "source": st.sampled_from(["a", "tiny", ""]),
        "priority": st.integers(-1, 4),
        "id": st.text(max_size=6),
    },
)
documents = st.one_of(
    event_like,
    valid_event,
    st.lists(st.one_of(event_like, valid_event), max_size=6),
    values,
)
content_types = st.sampled_from(
    [
        "application/json",
        "application/msgpack",
        "application/x-msgpack",
        "application/json; charset=utf-8",
        "text/plain",
        "",
    ]
)


def encode(doc: Any, ctype: str) -> bytes:
    try:
        if "msgpack" in ctype:
            return msgspec.msgpack.encode(doc)
        return json.dumps(doc).encode()
    except (TypeError, ValueError, OverflowError):
        return b"\x00not-encodable"


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DaemonServer, int]]:
    tmp = tmp_path_factory.mktemp("fuzz")
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = DaemonServer(load_config(write_config(Path(tmp), SINK)))
    _, port = asyncio.run_coroutine_threadsafe(server.start(), loop).result(timeout=10)
    try:
        yield server, port
    finally:
        asyncio.run_coroutine_threadsafe(server.shutdown(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    path=st.sampled_from(["/v1/events", "/v1/events:batch"]),
    ctype=content_types,
    doc=documents,
    raw=st.one_of(st.none(), st.binary(max_size=64)),
)
def test_fuzzed_requests_never_crash_or_half_accept(
    daemon: tuple[DaemonServer, int], path: str, ctype: str, doc: Any, raw: bytes | None
) -> None:
    """Any request gets a known status and a JSON body; only a 202 publishes anything."""
    server, port = daemon
    body = raw if raw is not None else encode(doc, ctype)
    before = server.router.stats()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        headers = {"Content-Type": ctype} if ctype else {}
        conn.request("POST", path, body=body, headers=headers)
        resp = conn.getresponse()
        answer = json.loads(resp.read())
        status = resp.status
    finally:
        conn.close()
    after = server.router.stats()
    published = after.published - before.published
    accepted = after.accepted - before.accepted
    assert status in ALLOWED, answer
    if status == 202:
        n = len(answer["accepted"]) + len(answer.get("rejected", []))
        assert (published, accepted) == (n, len(answer["accepted"]))
    else:
        # A 503 may follow a publish the router refused whole; nothing is ever accepted.
        refused_whole = status == 503 and published > 0
        assert (accepted, answer["status"], published == 0 or refused_whole) == (0, status, True)
