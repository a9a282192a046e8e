"""A module's inlined intake behaves exactly like its general path, and so do their queue tags.

``CoordinatorRouter.publish`` inlines the common case of its module's
``DataCoordinator.offer_nowait`` and queues the route's tuple where the module
queues an ``Entry``; the worker takes each kind its own way. The same random
publishes go to a router used as is and to one whose module has its fast dicts
emptied after every publish (so every event takes the module's own intake);
everything observable must be equal, at intake and through the worker.
"""

from __future__ import annotations

import asyncio

from hypothesis import example, given, settings
from hypothesis import strategies as st

from coordinator.backlog import copies_of
from coordinator.config import CoordinatorConfig
from coordinator.module import DataCoordinator
from coordinator.router import CoordinatorRouter
from events import Ack, Category, Event, Subscription
from events.model import SubscriptionStats

#: Few subjects, so most repeat and hit the route cache (the fast path needs a cached route).
subject_st = st.sampled_from(["fs.a", "fs.a", "fs.a", "fs.b", "fs.a.b", "b", "fs..a"])
pattern_st = st.sampled_from(["fs.a", "fs.*", "fs.>", "*.a", ">", "fs.a.b", "b"])
mailbox_st = st.integers(1, 6)  # events
mailbox_bytes_st = st.integers(1, 700)
#: Any subscription: displacing policies and queue groups route through the general path.
sub_st = st.tuples(
    pattern_st,
    mailbox_st,
    mailbox_bytes_st,
    st.sampled_from(["reject", "drop_oldest", "dead_letter"]),
    st.sampled_from([None, "g"]),
)
#: Half the examples register only plain ``reject`` subscriptions: the fast path's case.
subs_st = st.one_of(
    st.lists(
        st.tuples(pattern_st, mailbox_st, mailbox_bytes_st, st.just("reject"), st.none()),
        min_size=1,
        max_size=4,
    ),
    st.lists(sub_st, min_size=1, max_size=5),
)
publish_st = st.tuples(
    subject_st,
    st.sampled_from([0, 1, 1, 2, 3, -1, 4]),  # priority: out of range at both ends too
    st.integers(0, 300),
    st.sampled_from([(), (), (), (), ("s0",), ("s1", "nobody")]),
    # Headers count against mailbox_bytes like the payload: mostly none, the common case.
    st.sampled_from([{}, {}, {}, {"k": "v"}, {"trace": "x" * 40, "h": ""}]),
)

SubSpec = tuple[str, int, int, str, str | None]
PublishSpec = tuple[str, int, int, tuple[str, ...], dict[str, str]]
#: A delivery as the handler saw it: service, event id, then every copy's (depth, bytes).
Seen = tuple[str, str, tuple[tuple[int, int], ...]]


def _event(n: int, spec: PublishSpec) -> Event:
    subject, priority, size, targets, headers = spec
    return Event(
        id=f"e{n}",
        subject=subject,
        category=Category.FILESYSTEM,
        source="t",
        priority=priority,
        payload=bytes(size),
        targets=targets,
        headers=headers,
    )


def _router(
    subs: list[SubSpec], queue_size: int | None, seen: list[Seen]
) -> tuple[CoordinatorRouter, DataCoordinator]:
    """A router with ``subs``, and its module that every published event goes to."""
    sizes = {} if queue_size is None else {Category.FILESYSTEM.value: queue_size}
    router = CoordinatorRouter(CoordinatorConfig(module_queue_size=sizes, seed=0))
    module = router.modules[Category.FILESYSTEM]
    for index, (pattern, mailbox, mailbox_bytes, overflow, group) in enumerate(subs):
        sub = Subscription(
            service=f"s{index}",
            pattern=pattern,
            mailbox=mailbox,
            mailbox_bytes=mailbox_bytes,
            overflow=overflow,  # type: ignore[arg-type]
            queue_group=group,
        )

        async def record(event: Event, service: str = sub.service) -> None:
            copies = tuple((copy.depth, copy.nbytes) for copy in module.copies)
            seen.append((service, event.id, copies))

        router.subscribe(sub, record)
    return router, module


def _queue(module: DataCoordinator) -> list[list[tuple[str, list[str], int]]]:
    """Per priority, each queued event's id, the services of its deliveries still to run
    and its charge against the copies' byte bounds."""
    queued = []
    for level in module.levels:
        entries = []
        for index in range(0, len(level), 3):
            event, tag, charge = level[index], level[index + 1], level[index + 2]
            copies, cancelled = copies_of(tag)
            live = [c for c in copies if cancelled is None or c not in cancelled]
            entries.append((event.id, [copy.service for copy in live], charge))
        queued.append(entries)
    return queued


def _state(module: DataCoordinator) -> tuple[object, ...]:
    """Every counter of the module and of its copies, and the copies' displacement queues."""
    copies: list[tuple[SubscriptionStats, int, int, int, list[list[str]] | None]] = []
    for copy in module.copies:
        own = None
        if copy.levels is not None:
            own = [[entry.event.id for entry in level] for level in copy.levels]
        copies.append((copy.stats(), copy.deliveries, copy.depth, copy.nbytes, own))
    counters = (
        module.accepted,
        dict(module.rejected),
        module.unrouted,
        module.unknown_targets,
        module.depth,
    )
    return counters, copies, _queue(module)


async def _run_workers(router: CoordinatorRouter) -> None:
    """Let the router's workers run everything queued, then stop."""
    await router.start()
    report = await router.drain(10.0)
    assert (report.completed, report.stats.identity_errors()) == (True, [])


@settings(max_examples=200, deadline=None)
@given(
    subs=subs_st,
    queue_size=st.one_of(st.none(), st.integers(1, 8)),
    publishes=st.lists(publish_st, max_size=40),
)
@example(
    # Fast path into the copy's event bound, then the module's configured bound.
    subs=[("fs.>", 2, 700, "reject", None), ("*.a", 6, 700, "reject", None)],
    queue_size=3,
    publishes=[("fs.a", 1, 10, (), {})] * 3 + [("fs.b", 1, 10, (), {})] * 3,
)
@example(
    # Fast path into the byte bound, priorities mixed, and an unrouted cached subject.
    subs=[("fs.a", 6, 100, "reject", None)],
    queue_size=None,
    publishes=[
        ("fs.a", 0, 60, (), {}),
        ("fs.a", 3, 60, (), {}),
        ("fs.a", 2, 40, (), {}),
        ("b", 1, 0, (), {}),
    ]
    * 2,
)
@example(
    # Fast path into the byte bound by header bytes alone.
    subs=[("fs.a", 6, 100, "reject", None)],
    queue_size=None,
    publishes=[("fs.a", 1, 0, (), {"trace": "x" * 40, "h": ""}), ("fs.a", 1, 0, (), {"k": "v"})]
    * 2,
)
def test_offer_fast_path_matches_general_path(
    subs: list[SubSpec], queue_size: int | None, publishes: list[PublishSpec]
) -> None:
    """Same acks, counters, queue and deliveries whether or not intake takes its fast path."""
    seen_general: list[Seen] = []
    seen_normal: list[Seen] = []
    general_router, general = _router(subs, queue_size, seen_general)
    normal_router, normal = _router(subs, queue_size, seen_normal)
    expected: list[Ack] = []
    actual: list[Ack] = []
    for n, spec in enumerate(publishes):
        event = _event(n, spec)
        expected.append(general_router.publish(event))
        general.fast.clear()
        general.single.clear()
        actual.append(normal_router.publish(event))
    assert expected == actual
    assert _state(general) == _state(normal)
    asyncio.run(_run_workers(general_router))
    asyncio.run(_run_workers(normal_router))
    assert seen_general == seen_normal
    assert _state(general) == _state(normal)
    # The worker took off exactly the bytes intake put on (events.event_size both ways).
    assert [0] * len(normal.copies) == [copy.nbytes for copy in normal.copies]
