"""Shared fixtures: every async test runs on asyncio and on uvloop (anyio's pytest plugin);
a real nats-server for the JetStream tests, started once per session when first asked for."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

#: The session's nats-server while it runs (its log is shown with a failed test's report).
_SERVER: list[Any] = []


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
    _SERVER.append(server)
    previous = os.environ.get("SWITCHYARD_NATS_URL")
    os.environ["SWITCHYARD_NATS_URL"] = url
    try:
        yield url
    finally:
        if previous is None:
            os.environ.pop("SWITCHYARD_NATS_URL", None)
        else:
            os.environ["SWITCHYARD_NATS_URL"] = previous
        _SERVER.clear()
        server.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A failed test while nats-server runs shows the server's warnings and errors too
    (a JetStream flake may be the server's side: a delivery it logged as failed)."""
    outcome = yield
    report = outcome.get_result()
    if report.failed and _SERVER:
        lines = [line for line in _SERVER[0].log_tail if "[ERR]" in line or "[WRN]" in line]
        if lines:
            report.sections.append((f"nats-server log ({report.when})", "\n".join(lines)))
