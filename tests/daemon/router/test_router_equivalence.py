"""The router's inlined hot paths behave exactly like the code they copy.

``CentralRouter._work`` inlines :meth:`Mailbox.pop_nowait`, and ``publish``
inlines the common case of ``_publish_general``. Each test drives the copy and
its reference with the same random inputs and compares everything observable.
"""

from __future__ import annotations

import asyncio

from hypothesis import example, given, settings
from hypothesis import strategies as st

from daemon.router.central import CentralRouter
from daemon.router.config import RouterConfig
from daemon.router.mailbox import Mailbox
from events import Ack, Category, DeadLetterStore, Event, Pipeline, Subscription
from events.model import event_size

#: Headers of an event: mostly none (the common case), sometimes some to count.
headers_st = st.sampled_from([{}, {}, {}, {"k": "v"}, {"trace": "x" * 40, "h": ""}])
#: (priority, payload bytes, headers) of one published event.
sized_st = st.tuples(st.integers(0, 3), st.integers(0, 300), headers_st)


def _event(
    n: int,
    subject: str,
    priority: int,
    size: int,
    targets: tuple[str, ...] = (),
    headers: dict[str, str] | None = None,
) -> Event:
    return Event(
        id=f"e{n}",
        subject=subject,
        category=Category.FILESYSTEM,
        source="t",
        priority=priority,
        payload=bytes(size),
        targets=targets,
        headers=headers or {},
    )


async def _noop(event: Event) -> None:
    return None


async def _delivered_by_worker(events: list[Event], batch: int) -> list[tuple[str, int, int]]:
    """Publish before start (buffered), then let one worker run them: what it hands over."""
    router = CentralRouter(RouterConfig(worker_batch=batch))
    seen: list[tuple[str, int, int]] = []

    async def record(event: Event) -> None:
        box = router._boxes[0]
        seen.append((event.id, box.count, box.nbytes))

    router.subscribe(Subscription(service="s", pattern=">", concurrency=1), record)
    for event in events:
        assert router.publish(event).ok
    await router.start()
    report = await router.drain(10.0)
    assert (report.completed, report.stats.identity_errors()) == (True, [])
    return seen


@settings(max_examples=100, deadline=None)
@given(sized=st.lists(sized_st, max_size=60), batch=st.integers(1, 8))
def test_worker_loop_pops_like_mailbox_pop_nowait(
    sized: list[tuple[int, int, dict[str, str]]], batch: int
) -> None:
    """The worker hands events over in pop_nowait's order, leaving the same count and bytes."""
    events = [
        _event(n, "fs.a", priority, size, headers=headers)
        for n, (priority, size, headers) in enumerate(sized)
    ]
    reference = Mailbox(Pipeline(Subscription(service="s", pattern=">"), _noop, DeadLetterStore()))
    for event in events:
        reference.push_nowait(event, event_size(event))
    expected = []
    while reference.count:
        popped = reference.pop_nowait()
        expected.append((popped.id, reference.count, reference.nbytes))
    actual = asyncio.run(_delivered_by_worker(events, batch))
    assert expected == actual


# -- publish: the inlined fast path against _publish_general ------------------------------

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
#: Half the examples subscribe only plain ``reject`` subscriptions: the fast path's case.
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
    headers_st,
)

SubSpec = tuple[str, int, int, str, str | None]
PublishSpec = tuple[str, int, int, tuple[str, ...], dict[str, str]]


def _router(subs: list[SubSpec]) -> CentralRouter:
    router = CentralRouter()
    for index, (pattern, mailbox, mailbox_bytes, overflow, group) in enumerate(subs):
        sub = Subscription(
            service=f"s{index}",
            pattern=pattern,
            mailbox=mailbox,
            mailbox_bytes=mailbox_bytes,
            overflow=overflow,  # type: ignore[arg-type]
            queue_group=group,
        )
        router.subscribe(sub, _noop)
    return router


def _contents(router: CentralRouter) -> list[tuple[list[list[str | int]], int, int, int]]:
    """Each mailbox: its queued ids and charges per priority, count, bytes and deliveries."""
    return [
        (
            # Each queued id and the charge behind it (Mailbox.levels).
            [
                [item if isinstance(item, int) else item.id for item in level]
                for level in box.levels
            ],
            box.count,
            box.nbytes,
            box.deliveries,
        )
        for box in router._boxes
    ]


@settings(max_examples=200, deadline=None)
@given(subs=subs_st, publishes=st.lists(publish_st, max_size=40))
@example(
    # Fast path into overload: the second event does not fit the event bound.
    subs=[("fs.>", 1, 700, "reject", None)],
    publishes=[("fs.a", 1, 10, (), {}), ("fs.a", 1, 10, (), {}), ("fs.a", 3, 0, (), {})],
)
@example(
    # Fast path into overload by bytes, then one that fits.
    subs=[("fs.a", 6, 100, "reject", None), ("*.a", 6, 700, "reject", None)],
    publishes=[("fs.a", 0, 60, (), {}), ("fs.a", 2, 60, (), {}), ("fs.a", 2, 40, (), {})],
)
@example(
    # Fast path into overload by header bytes alone.
    subs=[("fs.a", 6, 100, "reject", None)],
    publishes=[("fs.a", 1, 0, (), {"trace": "x" * 40, "h": ""}), ("fs.a", 1, 0, (), {"k": "v"})]
    * 2,
)
def test_publish_fast_path_matches_general_path(
    subs: list[SubSpec], publishes: list[PublishSpec]
) -> None:
    """Same acks, counters and mailbox contents whether or not publish takes its fast path.

    ``general`` has its fast dicts emptied after every publish, so every event
    it takes goes through ``_publish_general``; ``normal`` is used as is.
    """
    normal, general = _router(subs), _router(subs)
    expected: list[Ack] = []
    actual: list[Ack] = []
    for n, (subject, priority, size, targets, headers) in enumerate(publishes):
        event = _event(n, subject, priority, size, targets, headers)
        expected.append(general.publish(event))
        general._fast.clear()
        general._single.clear()
        actual.append(normal.publish(event))
    assert expected == actual
    assert general.stats() == normal.stats()
    assert _contents(general) == _contents(normal)
