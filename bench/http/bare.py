"""A bare aiohttp app, and the processes of the HTTP comparison against it.

``POST /v1/events`` of the bare app reads the body and answers 202 with a fixed
JSON body, on uvloop, with access logging off, exactly as the daemon serves it,
but with no decoding, routing or delivery: the ceiling of the daemon's
single-event ingress. Run it as ``python -m bench.http.bare --port N``.

:func:`spawn_daemon`, :func:`spawn_bare` and :func:`spawn_floor` (the floor of
bench/http/floor.py: the least work any single-event ingress must do) start each
server as a subprocess pinned to one CPU (the load generator gets the other), and
:func:`run_wrk` drives one with Debian's ``wrk`` (``make wrk`` installs it) and
parses its rate.
"""

from __future__ import annotations

import argparse
import os
import re
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

import psutil  # type: ignore[import-untyped]
import uvloop
from aiohttp import web

from events.errors import SwitchyardError

#: A daemon config whose only subscriber does no work: the ingress measured alone.
SINK_CONFIG = """
[server]
host = "127.0.0.1"
port = 0
[admission]
high_water = 1.0
[lifecycle]
drain_timeout_s = 10.0
dead_letter_journal = "{tmp}/dead-letters.jsonl"
[logging]
format = "json"
level = "warning"
[[handlers]]
service = "sink"
pattern = ">"
factory = "daemon.server.subscribers.simulated:sink"
policy = {{ mailbox = 1000000, mailbox_bytes = 4294967296 }}
"""

_POST_LUA = """wrk.method = "POST"
wrk.body = '{"subject":"fs.file.created","source":"wrk","payload":"aGVsbG8="}'
wrk.headers["Content-Type"] = "application/json"
"""


class ProcessError(SwitchyardError):
    """Raised when a server subprocess or wrk cannot be started or read."""


_BODY = b'{"accepted":["bare-1"]}'


async def accept(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(status=202, body=_BODY, content_type="application/json")


async def ready(request: web.Request) -> web.Response:
    return web.Response(body=b'{"ready":true}', content_type="application/json")


def build_app() -> web.Application:
    app = web.Application()
    app.router.add_post("/v1/events", accept)
    app.router.add_get("/readyz", ready)
    return app


def _pin(pid: int, cpu: int | None) -> None:
    if cpu is not None and hasattr(os, "sched_setaffinity") and cpu < (os.cpu_count() or 1):
        os.sched_setaffinity(pid, {cpu})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Server:
    """A server subprocess; :meth:`stop` ends it (SIGTERM, then kill) and answers its stdout."""

    def __init__(self, proc: subprocess.Popen[bytes], url: str, workdir: Path | None) -> None:
        self.proc = proc
        self.url = url
        self.workdir = workdir

    def cpu_s(self) -> float:
        times = psutil.Process(self.proc.pid).cpu_times()
        return float(times.user + times.system)

    def rss_bytes(self) -> int:
        rss: int = psutil.Process(self.proc.pid).memory_info().rss
        return rss

    def stop(self, timeout_s: float = 30.0) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            out, _ = self.proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate(timeout=10)
        return (out or b"").decode()


def spawn_daemon(config: str | None, cpu: int | None = 0, timeout_s: float = 30.0) -> Server:
    """``python -m daemon`` on a free port; ``config=None`` means the sink config."""
    workdir = None
    if config is None:
        workdir = Path(tempfile.mkdtemp(prefix="switchyard-load-"))
        path = workdir / "daemon.toml"
        path.write_text(SINK_CONFIG.format(tmp=workdir))
        config = str(path)
    port = free_port()
    cmd = [sys.executable, "-m", "daemon", "--config", config, "--port", str(port)]
    return _spawn_listening(cmd, "the daemon", workdir, cpu, timeout_s)


def spawn_floor(cpu: int | None = 0, timeout_s: float = 30.0) -> Server:
    """The floor (bench/http/floor.py) on port 0; returns once it prints its address."""
    cmd = [sys.executable, "-m", "bench.http.floor", "--port", "0"]
    return _spawn_listening(cmd, "the floor", None, cpu, timeout_s)


def _spawn_listening(
    cmd: list[str], what: str, workdir: Path | None, cpu: int | None, timeout_s: float
) -> Server:
    """Start ``cmd``; answer it once it prints ``listening URL``; raise ProcessError if not."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    _pin(proc.pid, cpu)
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout_s
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not sel.select(timeout=max(0.0, deadline - time.monotonic())):
                continue
            line = proc.stdout.readline().decode()
            if line.startswith("listening "):
                return Server(proc, line.split()[1], workdir)
            if not line:
                break
    proc.kill()
    proc.wait(timeout=10)
    raise ProcessError(f"{what} did not start ({' '.join(cmd)}; exit {proc.returncode})")


def spawn_bare(cpu: int | None = 0, timeout_s: float = 30.0) -> Server:
    """This module's bare app on a free port; returns once ``/readyz`` answers."""
    port = free_port()
    cmd = [sys.executable, "-m", "bench.http.bare", "--port", str(port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _pin(proc.pid, cpu)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=1) as resp:
                if resp.status == 200:
                    return Server(proc, url, None)
        except OSError:
            time.sleep(0.05)  # a process handshake from a synchronous CLI: poll, bounded
    proc.kill()
    proc.wait(timeout=10)
    raise ProcessError(f"the bare app did not start ({' '.join(cmd)})")


def run_wrk(url: str, duration_s: int, connections: int, cpu: int | None = 1) -> dict[str, float]:
    """One ``wrk`` run POSTing one event per request; answers requests/s and non-2xx count."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise ProcessError("wrk is not installed: run `make wrk` (Debian's wrk package)")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(_POST_LUA)
        script = fh.name
    try:
        cmd = [wrk, "-t1", f"-c{connections}", f"-d{duration_s}s", "-s", script, f"{url}/v1/events"]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        _pin(proc.pid, cpu)
        out, err = proc.communicate(timeout=duration_s + 60)
    finally:
        os.unlink(script)
    text = out.decode()
    rate = re.search(r"Requests/sec:\s+([0-9.]+)", text)
    if proc.returncode != 0 or rate is None:
        raise ProcessError(f"wrk failed: {err.decode().strip() or text}")
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    errors = re.search(r"Socket errors:.*", text)
    return {
        "requests_per_s": float(rate.group(1)),
        "non_2xx": float(bad.group(1)) if bad else 0.0,
        "socket_errors": 1.0 if errors else 0.0,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.http.bare")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8471)
    args = parser.parse_args(argv)
    uvloop.install()
    web.run_app(build_app(), host=args.host, port=args.port, access_log=None, print=None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
