"""``POST /v1/record:start`` and ``POST /v1/record:stop``: switch trace recording at run time.

Both answer 200 with the recorder's status (state, path, counts, files on disk);
starting while recording and stopping while stopped change nothing. ``stop``
answers once the buffered events are written and the last file is in place, so a
client may read ``path`` as soon as it has the answer. A start while the daemon
shuts down answers 503: shutdown finishes the recording itself.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import msgspec
from aiohttp import web

from daemon.server.http.errors import error_response

if TYPE_CHECKING:
    from daemon.server.server import DaemonServer

_encoder = msgspec.json.Encoder()


class RecordRoutes:
    """The two routes, bound to the server's recorder."""

    def __init__(self, server: DaemonServer) -> None:
        self.server = server

    def _answer(self, route: str, t0: int, response: web.Response) -> web.Response:
        self.server.metrics.count_request(route, response.status, time.perf_counter_ns() - t0)
        return response

    async def start(self, request: web.Request) -> web.Response:
        t0 = time.perf_counter_ns()
        if self.server.stopping:
            refused = error_response(503, "draining", "the daemon is shutting down")
            return self._answer("record:start", t0, refused)
        status = await self.server.recorder.start()
        return self._answer("record:start", t0, _json(status))

    async def stop(self, request: web.Request) -> web.Response:
        t0 = time.perf_counter_ns()
        status = await self.server.recorder.stop()
        return self._answer("record:stop", t0, _json(status))


def _json(body: object) -> web.Response:
    return web.Response(status=200, body=_encoder.encode(body), content_type="application/json")
