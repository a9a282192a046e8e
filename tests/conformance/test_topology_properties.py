"""Where the two designs legitimately differ, each difference is a named, tested property.

Both routers honour the contract; these tests pin down what the topology adds:
the coordinator runs an event's handlers in turn on its module's worker, so a
slow subscriber holds up the next subscriber of the same module (head-of-line
blocking); the centralised router gives every subscription its own mailbox and
workers, so it does not.
"""

from __future__ import annotations

import asyncio

import pytest

from bench.architectures import make
from tests.coordinator.helpers import Recorder, ev, gated, sub

pytestmark = pytest.mark.anyio

#: Does a slow subscriber hold up another subscriber of the same module?
HEAD_OF_LINE_BLOCKING = {"daemon": False, "coordinator": True, "jetstream": False}


@pytest.mark.parametrize("name", sorted(HEAD_OF_LINE_BLOCKING))
async def test_slow_subscriber_and_a_neighbour_of_the_same_module(name: str) -> None:
    """The neighbour of a stalled fs subscriber is blocked exactly where the design says."""
    router = make(name)
    started, gate = asyncio.Event(), asyncio.Event()
    neighbour = Recorder()
    router.subscribe(sub("slow", "fs.file.created"), gated(started, gate))
    router.subscribe(sub("neighbour", "fs.file.*"), neighbour)
    await router.start()
    router.publish(ev("fs.file.created"))
    await asyncio.wait_for(started.wait(), 5)
    router.publish(ev("fs.file.modified"))
    if not HEAD_OF_LINE_BLOCKING[name]:
        await neighbour.wait_for(2)
    # Let every runnable task run; a blocked neighbour stays blocked however long we wait.
    for _ in range(50):
        await asyncio.sleep(0)
    delivered_while_stalled = len(neighbour.ids)
    gate.set()
    await neighbour.wait_for(2)
    report = await router.drain(5)
    blocked = delivered_while_stalled == 0
    assert (blocked, report.stats.identity_errors()) == (HEAD_OF_LINE_BLOCKING[name], [])


#: How many copies of a subscription on '>' does each design keep?
COPIES_OF_A_WILDCARD_SUBSCRIPTION = {"daemon": 1, "coordinator": 6, "jetstream": 1}


@pytest.mark.parametrize("name", sorted(COPIES_OF_A_WILDCARD_SUBSCRIPTION))
async def test_state_kept_for_an_audit_subscription(name: str) -> None:
    """An audit service on '>' is one subscription in the daemon and six in the coordinator."""
    router = make(name)
    router.subscribe(sub("audit", ">"), Recorder())
    await router.start()
    copies = len(router.stats().subscriptions)
    await router.drain(5)
    assert copies == COPIES_OF_A_WILDCARD_SUBSCRIPTION[name]


@pytest.mark.parametrize("name", sorted(HEAD_OF_LINE_BLOCKING))
async def test_a_cpu_bound_backlog_yields_the_loop(name: str) -> None:
    """A worker with a backlog of CPU-heavy deliveries lets other tasks run within its slice."""
    import time

    router = make(name)
    done: list[str] = []

    async def busy(event: object) -> None:
        # Real CPU work, 0.3 ms of it: longer than a tenth of the 1 ms worker slice.
        until = time.perf_counter() + 0.0003
        while time.perf_counter() < until:
            pass
        done.append("x")

    router.subscribe(sub("busy", "fs.>"), busy)
    await router.start()
    for _ in range(100):
        router.publish(ev("fs.file.created"))
    seen_by_observer: list[int] = []

    async def observer() -> None:
        seen_by_observer.append(len(done))

    watcher = asyncio.ensure_future(observer())
    await watcher
    report = await router.drain(10)
    assert (seen_by_observer[0] < 100, len(done), report.stats.identity_errors()) == (
        True,
        100,
        [],
    )
