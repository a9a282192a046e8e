"""Handler factories and a running-daemon helper shared by the production-server tests.

The factories are named by dotted path in test configs (``tests.daemon.test_server_support:…``),
so a daemon subprocess can load them too.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from daemon.config import load_config
from daemon.server import DaemonServer
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


def blocked() -> Handler:
    """A handler that waits until cancelled: it keeps events pending (for high-water tests)."""

    async def handler(event: Event) -> None:
        await asyncio.Event().wait()

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
