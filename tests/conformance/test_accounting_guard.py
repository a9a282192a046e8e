"""The accounting identity is a real check: a delivery counted but never queued is caught.

Each router counts its pending deliveries where they are (queues, live workers),
not as ``deliveries - ended``, so a counter that drifts cannot hide after drain.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from coordinator import CoordinatorRouter
from daemon import CentralRouter
from events import Router
from tests.coordinator.helpers import Recorder, ev, sub

pytestmark = pytest.mark.anyio


def _count_a_ghost_in_daemon(router: Router) -> None:
    assert isinstance(router, CentralRouter)
    router._boxes[0].unqueued += 1  # deliveries = pushed + unqueued


def _count_a_ghost_in_coordinator(router: Router) -> None:
    assert isinstance(router, CoordinatorRouter)
    next(m for m in router.modules.values() if m.copies).copies[0].deliveries += 1


GHOSTS: dict[str, tuple[Callable[[], Router], Callable[[Router], None]]] = {
    "daemon": (CentralRouter, _count_a_ghost_in_daemon),
    "coordinator": (CoordinatorRouter, _count_a_ghost_in_coordinator),
}


@pytest.mark.parametrize("name", [*sorted(GHOSTS), "jetstream"])
async def test_a_ghost_delivery_breaks_the_identity_after_drain(name: str) -> None:
    """One delivery counted but never queued: drain is not 'completed' and the identity fails.

    In the daemon the intake line fails too: an event its one-mailbox fast path
    accepts is counted as that delivery (``CentralRouter.stats``), so a ghost
    delivery also reads as one accept more than was published.
    """
    factory, corrupt = GHOSTS[name]
    router = factory()
    router.subscribe(sub("s", "fs.>"), Recorder())
    await router.start()
    router.publish(ev("fs.file.created"))
    corrupt(router)
    report = await router.drain(5)
    failed = [error.split()[0] for error in report.stats.identity_errors()]
    expected = ["published", "deliveries"] if name == "daemon" else ["deliveries"]
    assert (False, expected) == (report.completed, failed)


async def test_concurrent_drains_share_one_report(router: Router) -> None:
    """Two callers draining at once get the same report; the drain ran once."""
    router.subscribe(sub("s", "fs.>"), Recorder())
    await router.start()
    router.publish(ev("fs.file.created"))
    first, second = await asyncio.gather(router.drain(5), router.drain(5))
    again = await router.drain(5)
    assert (first is second, second is again, first.stats.delivered) == (True, True, 1)
