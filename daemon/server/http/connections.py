"""The listener's connection limits: header, body and idle timeouts, and a connection cap.

aiohttp reads a request without a deadline of its own: half-sent headers or a
stalled body were held for minutes, and idle sockets past the process's file
descriptor limit made ``accept`` fail, stopping all service. Here every accepted
connection is wrapped in a :class:`GuardedConnection` (a protocol in front of
aiohttp's ``RequestHandler``) that tracks which phase the connection is in:

- ``headers``: from accept, or from the first byte of a next request, until
  aiohttp has parsed the request line and headers (``[server] header_timeout_s``);
- ``body``: from then until the body is read to its end (``body_timeout_s``);
- between requests aiohttp's own ``keepalive_timeout`` closes an idle
  connection (``keepalive_timeout_s``); an upgraded (WebSocket) connection has no
  read deadline, its heartbeat watches it.

One sweep task checks every connection each ``tick`` and closes the overdue
ones: a timer per request would be created and cancelled on the hot path. So
a timeout fires between its value and its value plus a tick.

Past ``max_connections`` open connections (kept below the descriptor limit) a
new one is answered ``503`` with a JSON body and closed at once, instead of
being held or failing ``accept``.
"""

from __future__ import annotations

import asyncio
import resource
from typing import Any, cast

import msgspec
from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from daemon.server.config import ServerConfig
from daemon.server.http.errors import ErrorBody
from daemon.server.logs import get_logger
from daemon.server.metrics import ServerMetrics

log = get_logger("daemon.connections")

HEADERS = "headers"
BODY = "body"
#: The body is read (a handler may still be working) or the connection is upgraded.
DONE = "done"

#: Descriptors kept free below ``RLIMIT_NOFILE`` for everything else the daemon opens
#: (journal segments, the dead-letter file, webhook connections, the event loop).
FD_RESERVE = 64
#: How long a refused connection that sent nothing yet may stay open to read its 503.
REFUSED_LINGER_S = 1.0
#: Refused connections allowed to linger at once; past it they are closed at once,
#: so a flood of connections cannot hold descriptors beyond the limit plus this.
REFUSED_LINGER_MAX = 32


def busy_response(limit: int) -> bytes:
    """The whole HTTP answer written to a connection past ``max_connections``."""
    body = msgspec.json.encode(
        ErrorBody(503, "too_many_connections", f"{limit} connections are open already")
    )
    head = (
        "HTTP/1.1 503 Service Unavailable\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Retry-After: 1\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode() + body


def effective_limit(configured: int, reserve: int) -> int:
    """``configured``, lowered to stay ``reserve`` descriptors below the soft fd limit."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return configured
    return max(1, min(configured, soft - reserve))


def runner_options(config: ServerConfig) -> dict[str, Any]:
    """``web.AppRunner`` keyword arguments: aiohttp's idle timeout, no implicit inflating."""
    # auto_decompress=False: encoded bodies are inflated by daemon.server.http.body,
    # bounded by client_max_size, not by aiohttp all at once.
    return {"keepalive_timeout": config.keepalive_timeout_s, "auto_decompress": False}


class GuardedConnection(asyncio.Protocol):
    """One accepted connection: aiohttp's handler behind a phase and its start time."""

    __slots__ = ("guard", "inner", "linger", "payload", "phase", "since", "transport")

    def __init__(self, guard: ConnectionGuard) -> None:
        self.guard = guard
        self.inner: RequestHandler | None = None
        self.transport: asyncio.Transport | None = None
        self.linger: asyncio.TimerHandle | None = None
        self.payload: Any = None
        self.phase = HEADERS
        self.since = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike.
        transport = cast(asyncio.Transport, transport)
        self.transport = transport
        guard = self.guard
        if len(guard.live) >= guard.limit:
            guard.refuse_nowait(self, transport)
            return
        self.since = guard.loop.time()
        inner = self.inner = guard.handler()
        guard.live[inner] = self
        guard.metrics.connections_open = len(guard.live)
        inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        # A refused connection stays in HEADERS: the common case is tested first.
        if self.phase is BODY and self.payload.is_eof():
            # The previous body is read: these bytes begin the next request.
            self.phase = HEADERS
            self.since = self.guard.clock()
        inner = self.inner
        if inner is not None:
            inner.data_received(data)
        elif self.transport is not None:
            # Refused: its request is read (so closing now cannot reset it) and ignored.
            self.transport.close()

    def eof_received(self) -> bool | None:
        if self.inner is not None:
            self.inner.eof_received()
        return None  # as aiohttp's handler answers: the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        if self.linger is not None:
            self.linger.cancel()
            self.guard.lingering -= 1
        inner = self.inner
        if inner is None:
            return
        guard = self.guard
        guard.live.pop(inner, None)
        guard.metrics.connections_open = len(guard.live)
        inner.connection_lost(exc)

    def pause_writing(self) -> None:
        if self.inner is not None:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self.inner is not None:
            self.inner.resume_writing()


class ConnectionGuard:
    """Every open connection of the listener, the cap on them, and the sweep of deadlines."""

    def __init__(self, config: ServerConfig, metrics: ServerMetrics, *, reserve: int) -> None:
        self.config = config
        self.metrics = metrics
        self.limit = effective_limit(config.max_connections, FD_RESERVE + reserve)
        if self.limit < config.max_connections:
            log.warning(
                "max_connections lowered to stay below the file descriptor limit",
                configured=config.max_connections,
                effective=self.limit,
            )
        #: Live connections by aiohttp's handler (the request factory is given the handler).
        self.live: dict[RequestHandler, GuardedConnection] = {}
        #: Refused connections waiting (up to REFUSED_LINGER_S) to be closed.
        self.lingering = 0
        self.loop = asyncio.get_running_loop()
        self.clock = self.loop.time
        self._server: web.Server | None = None
        shortest = min(config.header_timeout_s, config.body_timeout_s)
        self.tick = min(1.0, max(0.05, shortest / 4))

    def install(self, runner: web.AppRunner) -> None:
        """Wrap ``runner``'s request factory; call after ``setup()``, before any connection."""
        server = runner.server
        assert server is not None, "install after runner.setup()"
        self._server = server
        factory = server.request_factory
        live = self.live
        clock = self.clock

        def request_factory(
            message: Any, payload: Any, protocol: Any, writer: Any, task: Any
        ) -> web.BaseRequest:
            # The request line and headers are parsed: the body phase begins.
            conn = live.get(protocol)
            if conn is not None:
                conn.phase = DONE if message.upgrade else BODY
                conn.since = clock()
                conn.payload = payload
            return factory(message, payload, protocol, writer, task)

        server.request_factory = request_factory

    def handler(self) -> RequestHandler:
        """A new aiohttp protocol for one connection, as the plain listener would make it."""
        assert self._server is not None, "install() first"
        return self._server()

    def factory(self) -> GuardedConnection:
        """The protocol factory for ``loop.create_server``."""
        return GuardedConnection(self)

    def refuse_nowait(self, conn: GuardedConnection, transport: asyncio.Transport) -> None:
        self.metrics.connections_refused += 1
        transport.write(busy_response(self.limit))
        if self.lingering >= REFUSED_LINGER_MAX:
            transport.close()
            return
        # Closing with its request unread could reset the connection before the client
        # reads the answer: it gets a moment to send it (data_received then closes).
        self.lingering += 1
        conn.linger = self.loop.call_later(REFUSED_LINGER_S, transport.close)

    def sweep_nowait(self, now: float) -> int:
        """Close every connection past its phase's deadline; answer how many."""
        header_s = self.config.header_timeout_s
        body_s = self.config.body_timeout_s
        closed = 0
        for inner, conn in list(self.live.items()):
            phase = conn.phase
            if phase is HEADERS:
                if now - conn.since <= header_s:
                    continue
            elif phase is BODY:
                if conn.payload.is_eof():
                    conn.phase = DONE
                    continue
                if now - conn.since <= body_s:
                    continue
            else:
                continue
            timed_out = self.metrics.connections_timed_out
            timed_out[phase] = timed_out.get(phase, 0) + 1
            closed += 1
            inner.force_close()
        return closed

    async def run(self) -> None:
        """Sweep every ``tick`` until cancelled."""
        while True:
            await asyncio.sleep(self.tick)
            self.sweep_nowait(self.loop.time())


class GuardedSite(web.TCPSite):
    """A TCP site whose connections go through a :class:`ConnectionGuard`."""

    def __init__(self, runner: web.AppRunner, host: str, port: int, guard: ConnectionGuard):
        super().__init__(runner, host, port, reuse_address=True)
        self.guard = guard

    async def start(self) -> None:
        await web.BaseSite.start(self)
        self.guard.install(self._runner)  # type: ignore[arg-type]
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self.guard.factory, self._host, self._port, reuse_address=True
        )
