"""The aiohttp application: every route of the daemon, in one table."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from daemon.server.http.ops import Ops
from daemon.server.http.record import RecordRoutes
from daemon.server.http.stream import subscribe

if TYPE_CHECKING:
    from daemon.server.server import DaemonServer


def build_app(server: DaemonServer) -> web.Application:
    """Routes bound to ``server``; ``client_max_size`` caps request bodies (413)."""
    app = web.Application(client_max_size=server.loaded.config.server.client_max_size)
    ops = Ops(server)
    ingress = server.ingress
    record = RecordRoutes(server)

    async def ws(request: web.Request) -> web.StreamResponse:
        return await subscribe(server, request)

    app.router.add_post("/v1/events", ingress.post_event)
    app.router.add_post("/v1/events:batch", ingress.post_batch)
    app.router.add_get("/v1/subscribe", ws)
    app.router.add_get("/healthz", ops.healthz)
    app.router.add_get("/readyz", ops.readyz)
    app.router.add_get("/metrics", ops.metrics)
    app.router.add_get("/v1/status", ops.status)
    app.router.add_get("/openapi.json", ops.openapi)
    app.router.add_post("/v1/record:start", record.start)
    app.router.add_post("/v1/record:stop", record.stop)
    return app
