"""The aiohttp application: every route of the daemon, in one table."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from daemon.server.http.guard import (
    AccessCollector,
    Handler,
    PrincipalHandler,
    guarded,
    guarded_publish,
    hide_server_version,
)
from daemon.server.http.ops import Ops
from daemon.server.http.record import RecordRoutes
from daemon.server.http.stream import subscribe

if TYPE_CHECKING:
    from daemon.server.server import DaemonServer


def build_app(server: DaemonServer) -> web.Application:
    """Routes bound to ``server``; ``client_max_size`` caps request bodies (413).

    Every route is added through ``post``/``get``, which guard it (Host, Origin, token,
    monitor) by the class ``daemon.server.http.guard.ENDPOINTS`` gives its path.
    """
    hide_server_version()
    app = web.Application(client_max_size=server.loaded.config.server.client_max_size)
    ops = Ops(server)
    ingress = server.ingress
    record = RecordRoutes(server)

    async def ws(request: web.Request) -> web.StreamResponse:
        return await subscribe(server, request)

    def post(path: str, handler: Handler) -> None:
        app.router.add_post(path, guarded(server.access, path, handler))

    def publish(path: str, handler: PrincipalHandler) -> None:
        app.router.add_post(path, guarded_publish(server.access, path, handler))

    def get(path: str, handler: Handler) -> None:
        app.router.add_get(path, guarded(server.access, path, handler))

    publish("/v1/events", ingress.post_event)
    publish("/v1/events:batch", ingress.post_batch)
    get("/v1/subscribe", ws)
    get("/healthz", ops.healthz)
    get("/readyz", ops.readyz)
    get("/metrics", ops.metrics)
    get("/v1/status", ops.status)
    get("/openapi.json", ops.openapi)
    ops.registry.register(AccessCollector(server.access))
    post("/v1/record:start", record.start)
    post("/v1/record:stop", record.stop)
    return app
