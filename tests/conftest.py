"""Shared fixtures: every async test runs on asyncio and on uvloop (anyio's pytest plugin);
a real nats-server for the JetStream tests, started once per session when first asked for."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(
    params=[
        pytest.param(("asyncio", {}), id="asyncio"),
        pytest.param(("asyncio", {"use_uvloop": True}), id="uvloop"),
    ]
)
def anyio_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    backend: tuple[str, dict[str, Any]] = request.param
    return backend


@pytest.fixture(scope="session")
def nats_url() -> Iterator[str]:
    """One real ``nats-server -js`` for the whole session (free port, temporary store).

    ``SWITCHYARD_NATS_URL`` names it while it runs, so ``make("jetstream")``
    finds it; each router built that way works in a namespace of its own.
    """
    from daemon.jetstream import EmbeddedNats, ServerBinaryMissing

    server = EmbeddedNats()
    try:
        url = server.start()
    except ServerBinaryMissing as exc:
        pytest.skip(f"no nats-server: {exc}")
    previous = os.environ.get("SWITCHYARD_NATS_URL")
    os.environ["SWITCHYARD_NATS_URL"] = url
    try:
        yield url
    finally:
        if previous is None:
            os.environ.pop("SWITCHYARD_NATS_URL", None)
        else:
            os.environ["SWITCHYARD_NATS_URL"] = previous
        server.stop()
