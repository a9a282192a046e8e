"""Bounds a hostile client meets, against a real daemon subprocess on port 0.

Subjects over their limits (422 naming the rule), a gzip bomb (413 while
``/healthz`` stays 200), half-sent headers and bodies (closed by the read
timeouts), and more connections than ``max_connections`` or the descriptor
limit allows (503, service goes on). No timing is asserted: a test waits, with
a generous bound, for what must happen, and checks that it did.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import resource
import socket
import subprocess
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil  # type: ignore[import-untyped]
import pytest

from tests.daemon.server.support import start_daemon, stop

CONFIG = """
[server]
host = "127.0.0.1"
port = 0
client_max_size = {max_size}
max_batch = 50
header_timeout_s = {header_s}
body_timeout_s = {body_s}
max_connections = {max_connections}

[lifecycle]
drain_timeout_s = 1.0
dead_letter_journal = "{tmp}/dead.jsonl"

[logging]
format = "json"
level = "warning"
{extra}
[[handlers]]
service = "rec"
pattern = ">"
factory = "tests.daemon.server.support:recorder"
args = {{ path = "{tmp}/delivered.txt" }}
"""

#: How long a test waits for the daemon to do what it must (a bound, not a measure).
PATIENCE_S = 60.0


def _config(tmp: Path, **overrides: Any) -> Path:
    values = {
        "max_size": 65536,
        "header_s": 30.0,
        "body_s": 30.0,
        "max_connections": 1000,
        "extra": "",
    }
    values.update(overrides)
    path = tmp / "daemon.toml"
    path.write_text(CONFIG.format(tmp=tmp, **values))
    return path


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Callable[..., tuple[str, int]]]:
    """Start a daemon with config overrides (and optionally preexec_fn); stopped at the end."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(**overrides: Any) -> tuple[str, int]:
        preexec = overrides.pop("preexec_fn", None)
        proc, base = start_daemon(_config(tmp_path, **overrides), preexec_fn=preexec)
        procs.append(proc)
        (tmp_path / "daemon.pid").write_text(str(proc.pid))
        url = urlsplit(base)
        assert url.hostname is not None and url.port is not None
        return url.hostname, url.port

    yield start
    for proc in procs:
        stop(proc)


def request(
    addr: tuple[str, int],
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any]]:
    """One request on a fresh connection: (status, JSON body or {})."""
    conn = http.client.HTTPConnection(*addr, timeout=PATIENCE_S)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        raw = resp.read()
    finally:
        conn.close()
    ctype = resp.getheader("Content-Type", "")
    return resp.status, json.loads(raw) if ctype.startswith("application/json") else {}


def post_json(addr: tuple[str, int], path: str, body: Any) -> tuple[int, dict[str, Any]]:
    return request(
        addr, "POST", path, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )


def metric(addr: tuple[str, int], name: str) -> float:
    """The sum of every sample of ``name`` in /metrics."""
    conn = http.client.HTTPConnection(*addr, timeout=PATIENCE_S)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name) and not line.startswith("#")
    )


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the daemon sends until it closes the connection."""
    sock.settimeout(PATIENCE_S)
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


# -- subjects ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "rule"),
    [
        ("fs." + "a" * 300, "max_bytes"),
        (".".join(["fs"] + ["t"] * 16), "max_tokens"),
        ("fs.file\u0000created", "printable"),
        ("fs.file\u001bcreated", "printable"),
    ],
)
def test_subject_over_a_limit_answers_422_naming_the_rule(
    daemon: Callable[..., tuple[str, int]], subject: str, rule: str
) -> None:
    """A subject too long, with too many tokens, or with a control character: 422, rule named."""
    addr = daemon()
    status, body = post_json(addr, "/v1/events", {"subject": subject, "source": "t"})
    batch_status, batch_body = post_json(
        addr,
        "/v1/events:batch",
        [{"subject": "fs.ok", "source": "t"}, {"subject": subject, "source": "t"}],
    )
    assert (
        status,
        body["error"],
        f"rule: {rule}" in body["message"],
        batch_status,
        batch_body["message"].startswith("[1].subject"),
    ) == (422, "invalid_subject", True, 422, True)


def test_megabyte_subject_is_refused_and_not_echoed(
    daemon: Callable[..., tuple[str, int]],
) -> None:
    """A 1 MB subject answers 422 with a short message (the subject is not repeated)."""
    addr = daemon(max_size=4 * 1024 * 1024)
    status, body = post_json(addr, "/v1/events", {"subject": "x" * 1_000_000, "source": "t"})
    assert (status, len(body["message"]) < 300) == (422, True)


# -- compressed bodies ----------------------------------------------------------------


@pytest.fixture(scope="module")
def gzip_bomb() -> bytes:
    """About 1 MB of gzip that inflates to 1 GiB of zeros (made once: it takes seconds)."""
    deflate = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(1 << 20)
    return b"".join([deflate.compress(zeros) for _ in range(1024)] + [deflate.flush()])


def test_gzip_bomb_answers_413_and_health_stays_200(
    daemon: Callable[..., tuple[str, int]], gzip_bomb: bytes
) -> None:
    """Eight 1 MB → 1 GiB gzip bodies at once: each 413, /healthz 200 after them."""
    addr = daemon(max_size=4 * 1024 * 1024)
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}

    def bomb(_: int) -> int:
        return request(addr, "POST", "/v1/events", gzip_bomb, headers)[0]

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(bomb, range(8)))
    health = request(addr, "GET", "/healthz")[0]
    assert (statuses, health) == ([413] * 8, 200)


def test_gzip_body_within_the_limit_is_accepted(daemon: Callable[..., tuple[str, int]]) -> None:
    """A gzip- or deflate-encoded event is inflated and accepted; an unknown encoding is 415."""
    addr = daemon()
    event = json.dumps({"subject": "fs.file.created", "source": "t"}).encode()
    ctype = {"Content-Type": "application/json"}
    gz = request(
        addr,
        "POST",
        "/v1/events",
        zlib.compress(event, wbits=31),
        {**ctype, "Content-Encoding": "gzip"},
    )
    deflated = request(
        addr, "POST", "/v1/events", zlib.compress(event), {**ctype, "Content-Encoding": "deflate"}
    )
    unknown = request(addr, "POST", "/v1/events", event, {**ctype, "Content-Encoding": "zstd"})
    assert (gz[0], deflated[0], unknown[0]) == (202, 202, 415)


# -- read timeouts --------------------------------------------------------------------


def test_half_sent_headers_are_closed_by_the_header_timeout(
    daemon: Callable[..., tuple[str, int]],
) -> None:
    """A client that stops in the middle of its headers is disconnected, and it is counted."""
    addr = daemon(header_s=0.5)
    with socket.create_connection(addr, timeout=PATIENCE_S) as sock:
        sock.sendall(b"POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Ty")
        received = read_until_closed(sock)
    assert (received, metric(addr, "switchyard_http_connections_timed_out_total")) == (b"", 1.0)


def test_stalled_body_is_closed_by_the_body_timeout(
    daemon: Callable[..., tuple[str, int]],
) -> None:
    """A client that sends 10 of the 100 body bytes it announced is disconnected."""
    addr = daemon(body_s=0.5)
    head = (
        b"POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100\r\n\r\n"
    )
    with socket.create_connection(addr, timeout=PATIENCE_S) as sock:
        sock.sendall(head + b'{"subject"')
        read_until_closed(sock)
    assert metric(addr, 'switchyard_http_connections_timed_out_total{phase="body"}') == 1.0


# -- connection limits -------------------------------------------------------------------


def test_connections_past_the_limit_get_503_and_service_resumes(
    daemon: Callable[..., tuple[str, int]],
) -> None:
    """With max_connections idle sockets open, a request gets 503; once they close, 200."""
    addr = daemon(max_connections=3)
    idle = [socket.create_connection(addr, timeout=PATIENCE_S) for _ in range(3)]
    try:
        refused = request(addr, "GET", "/healthz")
    finally:
        for sock in idle:
            sock.close()
    for _ in range(600):  # the daemon notices the closes on its own time: poll, bounded
        status = request(addr, "GET", "/healthz")[0]
        if status == 200:
            break
    assert (refused[0], refused[1]["error"], status) == (503, "too_many_connections", 200)


def _low_fd_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (200, 200))


def test_idle_sockets_past_the_fd_limit_cannot_stop_service(
    daemon: Callable[..., tuple[str, int]],
) -> None:
    """250 idle sockets against a 200-descriptor daemon: it answers (503), then serves again."""
    addr = daemon(preexec_fn=_low_fd_limit)
    idle = [socket.create_connection(addr, timeout=PATIENCE_S) for _ in range(250)]
    try:
        refused = request(addr, "GET", "/healthz")[0]
    finally:
        for sock in idle:
            sock.close()
    for _ in range(600):
        status = request(addr, "GET", "/healthz")[0]
        if status == 200:
            break
    assert (refused, status) == (503, 200)


# -- slow WebSocket consumers -----------------------------------------------------------

SLOW_STREAMS = """
[streams]
send_buffer = 1000
send_buffer_bytes = 1048576
"""


def _open_unread_websocket(addr: tuple[str, int], pattern: str) -> socket.socket:
    """A WebSocket handshake on a socket with a small receive buffer that is then never read."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(PATIENCE_S)
    sock.connect(addr)
    key = base64.b64encode(os.urandom(16)).decode()
    handshake = (
        f"GET /v1/subscribe?pattern={pattern} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    sock.sendall(handshake.encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)  # byte by byte: nothing past the handshake is read
    assert head.startswith(b"HTTP/1.1 101")
    return sock


def _close_code(data: bytes) -> int | None:
    """The status code of the close frame among the server's (unmasked) frames, if any."""
    at = 0
    while at + 2 <= len(data):
        opcode, length = data[at] & 0x0F, data[at + 1] & 0x7F
        at += 2
        if length == 126:
            length, at = int.from_bytes(data[at : at + 2], "big"), at + 2
        elif length == 127:
            length, at = int.from_bytes(data[at : at + 8], "big"), at + 8
        if opcode == 0x8:
            return int.from_bytes(data[at : at + 2], "big")
        at += length
    return None


def test_websocket_that_never_reads_is_closed_1008_with_memory_bounded(
    daemon: Callable[..., tuple[str, int]], tmp_path: Path
) -> None:
    """70 MB published to a stream whose client never reads: RSS stays bounded, 1008, counted."""
    addr = daemon(max_size=2 * 1024 * 1024, extra=SLOW_STREAMS)
    pid = int((tmp_path / "daemon.pid").read_text())
    rss_before = psutil.Process(pid).memory_info().rss
    sock = _open_unread_websocket(addr, "fs.>")
    payload = base64.b64encode(os.urandom(48 * 1024)).decode()  # msgspec: bytes as base64
    batch = [{"subject": "fs.file.created", "source": "t", "payload": payload}] * 10
    statuses = {post_json(addr, "/v1/events:batch", batch)[0] for _ in range(80)}
    for _ in range(600):  # poll, bounded: the hub runs on the daemon's own time
        if metric(addr, "switchyard_streams_slow_disconnects_total") >= 1:
            break
    rss_growth = psutil.Process(pid).memory_info().rss - rss_before
    with sock:
        code = _close_code(read_until_closed(sock))
    assert (statuses, code, rss_growth < 40 * 1024 * 1024) == ({202}, 1008, True)
