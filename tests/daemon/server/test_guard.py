"""The endpoint table and the Host and Origin checks of daemon/server/http/guard.py."""

from __future__ import annotations

import asyncio
import warnings
from pathlib import Path

import pytest

from daemon.server.config import AuthConfig, ServerConfig, load_config
from daemon.server.http.app import build_app
from daemon.server.http.guard import ENDPOINTS, Access, host_name
from daemon.server.server import DaemonServer
from tests.daemon.server.support import write_config


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("Example.COM:8470", "example.com"),
        ("example.com.", "example.com"),
        ("[::1]:8470", "::1"),
        ("[::1]", "::1"),
        ("10.0.0.5", "10.0.0.5"),
    ],
)
def test_host_name(header: str, name: str) -> None:
    """The host part of a Host header: lowercased, without port, brackets or a final dot."""
    assert name == host_name(header)


def test_hosts_served() -> None:
    """Listening on every interface: localhost, loopback, allowed_hosts and the address the
    connection came in on are served; other names and addresses are not."""
    access = Access(AuthConfig(), ServerConfig(allowed_hosts=["Svc.Internal"]), "0.0.0.0")
    verdicts = {
        header: access.host_allowed_nowait(header, "10.0.0.5")
        for header in (
            "localhost",
            "127.0.0.1:1",
            "[::1]:1",
            "svc.internal:8470",
            "10.0.0.5:8470",
            "10.0.0.6:8470",
            "0.0.0.0:8470",
            "evil.example",
        )
    }
    assert verdicts == {
        "localhost": True,
        "127.0.0.1:1": True,
        "[::1]:1": True,
        "svc.internal:8470": True,
        "10.0.0.5:8470": True,
        "10.0.0.6:8470": False,
        "0.0.0.0:8470": False,
        "evil.example": False,
    }


def test_origins() -> None:
    """No Origin passes; a listed one passes whatever its case; others do not."""
    access = Access(AuthConfig(), ServerConfig(allowed_origins=["https://ok.example"]), "::1")
    assert [
        access.origin_allowed_nowait(o)
        for o in (None, "HTTPS://ok.example", "https://ok.example.evil", "null")
    ] == [True, True, False, False]


def test_every_route_is_guarded_by_its_entry_in_the_endpoint_table(tmp_path: Path) -> None:
    """Every route's handler is a guard, of the class the table gives its path: none was
    added around the guard, none falls back to the table's default by omission."""
    server = DaemonServer(load_config(write_config(tmp_path, "")))
    app = build_app(server)
    routes = {
        (r.method, r.resource.canonical): r.handler for r in app.router.routes() if r.resource
    }
    classes = {key: getattr(handler, "guarded_as", None) for key, handler in routes.items()}
    assert classes == {key: ENDPOINTS.get(key[1]) for key in routes}


def test_guards_are_registered_as_they_are_without_a_warning(tmp_path: Path) -> None:
    """The guards are plain functions marked as coroutine functions: aiohttp takes each
    as the route's handler itself (no wrapper of its own around a "bare function", no
    DeprecationWarning), and calling one answers an awaitable."""
    server = DaemonServer(load_config(write_config(tmp_path, "")))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        app = build_app(server)
    handlers = [r.handler for r in app.router.routes() if r.resource]
    assert [True] * len(handlers) == [
        asyncio.iscoroutinefunction(h)
        and hasattr(h, "guarded_as")
        and not hasattr(h, "__wrapped__")
        for h in handlers
    ]
