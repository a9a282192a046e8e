"""Request bodies: read as sent, or inflated as they stream in, never past ``client_max_size``.

aiohttp inflates a ``Content-Encoding: gzip`` body inside the protocol's
``data_received``, a whole TCP chunk at once and before any size check: a 1 MB
body expanding to 1 GiB held the event loop for about half a second, and eight
at once made ``/healthz`` fail. The listener therefore turns aiohttp's
decompression off (``auto_decompress=False``, see ``connections.runner_options``)
and the ingress reads encoded bodies here: each received chunk is inflated with
``max_length`` set to what is left of the limit, so no call produces more than
``client_max_size + 1`` bytes, and the request is refused (413) as soon as the
inflated size passes the limit, without reading the rest.
"""

from __future__ import annotations

import zlib
from collections.abc import Awaitable

from aiohttp import web

from daemon.server.http.errors import IngressError

#: ``zlib.decompressobj`` window bits per accepted ``Content-Encoding``.
_WBITS = {
    "gzip": 16 + zlib.MAX_WBITS,
    "x-gzip": 16 + zlib.MAX_WBITS,
    "deflate": zlib.MAX_WBITS,
}
#: What 415 lists as accepted.
ENCODINGS = ("identity", *sorted(_WBITS))


def received_body_nowait(request: web.Request, limit: int) -> bytes | None:
    """The body of ``request`` when all of it has arrived and is not encoded; else None.

    A small body usually arrives with its headers, so the handler can take it from the
    payload buffer at once: awaiting ``request.read()`` (two ``readany`` awaits and two
    copies) is a measurable share of a single-event request. Past ``limit`` it raises
    the 413 IngressError that ``request.read()``'s own refusal is mapped to.
    """
    content = request.content
    if not content.is_eof() or "Content-Encoding" in request.headers:
        return None
    body = content.read_nowait(-1)
    if len(body) > limit:
        # aiohttp's words, as the streaming path answers
        raise _too_large(f"body too large: Maximum request body size {limit} exceeded.")
    return body


def read_body(request: web.Request, limit: int) -> Awaitable[bytes]:
    """The body of ``request``, inflated if encoded; raise a 4xx IngressError when refused.

    A body without ``Content-Encoding`` is ``request.read()`` itself (its 413 is the
    caller's to map), returned without a coroutine of our own around it: a
    coroutine layer costs about a microsecond per request.
    """
    encoding = request.headers.get("Content-Encoding")
    if encoding is None:
        return request.read()
    return _read_encoded(request, encoding.strip().lower(), limit)


async def _read_encoded(request: web.Request, encoding: str, limit: int) -> bytes:
    if encoding in ("", "identity"):
        return await request.read()
    wbits = _WBITS.get(encoding)
    if wbits is None:
        raise IngressError(
            415,
            "unsupported_encoding",
            f"Content-Encoding {encoding[:32]!r} is not one of: {', '.join(ENCODINGS)}",
        )
    inflater = zlib.decompressobj(wbits)
    out = bytearray()
    received = 0
    try:
        async for chunk in request.content.iter_any():
            received += len(chunk)
            if received > limit:
                raise _too_large(f"compressed body larger than client_max_size {limit}")
            data = chunk
            while data:
                if inflater.eof:
                    raise IngressError(
                        400, "malformed", f"data after the end of the {encoding} body"
                    )
                out += inflater.decompress(data, limit + 1 - len(out))
                if len(out) > limit:
                    raise _too_large(
                        f"{encoding} body inflates past client_max_size {limit}"
                        f" (refused after {received} bytes received)"
                    )
                data = inflater.unconsumed_tail or inflater.unused_data
    except zlib.error as exc:
        raise IngressError(400, "malformed", f"malformed {encoding} body: {exc}") from None
    if not inflater.eof:
        raise IngressError(400, "malformed", f"truncated {encoding} body")
    return bytes(out)


def _too_large(message: str) -> IngressError:
    return IngressError(413, "too_large", message)
