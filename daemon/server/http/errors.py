"""JSON error answers: every refusal names its problem in the body."""

from __future__ import annotations

import msgspec
from aiohttp import web

from events.errors import SwitchyardError


class ErrorBody(msgspec.Struct, frozen=True):
    """The body of every 4xx/5xx answer."""

    status: int
    error: str
    message: str


class IngressError(SwitchyardError):
    """Raised inside the ingress to answer ``status`` with a JSON error body."""

    def __init__(self, status: int, error: str, message: str, retry_after: int = 0) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.retry_after = retry_after


_encoder = msgspec.json.Encoder()


def error_response(status: int, error: str, message: str, retry_after: int = 0) -> web.Response:
    headers = {"Retry-After": str(retry_after)} if retry_after else None
    return web.Response(
        status=status,
        body=_encoder.encode(ErrorBody(status, error, message)),
        content_type="application/json",
        headers=headers,
    )


def from_exception(exc: IngressError) -> web.Response:
    return error_response(exc.status, exc.error, exc.message, exc.retry_after)
