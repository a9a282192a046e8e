"""The contract suite runs on every router named here, built only through the bench registry."""

from __future__ import annotations

import pytest

from bench.architectures import make
from events import Router

#: Router factory names the contract suite runs against.
ROUTERS = ["daemon", "coordinator"]


@pytest.fixture(params=ROUTERS)
def router_name(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def router(router_name: str) -> Router:
    return make(router_name)
