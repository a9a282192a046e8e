"""Authentication and authorisation over real sockets, against ``python -m daemon`` subprocesses.

One auth-enabled daemon serves the module: 401 without a token, 403 outside a
token's permissions (a batch refused whole), 421 for a Host not served, 403 for a
WebSocket Origin not allowed, the principal-keyed rate limit, the Server header.
Plain HTTP checks are synchronous (http.client), so they run once, not per loop.
"""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest

from daemon.server.auth import digest
from tests.daemon.server.support import BASE_CONFIG, REPO, final_report, start_daemon, stop

TOKENS = {"ingest": "tok-ingest", "watcher": "tok-watcher", "limited": "tok-limited"}

SERVER = """allowed_origins = ["https://ok.example"]
allowed_hosts = ["switchyard.test"]
"""

AUTH = f"""
[admission]
max_streams_per_principal = 2
[admission.principals]
"limited" = {{ rate = 0.001, burst = 2.0 }}

[auth]
enabled = true
[[auth.tokens]]
name = "ingest"
sha256 = "{digest(TOKENS["ingest"])}"
publish = ["fs.>", "db.>"]
[[auth.tokens]]
name = "watcher"
sha256 = "{digest(TOKENS["watcher"])}"
subscribe = ["fs.>"]
monitor = true
[[auth.tokens]]
name = "limited"
sha256 = "{digest(TOKENS["limited"])}"
publish = [">"]

[[handlers]]
service = "sink"
pattern = ">"
factory = "daemon.server.subscribers.simulated:sink"
"""

EVENT = {"subject": "fs.file.created", "source": "test"}


def auth_config(tmp: Path, extra: str = "") -> Path:
    """The support module's base config with ``SERVER`` in its [server] table, then AUTH."""
    path = tmp / "daemon.toml"
    base = BASE_CONFIG.format(tmp=tmp, drain_s=2.0).replace("port = 0\n", "port = 0\n" + SERVER)
    path.write_text(base + AUTH + extra)
    return path


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    proc, url = start_daemon(auth_config(tmp_path_factory.mktemp("auth")))
    try:
        yield url
    finally:
        stop(proc)


def call(
    base: str,
    method: str,
    path: str,
    body: Any = None,
    token: str | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any], dict[str, str]]:
    """One request; answers (status, JSON body or {}, headers)."""
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    sent = dict(headers or {})
    if token is not None:
        sent["Authorization"] = f"Bearer {TOKENS.get(token, token)}"
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        sent["Content-Type"] = "application/json"
    try:
        conn.request(method, path, body=data, headers=sent)
        resp = conn.getresponse()
        raw = resp.read()
        ctype = resp.getheader("Content-Type", "")
        answer = json.loads(raw) if raw and ctype.startswith("application/json") else {}
        return resp.status, answer, dict(resp.getheaders())
    finally:
        conn.close()


def accepted(base: str) -> int:
    status, body, _ = call(base, "GET", "/v1/status", token="watcher")
    assert status == 200
    return int(body["router"]["accepted"])


def test_every_endpoint_but_the_probes_needs_a_token(daemon: str) -> None:
    """Without a token: probes 200, every other route 401 with a Bearer challenge (a path no
    route serves: 404); an unknown token is 401; a token in the query string never counts."""
    paths = ["/healthz", "/readyz", "/v1/status", "/metrics", "/openapi.json", "/nope"]
    anonymous = {p: call(daemon, "GET", p)[0] for p in paths}
    status, body, headers = call(daemon, "POST", "/v1/events", EVENT)
    wrong = call(daemon, "POST", "/v1/events", EVENT, token="not-a-token")
    query = call(daemon, "GET", f"/v1/status?token={TOKENS['watcher']}")
    assert anonymous == {
        "/healthz": 200,
        "/readyz": 200,
        "/v1/status": 401,
        "/metrics": 401,
        "/openapi.json": 401,
        "/nope": 404,
    }
    assert (status, body["error"], headers["WWW-Authenticate"]) == (
        401,
        "unauthenticated",
        'Bearer realm="switchyard"',
    )
    assert (wrong[0], query[0], "query string" in query[1]["message"]) == (401, 401, True)


def test_publishing_outside_the_token_is_403_and_a_batch_is_refused_whole(daemon: str) -> None:
    """ingest may publish fs.> and db.>: sys.x is 403 naming subject and token; a batch with
    one forbidden item publishes nothing; an allowed event is accepted."""
    before = accepted(daemon)
    single = call(daemon, "POST", "/v1/events", {**EVENT, "subject": "sys.x"}, token="ingest")
    batch = call(
        daemon,
        "POST",
        "/v1/events:batch",
        [EVENT, {**EVENT, "subject": "sys.metrics.cpu"}],
        token="ingest",
    )
    after_refusals = accepted(daemon)
    ok = call(daemon, "POST", "/v1/events", EVENT, token="ingest")
    assert (single[0], single[1]["error"], batch[0], ok[0]) == (403, "forbidden", 403, 202)
    assert ("'ingest'" in single[1]["message"], "'sys.x'" in single[1]["message"]) == (True, True)
    assert "[1].subject" in batch[1]["message"]
    assert (after_refusals, accepted(daemon)) == (before, before + 1)


def test_monitor_endpoints_need_the_monitor_flag(daemon: str) -> None:
    """/v1/status and /metrics answer 403 to a token without monitor, 200 to one with it;
    status lists principals by name, never a digest."""
    refused = [call(daemon, "GET", p, token="ingest")[0] for p in ("/v1/status", "/metrics")]
    status, body, _ = call(daemon, "GET", "/v1/status", token="watcher")
    shown = json.dumps(body)
    assert (refused, status, body["access"]["principals"]) == (
        [403, 403],
        200,
        ["ingest", "watcher", "limited"],
    )
    assert (digest(TOKENS["ingest"]) in shown, TOKENS["ingest"] in shown) == (False, False)


def test_a_host_not_served_is_421(daemon: str) -> None:
    """A DNS-rebinding Host is refused, probes included; allowed_hosts, localhost and loopback
    addresses are served."""
    port = urlsplit(daemon).port
    hosts = ["evil.example", f"evil.example:{port}", "switchyard.test", f"localhost:{port}"]
    hosts += [f"127.0.0.2:{port}", f"[::1]:{port}"]
    got = {h: call(daemon, "GET", "/healthz", headers={"Host": h})[0] for h in hosts}
    body = call(daemon, "GET", "/v1/status", token="watcher", headers={"Host": "evil.example"})[1]
    assert got == {
        "evil.example": 421,
        f"evil.example:{port}": 421,
        "switchyard.test": 200,
        f"localhost:{port}": 200,
        f"127.0.0.2:{port}": 200,
        f"[::1]:{port}": 200,
    }
    assert body["error"] == "misdirected"


def test_the_rate_limit_keys_on_the_principal_not_the_source(daemon: str) -> None:
    """limited has a burst of 2: two events pass, the third is 429 though it names a new
    source (renaming the source no longer escapes the bucket)."""
    first = call(daemon, "POST", "/v1/events:batch", [EVENT, EVENT], token="limited")
    renamed = {**EVENT, "source": "someone-else"}
    second = call(daemon, "POST", "/v1/events", renamed, token="limited")
    other = call(daemon, "POST", "/v1/events", renamed, token="ingest")
    assert (first[0], second[0], second[1]["error"], other[0]) == (202, 429, "rate_limited", 202)


def test_metrics_count_by_principal(daemon: str) -> None:
    """switchyard_principal_events carries the principal's name as a label."""
    call(daemon, "POST", "/v1/events", EVENT, token="ingest")
    parts = urlsplit(daemon)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    conn.request("GET", "/metrics", headers={"Authorization": f"Bearer {TOKENS['watcher']}"})
    text = conn.getresponse().read().decode()
    conn.close()
    assert 'switchyard_principal_events_total{outcome="admitted",principal="ingest"}' in text


def test_no_version_in_the_server_header(daemon: str) -> None:
    """Every answer, one aiohttp makes itself for an unparsable request too, says only
    Server: switchyard."""
    _, _, headers = call(daemon, "GET", "/healthz")
    parts = urlsplit(daemon)
    with socket.create_connection((parts.hostname or "", parts.port or 0), timeout=10) as sock:
        sock.sendall(b"GARBAGE\r\n\r\n")
        raw = sock.recv(4096).decode(errors="replace")
    server_lines = [line for line in raw.split("\r\n") if line.lower().startswith("server:")]
    assert (headers["Server"], raw.split(" ")[1], server_lines) == (
        "switchyard",
        "400",
        ["Server: switchyard"],
    )


def _ws_headers(token: str, origin: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {TOKENS[token]}"}
    if origin is not None:
        headers["Origin"] = origin
    return headers


async def _upgrade(base: str, pattern: str, headers: dict[str, str]) -> int:
    """The status of a WebSocket upgrade: 101 when it opened (then closed at once)."""
    async with aiohttp.ClientSession() as s:
        try:
            async with s.ws_connect(f"{base}/v1/subscribe?pattern={pattern}", headers=headers):
                return 101
        except aiohttp.WSServerHandshakeError as exc:
            return exc.status


@pytest.mark.anyio
async def test_websocket_origin_token_and_pattern_checks(daemon: str) -> None:
    """An upgrade needs an allowed Origin (or none), a token, and a subscribe pattern that
    covers the asked one."""
    got = {
        "no origin": await _upgrade(daemon, "fs.file.*", _ws_headers("watcher")),
        "allowed origin": await _upgrade(
            daemon, "fs.>", _ws_headers("watcher", "https://ok.example")
        ),
        "evil origin": await _upgrade(
            daemon, "fs.>", _ws_headers("watcher", "https://evil.example")
        ),
        "no token": await _upgrade(daemon, "fs.>", {}),
        "wider pattern": await _upgrade(daemon, ">", _ws_headers("watcher")),
        "no subscribe permission": await _upgrade(daemon, "fs.>", _ws_headers("ingest")),
    }
    assert got == {
        "no origin": 101,
        "allowed origin": 101,
        "evil origin": 403,
        "no token": 401,
        "wider pattern": 403,
        "no subscribe permission": 403,
    }


@pytest.mark.anyio
async def test_a_principal_may_hold_only_so_many_streams(daemon: str) -> None:
    """max_streams_per_principal = 2: a third socket of the same token is 429."""
    headers = _ws_headers("watcher")
    url = f"{daemon}/v1/subscribe?pattern=fs.>"
    async with (
        aiohttp.ClientSession() as s,
        s.ws_connect(url, headers=headers),
        s.ws_connect(url, headers=headers),
    ):
        third = await _upgrade(daemon, "fs.>", headers)
    assert third == 429


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "daemon", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_token_command_prints_a_token_and_its_table(tmp_path: Path) -> None:
    """`python -m daemon token --name ingest` prints a token, then a table whose sha256 is the
    token's; pasted into a config it passes --check-config."""
    made = run_cli("token", "--name", "ingest", "--publish", "fs.>")
    token, _, table = made.stdout.partition("\n")
    config = tmp_path / "d.toml"
    config.write_text(f"[auth]\nenabled = true\n{table}\n")
    check = run_cli("--config", str(config), "--check-config")
    assert (made.returncode, f'sha256 = "{digest(token)}"' in table, check.returncode) == (
        0,
        True,
        0,
    )


def test_listening_beyond_loopback_without_auth_is_refused(tmp_path: Path) -> None:
    """--host 0.0.0.0 with auth off exits 2 naming --insecure, before binding anything;
    --insecure lets the config pass."""
    config = tmp_path / "d.toml"
    config.write_text("[logging]\nformat = 'json'\n")
    start = run_cli("--config", str(config), "--host", "0.0.0.0", "--port", "0")
    insecure = run_cli("--config", str(config), "--host", "0.0.0.0", "--insecure", "--check-config")
    assert (start.returncode, "--insecure" in start.stderr, insecure.returncode) == (2, True, 0)


WEBHOOK = """
[[webhooks]]
service = "hook"
pattern = "db.>"
url = "http://user:hunter2@127.0.0.1:{port}/hook?token=abc123"
policy = {{ retry = {{ attempts = 1 }}, timeout_s = 2.0 }}
"""


def test_webhook_credentials_never_shown(tmp_path: Path) -> None:
    """A webhook URL's password and query are masked in /v1/status dead letters and in the
    dead-letter file written at shutdown."""
    with socket.socket() as sock:  # a port nothing listens on: the webhook fails at once
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc, url = start_daemon(auth_config(tmp_path, WEBHOOK.format(port=port)))
    try:
        assert (
            call(url, "POST", "/v1/events", {**EVENT, "subject": "db.x"}, token="ingest")[0] == 202
        )
        recent: list[Any] = []
        for _ in range(200):  # the delivery fails within a few ms; poll, bounded
            recent = call(url, "GET", "/v1/status", token="watcher")[1]["dead_letters"]["recent"]
            if recent:
                break
            time.sleep(0.01)
        proc.terminate()
        final_report(proc)
    finally:
        stop(proc)
    shown = json.dumps(recent) + (tmp_path / "dead.jsonl").read_text()
    assert ("hunter2" in shown, "abc123" in shown, "***@127.0.0.1" in shown) == (
        False,
        False,
        True,
    )
