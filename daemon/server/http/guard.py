"""Who may reach which endpoint: the permission table, Host and Origin checks, the guard.

Every route is registered wrapped by :func:`guarded` (or :func:`guarded_publish`): a
``Host`` this daemon does not serve answers 421 (DNS rebinding), a WebSocket upgrade
from an ``Origin`` not allowed answers 403, then the endpoint's class in
:data:`ENDPOINTS` decides: ``open`` needs nothing, everything else a valid bearer token
(401), ``monitor`` also the token's ``monitor`` flag (403). A path no route serves gets
aiohttp's 404, unguarded. Publish and subscribe permissions depend on the subjects and
the pattern, so the ingress and the stream endpoint ask :class:`Access` once they know
them. The authenticated :class:`~daemon.server.auth.Principal` rides on the request
under :data:`PRINCIPAL`, or is passed to the publish handlers as an argument.
"""

from __future__ import annotations

import asyncio
import inspect
import ipaddress
import sys
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from aiohttp import web, web_response
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from daemon.server.auth import Authenticator, Principal
from daemon.server.config import AuthConfig, ServerConfig
from daemon.server.http.errors import IngressError, error_response
from events.model import Event

OPEN = "open"  # no token: probes must work without secrets
TOKEN = "token"  # any valid token
PUBLISH = "publish"  # a token; each subject is checked against its publish patterns
SUBSCRIBE = "subscribe"  # a token; the pattern is checked against its subscribe patterns
MONITOR = "monitor"  # a token with monitor = true

#: The one table of endpoint -> permission. A route missing here needs any valid token.
ENDPOINTS: dict[str, str] = {
    "/healthz": OPEN,
    "/readyz": OPEN,
    "/v1/events": PUBLISH,
    "/v1/events:batch": PUBLISH,
    "/v1/subscribe": SUBSCRIBE,
    "/metrics": MONITOR,
    "/v1/status": MONITOR,
    "/v1/record:start": MONITOR,
    "/v1/record:stop": MONITOR,
    "/openapi.json": TOKEN,
}

#: The request key holding the authenticated Principal.
PRINCIPAL = web.RequestKey("principal", Principal)
#: Distinct Host headers whose verdict is cached (clients choose them: bounded).
HOST_CACHE = 1024
#: What the Server header says: no product version for a scanner to match.
SERVER_NAME = "switchyard"


def host_name(header: str) -> str:
    """The host part of a ``Host`` header, lowercased: no port, no IPv6 brackets."""
    if header.startswith("["):
        return header[1 : header.find("]")].lower() if "]" in header else header.lower()
    name = header.rpartition(":")[0] if ":" in header else header
    return name.rstrip(".").lower()


def _ip(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None


def hide_server_version() -> None:
    """Make every response aiohttp prepares say ``Server: switchyard``, without a version.

    aiohttp has no setting for it, and responses it builds itself (400 for a request it
    cannot parse) never pass through the application, so its default is replaced.
    """
    web_response.SERVER_SOFTWARE = SERVER_NAME  # type: ignore[attr-defined]


class Access:
    """The daemon's access state: tokens, served hosts, allowed origins, streams, counts."""

    def __init__(self, auth: AuthConfig, server: ServerConfig, listen_host: str) -> None:
        self.auth = Authenticator(auth)
        self.origins = frozenset(o.lower().rstrip("/") for o in server.allowed_origins)
        names = {"localhost", *(h.lower().rstrip(".") for h in server.allowed_hosts)}
        listen = listen_host.strip("[]").lower()
        listen_ip = _ip(listen)
        if listen and (listen_ip is None or not listen_ip.is_unspecified):
            names.add(listen)  # 0.0.0.0 and :: are no name a client could use
        self.names = frozenset(names)
        #: Verdicts by Host header (the middleware reads it inline: once per request).
        self.hosts: dict[str, bool] = {}
        self.streams: dict[str, int] = {}
        #: (principal, outcome) -> events: admitted, forbidden, rate_limited.
        self.events: dict[tuple[str, str], int] = {}
        #: reason -> requests refused: unauthenticated, forbidden, host, origin, streams.
        self.refused: dict[str, int] = {}

    # -- Host and Origin -----------------------------------------------------------

    def host_allowed_nowait(self, header: str, local_ip: str | None) -> bool:
        """True when ``Host: header`` names this daemon.

        Served: the configured host, ``localhost``, ``allowed_hosts``, any loopback
        address, and ``local_ip``, the address the connection arrived on (an IP literal
        cannot be rebound to another machine, unlike a DNS name).
        """
        verdict = self.hosts.get(header)
        if verdict is not None:
            return verdict
        name = host_name(header)
        ip = _ip(name)
        if ip is not None and not ip.is_loopback and name not in self.names:
            # Depends on the connection: not cached.
            return local_ip is not None and ip == _ip(local_ip)
        verdict = name in self.names or ip is not None
        if len(self.hosts) >= HOST_CACHE:
            self.hosts.clear()
        self.hosts[header] = verdict
        return verdict

    def origin_allowed_nowait(self, origin: str | None) -> bool:
        """No ``Origin`` (not a browser) or one listed in ``[server] allowed_origins``."""
        return origin is None or origin.lower().rstrip("/") in self.origins

    # -- counts --------------------------------------------------------------------

    def refuse_nowait(self, reason: str) -> None:
        self.refused[reason] = self.refused.get(reason, 0) + 1

    def count_nowait(self, principal: str, outcome: str, n: int) -> None:
        key = (principal, outcome)
        self.events[key] = self.events.get(key, 0) + n

    # -- publish and subscribe -----------------------------------------------------

    def authorise_publish_nowait(self, principal: Principal, events: list[Event]) -> None:
        """Raise a 403 IngressError naming the first subject ``principal`` may not publish.

        All or nothing: one forbidden subject refuses the whole request.
        """
        index = principal.forbidden_nowait(events)
        if index < 0:
            return
        subject = events[index].subject
        self.count_nowait(principal.name, "forbidden", len(events))
        self.refuse_nowait("forbidden")
        where = f"[{index}].subject" if len(events) > 1 else "subject"
        raise IngressError(
            403,
            "forbidden",
            f"{where}: token {principal.name!r} may not publish to {subject!r}"
            f"{'; the whole batch is refused' if len(events) > 1 else ''}",
        )

    def subscribe_refusal_nowait(self, principal: Principal, pattern: str) -> web.Response | None:
        """A 403 when ``principal`` may not subscribe to ``pattern`` (a valid pattern)."""
        if principal.may_subscribe_nowait(pattern):
            return None
        self.refuse_nowait("forbidden")
        return error_response(
            403,
            "forbidden",
            f"pattern: token {principal.name!r} may not subscribe to {pattern!r}"
            " (no subscribe pattern of it covers every subject this one matches)",
        )

    def open_stream_nowait(self, principal: str, limit: int | None) -> bool:
        """Count a stream of ``principal``; False (nothing counted) when it has ``limit``."""
        held = self.streams.get(principal, 0)
        if limit is not None and held >= limit:
            self.refuse_nowait("streams")
            return False
        self.streams[principal] = held + 1
        return True

    def close_stream_nowait(self, principal: str) -> None:
        held = self.streams.get(principal, 0) - 1
        if held > 0:
            self.streams[principal] = held
        else:
            self.streams.pop(principal, None)

    def status_nowait(self) -> dict[str, Any]:
        """The ``auth`` section of ``/v1/status``: names and counts, never a digest."""
        return {
            "enabled": self.auth.enabled,
            "principals": [p.name for p in self.auth.principals],
            "refused": dict(self.refused),
            "events": [
                {"principal": p, "outcome": o, "count": n}
                for (p, o), n in sorted(self.events.items())
            ],
            "streams_open": dict(self.streams),
        }


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _unauthenticated(request: web.Request, header: str | None) -> web.Response:
    if header is None:
        message = "send Authorization: Bearer <token>"
        if any(k.lower() in ("token", "access_token") for k in request.query):
            message += " (tokens in the query string are never accepted: they end up in logs)"
    else:
        message = "the bearer token is not one this daemon knows"
    response = error_response(401, "unauthenticated", message)
    response.headers["WWW-Authenticate"] = 'Bearer realm="switchyard"'
    return response


#: A route handler told the authenticated principal (the publish routes).
PrincipalHandler = Callable[[web.Request, Principal], Awaitable[web.StreamResponse]]
#: What the gate of a route answers: the principal, a refusal, or None (an open route).
Verdict = Principal | web.Response | None


def _gate(access: Access, kind: str) -> Callable[[web.Request], Verdict]:
    """The Host, Origin, token and monitor checks of an endpoint of class ``kind``."""
    hosts = access.hosts

    def gate(request: web.Request) -> Verdict:
        headers = request.headers
        host = headers.get("Host")
        if host is not None and not (
            hosts.get(host) or access.host_allowed_nowait(host, _local_ip(request))
        ):
            access.refuse_nowait("host")
            return error_response(
                421,
                "misdirected",
                f"Host {host!r} is not served here; add it to [server] allowed_hosts",
            )
        if kind == OPEN:
            return None
        if kind == SUBSCRIBE and not access.origin_allowed_nowait(headers.get("Origin")):
            access.refuse_nowait("origin")
            return error_response(
                403,
                "origin_not_allowed",
                f"Origin {headers.get('Origin')!r} is not in [server] allowed_origins",
            )
        header = headers.get("Authorization")
        principal = access.auth.authenticate_nowait(header)
        if principal is None:
            access.refuse_nowait("unauthenticated")
            return _unauthenticated(request, header)
        if kind == MONITOR and not principal.monitor:
            access.refuse_nowait("forbidden")
            return error_response(
                403,
                "forbidden",
                f"token {principal.name!r} may not read {request.path} (needs monitor = true)",
            )
        return principal

    return gate


async def _answered(response: web.Response) -> web.Response:
    return response


def _route(guard: Callable[[web.Request], Awaitable[web.StreamResponse]], kind: str) -> Handler:
    """``guard`` made acceptable to aiohttp as a route handler, marked with its class.

    The guards are plain functions returning the handler's coroutine (or an answered
    refusal), not coroutines awaiting it: a coroutine layer costs about a microsecond
    per request (docs/benchmarks.md, "Ingress hot path"). aiohttp only accepts
    coroutine functions as handlers, so each guard is marked as one.
    """
    if sys.version_info >= (3, 12):
        inspect.markcoroutinefunction(guard)
    else:
        guard._is_coroutine = asyncio.coroutines._is_coroutine  # type: ignore[attr-defined]
    guard.guarded_as = kind  # type: ignore[attr-defined]  # tests check every route has it
    return guard


def guarded(access: Access, path: str, handler: Handler) -> Handler:
    """``handler`` behind the Host, Origin, token and monitor checks :data:`ENDPOINTS`
    names for ``path``; the principal rides on the request under :data:`PRINCIPAL`.

    A wrapper per route rather than an aiohttp middleware: with any middleware, aiohttp
    adds a second one of its own and a per-request context manager, which cost about as
    much again as the checks (measured: docs/benchmarks.md).
    """
    kind = ENDPOINTS.get(path, TOKEN)
    gate = _gate(access, kind)

    def guard(request: web.Request) -> Awaitable[web.StreamResponse]:
        verdict = gate(request)
        if verdict is None:
            return handler(request)
        if type(verdict) is Principal:
            request[PRINCIPAL] = verdict
            return handler(request)
        assert isinstance(verdict, web.Response)
        return _answered(verdict)

    return _route(guard, kind)


def guarded_publish(access: Access, path: str, handler: PrincipalHandler) -> Handler:
    """Like :func:`guarded`, for a handler that takes the principal as an argument
    (the ingress: one request-storage write and read less per request)."""
    kind = ENDPOINTS.get(path, TOKEN)
    if kind == OPEN:
        raise ValueError(f"{path} is open: it has no principal to pass")
    gate = _gate(access, kind)

    def guard(request: web.Request) -> Awaitable[web.StreamResponse]:
        verdict = gate(request)
        if type(verdict) is Principal:
            return handler(request, verdict)
        assert isinstance(verdict, web.Response)
        return _answered(verdict)

    return _route(guard, kind)


def _local_ip(request: web.Request) -> str | None:
    transport = request.transport
    sockname = transport.get_extra_info("sockname") if transport is not None else None
    if not isinstance(sockname, tuple):
        return None
    ip = _ip(str(sockname[0]).partition("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)  # a dual-stack socket: the client asked for the IPv4 form
    return str(ip) if ip is not None else None


class AccessCollector(Collector):
    """Per-principal counts at scrape time (principals are configured: bounded labels)."""

    def __init__(self, access: Access) -> None:
        self.access = access

    def collect(self) -> Iterator[Metric]:
        a = self.access
        events = CounterMetricFamily(
            "switchyard_principal_events",
            "Events offered by each principal, by outcome (admitted, forbidden, rate_limited)",
            labels=["principal", "outcome"],
        )
        for (principal, outcome), n in sorted(a.events.items()):
            events.add_metric([principal, outcome], n)
        yield events
        refused = CounterMetricFamily(
            "switchyard_access_refused",
            "Requests refused by access control (unauthenticated, forbidden, host, origin,"
            " streams)",
            labels=["reason"],
        )
        for reason, n in sorted(a.refused.items()):
            refused.add_metric([reason], n)
        yield refused
        streams = GaugeMetricFamily(
            "switchyard_principal_streams_open",
            "WebSocket streams each principal holds open",
            labels=["principal"],
        )
        for principal, n in sorted(a.streams.items()):
            streams.add_metric([principal], n)
        yield streams
