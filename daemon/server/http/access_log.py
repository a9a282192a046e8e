"""The access log (``[server] access_log = true``): one structured line per request.

aiohttp's default format writes the request line verbatim, query string included;
here the URL goes through :func:`daemon.server.redact.redact_url` first, so a token a
client put in the query string (never accepted) does not end up in the log either.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from daemon.server.redact import redact_url


class AccessLog(AbstractAccessLogger):
    """Logs method, redacted URL, status, seconds and peer; never a header value."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        logger: Any = self.logger  # a structlog logger: keys, not a format string
        logger.info(
            "request",
            method=request.method,
            url=redacted_target(request.path_qs),
            status=response.status,
            seconds=round(time, 6),
            peer=request.remote,
        )


def redacted_target(path_qs: str) -> str:
    """A request target (path and query) with its query values masked."""
    if "?" not in path_qs:
        return path_qs
    # redact_url() reads URLs: give the target a placeholder scheme and authority.
    return redact_url(f"http://-{path_qs}").removeprefix("http://-")
