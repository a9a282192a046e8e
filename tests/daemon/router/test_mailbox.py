"""The mailbox: priority order, FIFO within a priority, byte bounds and displacement."""

from __future__ import annotations

from daemon.router.mailbox import Mailbox
from events import Category, DeadLetterStore, Event, Pipeline, Subscription
from events.model import event_size


async def _noop(ev: Event) -> None:
    return None


def box(**fields: object) -> Mailbox:
    sub = Subscription(service="s", pattern=">", **fields)  # type: ignore[arg-type]
    return Mailbox(Pipeline(sub, _noop, DeadLetterStore(100)))


def ev(n: int, priority: int = 1, size: int = 0) -> Event:
    return Event(
        id=f"e{n}",
        subject="fs.file.created",
        category=Category.FILESYSTEM,
        source="t",
        priority=priority,
        payload=bytes(size),
    )


def test_higher_priority_first_fifo_within() -> None:
    """Pops take the highest priority first and keep publish order within a priority."""
    mb = box()
    for n, priority in enumerate([0, 3, 1, 2, 3, 1, 0]):
        mb.push_nowait(ev(n, priority), event_size(ev(n, priority)))
    order = [mb.pop_nowait().id for _ in range(7)]
    assert (order, mb.count) == (["e1", "e4", "e3", "e2", "e5", "e0", "e6"], 0)


def test_bytes_bound_limits_admission() -> None:
    """Admission counts bytes (subject, headers, payload) as well as events."""
    mb = box(mailbox_bytes=2500)
    size = event_size(ev(0, size=1024))
    admitted = []
    for n in range(3):
        fits = mb.admits_nowait(size)
        admitted.append(fits)
        if fits:
            mb.push_nowait(ev(n, size=1024), size)
    assert (admitted, mb.nbytes) == ([True, True, False], 2 * size)
    mb.pop_nowait()
    assert (mb.admits_nowait(size), mb.nbytes) == (True, size)


def test_event_size_counts_subject_headers_and_payload() -> None:
    """Headers and subject weigh against mailbox_bytes like the payload does."""
    event = Event(
        id="e",
        subject="fs.file.created",
        category=Category.FILESYSTEM,
        source="t",
        payload=bytes(10),
        headers={"trace": "x" * 100, "k": "v"},
    )
    assert len("fs.file.created") + 10 + len("trace") + 100 + 2 == event_size(event)


def test_headers_cannot_bypass_the_byte_bound() -> None:
    """An event carrying its bytes in headers is refused by a mailbox too small for them."""
    mb = box(mailbox_bytes=1000)
    heavy = Event(
        id="h",
        subject="fs.file.created",
        category=Category.FILESYSTEM,
        source="t",
        headers={"blob": "x" * 5000},
    )
    assert False is mb.admits_nowait(event_size(heavy))


def test_drop_oldest_displaces_lowest_priority_first() -> None:
    """Under pressure the oldest event of the lowest non-empty priority goes, counted."""
    mb = box(mailbox=3, overflow="drop_oldest")
    for n, priority in enumerate([2, 0, 0]):
        mb.push_nowait(ev(n, priority), event_size(ev(n, priority)))
    mb.offer_nowait(ev(3, 3), event_size(ev(3, 3)))
    order = [mb.pop_nowait().id for _ in range(3)]
    assert (
        order,
        mb.pipeline.dropped,
        mb.deliveries,
    ) == (["e3", "e0", "e2"], {"overflow": 1}, 4)


def test_dead_letter_policy_dead_letters_the_displaced() -> None:
    """With 'dead_letter', displaced events land in the store with reason overflow."""
    size = event_size(ev(0, size=1024))
    mb = box(mailbox_bytes=2 * size, overflow="dead_letter")
    for n in range(2):
        mb.push_nowait(ev(n, size=1024), size)
    mb.offer_nowait(ev(2, size=1024), size)
    entry = mb.pipeline.dead_letters.entries[0]
    assert ((entry.event.id, entry.reason), mb.count, mb.nbytes) == (
        ("e0", "overflow"),
        2,
        2 * size,
    )


def test_event_larger_than_bound_ends_itself() -> None:
    """An event bigger than the whole byte bound displaces nothing; its own delivery overflows."""
    mb = box(mailbox_bytes=100, overflow="drop_oldest")
    mb.push_nowait(ev(0, size=50), event_size(ev(0, size=50)))
    mb.offer_nowait(ev(1, size=500), event_size(ev(1, size=500)))
    assert (mb.count, mb.pipeline.dropped, mb.deliveries) == (1, {"overflow": 1}, 2)
