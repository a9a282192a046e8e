"""The aiohttp application: every route of the daemon, in one table."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from daemon.server.http.guard import AccessCollector, guard_middleware, hide_server_version
from daemon.server.http.ops import Ops
from daemon.server.http.stream import subscribe

if TYPE_CHECKING:
    from daemon.server.server import DaemonServer


def build_app(server: DaemonServer) -> web.Application:
    """Routes bound to ``server``; ``client_max_size`` caps request bodies (413).

    Every route is guarded (Host, Origin, token, monitor) by the permission class
    ``daemon.server.http.guard.ENDPOINTS`` gives its path.
    """
    hide_server_version()
    app = web.Application(client_max_size=server.loaded.config.server.client_max_size)
    ops = Ops(server)
    ingress = server.ingress

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
    app.middlewares.append(guard_middleware(server.access))
    ops.registry.register(AccessCollector(server.access))
    return app
