"""The contract suite runs on every router named here, built only through the bench registry."""

from __future__ import annotations

import pytest

from bench.architectures import make
from events import Router

#: Router factory names the contract suite runs against.
ROUTERS = ["daemon", "coordinator", "jetstream"]

_NO_MAILBOX = (
    "no per-subscription mailbox: events wait in the stream (bounded in bytes, refusing new"
    " ones when full) and publish is bounded by the outgoing buffer, which answers"
    " 'overloaded' (tests/jetstream/test_router.py)"
)

#: Contract tests that cannot apply to a router, with the reason. Each shows as a skip
#: with its reason (never silently dropped); everything else runs on every router.
NOT_APPLICABLE: dict[tuple[str, str], str] = {
    ("jetstream", "test_reject_refuses_when_full_and_loses_nothing"): _NO_MAILBOX,
    ("jetstream", "test_reject_is_whole_never_half_delivered"): _NO_MAILBOX,
    ("jetstream", "test_displacing_policies_accept_and_count_the_displaced"): _NO_MAILBOX,
    ("jetstream", "test_a_ghost_delivery_breaks_the_identity_after_drain"): (
        "pending is derived here (undelivered events live on the server, possibly handled by"
        " another process); the drain accounting test compares it with the consumers' counts"
    ),
}


@pytest.fixture(autouse=True)
def _jetstream_needs(request: pytest.FixtureRequest) -> None:
    """Skip what does not apply (see NOT_APPLICABLE); start nats-server for jetstream runs."""
    callspec = getattr(request.node, "callspec", None)
    params = callspec.params if callspec is not None else {}
    for name in (params.get("router_name"), params.get("name")):
        if not isinstance(name, str):
            continue
        reason = NOT_APPLICABLE.get((name, request.node.originalname))
        if reason is not None:
            pytest.skip(f"{name}: {reason}")
        if name == "jetstream":
            request.getfixturevalue("nats_url")


@pytest.fixture(params=ROUTERS)
def router_name(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def router(router_name: str) -> Router:
    return make(router_name)
