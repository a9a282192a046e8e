"""Starting and retiring a lane's parts: its durable consumer, its puller and its workers."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from nats.js import api as js_api

from daemon.jetstream.lane import ACK_WAIT_MARGIN_S, Lane, Member
from daemon.jetstream.puller import Puller
from daemon.jetstream.streams import ensure_consumer, filter_subjects
from events.delivery import WorkerSlot

if TYPE_CHECKING:
    from daemon.jetstream.router import JetStreamRouter


#: A local consumer nobody pulled from for this long is removed by the server (its
#: process died): a multiple of the pull expiry, which an idle puller renews.
LOCAL_INACTIVE_FACTOR = 4


def inactive_for(router: JetStreamRouter, lane: Lane) -> float | None:
    """The server-side expiry of ``lane``'s consumer: None (durable) unless it is local."""
    return router.config.pull_expires_s * LOCAL_INACTIVE_FACTOR if lane.local else None


def ack_wait_for(router: JetStreamRouter, lane: Lane) -> float:
    """The consumer's ``ack_wait``: at least the longest handler timeout plus a margin."""
    longest = max(member.sub.timeout_s for member in lane.members)
    return max(router.config.ack_wait_s, longest + ACK_WAIT_MARGIN_S)


async def open_lane(router: JetStreamRouter, lane: Lane) -> None:
    """At start: declare the lane's consumer and open its puller (not yet pulling)."""
    config = router.config
    assert router.nc is not None
    lane.ack_wait_s = ack_wait_for(router, lane)
    lane.filters = filter_subjects(config.subject_prefix, lane.patterns)
    capacity = lane.capacity_per_prefetch * config.prefetch
    await ensure_consumer(
        router.nc.jetstream(timeout=config.connect_timeout_s),
        config,
        durable=lane.durable,
        filters=lane.filters,
        ack_wait_s=lane.ack_wait_s,
        max_ack_pending=capacity,
        inactive_s=inactive_for(router, lane),
    )
    router.declared.add(lane.durable)
    await _make_puller(router, lane, capacity)


async def _make_puller(router: JetStreamRouter, lane: Lane, capacity: int) -> None:
    assert router.nc is not None
    lane.transport = router.transport
    lane.puller = Puller(
        router.nc,
        api_prefix=js_api.DEFAULT_PREFIX,
        stream=router.config.stream,
        durable=lane.durable,
        capacity=capacity,
        expires_s=router.config.pull_expires_s,
        on_message=lane.on_message,
        blocked=lane.breaker_blocks,
    )
    await lane.puller.open()


def run_puller(router: JetStreamRouter, lane: Lane) -> None:
    """Start the task that keeps pull requests outstanding for ``lane``."""
    assert lane.puller is not None
    lane.pull_task = asyncio.create_task(lane.puller.run(), name=f"pull-{lane.durable}")
    router.tasks.append(lane.pull_task)


async def open_puller(router: JetStreamRouter, lane: Lane, capacity: int) -> None:
    """Open and run the puller of a lane declared after start."""
    await _make_puller(router, lane, capacity)
    run_puller(router, lane)


def spawn_workers(router: JetStreamRouter, lane: Lane, member: Member) -> None:
    """Start ``member``'s ``concurrency`` workers (long-lived tasks)."""
    for index in range(member.sub.concurrency):
        slot = WorkerSlot()
        router.watchdog.slots.append(slot)
        name = f"{member.sub.service}-{index}"
        task = asyncio.create_task(lane.work(member, slot), name=name)
        slot.task = task
        member.slots.append(slot)
        member.tasks.append(task)
        router.workers.append(task)


def retire_nowait(router: JetStreamRouter, lane: Lane, member: Member) -> None:
    """``member`` has left: keep its counters in the totals, drop its workers (and the
    lane, if it was the last member). A member with a worker still running (one that
    ignored cancellation) stays, leaving, so what it ends is still counted."""
    pipeline = member.pipeline
    pipeline.deliveries = pipeline.ended + len(member.queue) + member.busy
    if not all(task.done() for task in member.tasks):
        return
    for slot in member.slots:
        if slot in router.watchdog.slots:
            router.watchdog.slots.remove(slot)
    gone = set(member.tasks)
    router.workers[:] = [task for task in router.workers if task not in gone]
    if member in lane.members:
        lane.members.remove(member)
        lane.refresh_nowait()
        router.retired.add_nowait(pipeline)
    if not lane.members:
        if router.lanes.get(lane.key) is lane:
            del router.lanes[lane.key]
        router.retired_lanes.append(lane)
        if lane.pull_task is not None:
            lane.pull_task.cancel()
