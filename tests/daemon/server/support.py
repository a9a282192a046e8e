"""Handler factories and a running-daemon helper shared by the production-server tests.

The factories are named by dotted path in test configs (``tests.daemon.server.support:…``),
so a daemon subprocess can load them too.
"""

from __future__ import annotations

import asyncio
import json
import os
import selectors
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from daemon.server.config import load_config
from daemon.server.server import DaemonServer
from events import Event, Permanent
from events.delivery import Handler


def recorder(path: str, delay_ms: float = 0.0) -> Handler:
    """Append each delivered event id to ``path`` (one small unbuffered write per event)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    delay_s = delay_ms / 1000.0

    async def handler(event: Event) -> None:
        if delay_s:
            await asyncio.sleep(delay_s)
        os.write(fd, event.id.encode() + b"\n")

    return handler


def stalling(path: str, deliver: int, delay_ms: float = 0.0) -> Handler:
    """Record the first ``deliver`` events like :func:`recorder`, then hold every later one."""
    record = recorder(path, delay_ms)
    left = deliver

    async def handler(event: Event) -> None:
        nonlocal left
        if left <= 0:
            await asyncio.Event().wait()
        left -= 1
        await record(event)

    return handler


def blocked() -> Handler:
    """A handler that waits until cancelled: it keeps events pending (for high-water tests)."""

    async def handler(event: Event) -> None:
        await asyncio.Event().wait()

    return handler


def deaf() -> Handler:
    """A handler that swallows every cancellation and never returns (drain must give up)."""

    async def handler(event: Event) -> None:
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                continue

    return handler


def refusing() -> Handler:
    """A handler that always fails permanently (dead-letters at once)."""

    async def handler(event: Event) -> None:
        raise Permanent(f"refused {event.id}")

    return handler


BASE_CONFIG = """
[server]
host = "127.0.0.1"
port = 0
client_max_size = 65536
max_batch = 50

[lifecycle]
drain_timeout_s = {drain_s}
dead_letter_journal = "{tmp}/dead.jsonl"
final_report = "{tmp}/final.json"

[logging]
format = "json"
level = "warning"
"""


def write_config(tmp: Path, extra: str, drain_s: float = 2.0) -> Path:
    path = tmp / "daemon.toml"
    path.write_text(BASE_CONFIG.format(tmp=tmp, drain_s=drain_s) + extra.format(tmp=tmp))
    return path


@asynccontextmanager
async def running(
    tmp: Path, extra: str, drain_s: float = 2.0
) -> AsyncIterator[tuple[DaemonServer, str]]:
    """A DaemonServer on a free port, shut down (drained) on exit."""
    server = DaemonServer(load_config(write_config(tmp, extra, drain_s)))
    host, port = await server.start()
    try:
        yield server, f"http://{host}:{port}"
    finally:
        if server.final is None:
            await server.shutdown()


REPO = Path(__file__).resolve().parents[3]


def start_daemon(
    config: Path, timeout_s: float = 20.0, preexec_fn: Callable[[], None] | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """``python -m daemon`` in a subprocess; returns once it printed its listening line.

    ``preexec_fn`` runs in the child before the daemon (e.g. to lower its fd limit).
    """
    with (config.parent / "daemon.log").open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "daemon", "--config", str(config)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=log,
            preexec_fn=preexec_fn,
        )
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout_s
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if sel.select(timeout=max(0.0, deadline - time.monotonic())):
                line = proc.stdout.readline().decode()
                if line.startswith("listening "):
                    return proc, line.split()[1]
                if not line:
                    break
    proc.kill()
    proc.wait(timeout=10)
    raise RuntimeError(f"daemon did not start (exit code {proc.returncode})")


def final_report(proc: subprocess.Popen[bytes], timeout_s: float = 20.0) -> dict[str, Any]:
    """Wait for exit and parse the ``final {json}`` line of stdout."""
    out, _ = proc.communicate(timeout=timeout_s)
    for line in out.decode().splitlines():
        if line.startswith("final "):
            report: dict[str, Any] = json.loads(line[len("final ") :])
            return report
    raise RuntimeError(f"no final report; exit code {proc.returncode}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Kill the subprocess if it is still running (tests call it in a finally)."""
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=10)
