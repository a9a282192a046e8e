"""The mailbox: priority order, FIFO within a priority, byte bounds and displacement."""

from __future__ import annotations

from daemon.router.mailbox import Mailbox
from events import Category, DeadLetterStore, Event, Pipeline, Subscription


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
        mb.push_nowait(ev(n, priority), 0)
    order = [mb.pop_nowait().id for _ in range(7)]
    assert (order, mb.count) == (["e1", "e4", "e3", "e2", "e5", "e0", "e6"], 0)


def test_bytes_bound_limits_admission() -> None:
    """Admission counts payload bytes as well as events."""
    mb = box(mailbox_bytes=2500)
    admitted = []
    for n in range(3):
        fits = mb.admits_nowait(1024)
        admitted.append(fits)
        if fits:
            mb.push_nowait(ev(n, size=1024), 1024)
    assert (admitted, mb.nbytes) == ([True, True, False], 2048)
    mb.pop_nowait()
    assert (mb.admits_nowait(1024), mb.nbytes) == (True, 1024)


def test_drop_oldest_displaces_lowest_priority_first() -> None:
    """Under pressure the oldest event of the lowest non-empty priority goes, counted."""
    mb = box(mailbox=3, overflow="drop_oldest")
    for n, priority in enumerate([2, 0, 0]):
        mb.push_nowait(ev(n, priority), 0)
    mb.offer_nowait(ev(3, 3), 0)
    order = [mb.pop_nowait().id for _ in range(3)]
    assert (
        order,
        mb.pipeline.dropped,
        mb.deliveries,
    ) == (["e3", "e0", "e2"], {"overflow": 1}, 4)


def test_dead_letter_policy_dead_letters_the_displaced() -> None:
    """With 'dead_letter', displaced events land in the store with reason overflow."""
    mb = box(mailbox_bytes=2048, overflow="dead_letter")
    for n in range(2):
        mb.push_nowait(ev(n, size=1024), 1024)
    mb.offer_nowait(ev(2, size=1024), 1024)
    entry = mb.pipeline.dead_letters.entries[0]
    assert ((entry.event.id, entry.reason), mb.count, mb.nbytes) == (("e0", "overflow"), 2, 2048)


def test_event_larger_than_bound_ends_itself() -> None:
    """An event bigger than the whole byte bound displaces nothing; its own delivery overflows."""
    mb = box(mailbox_bytes=100, overflow="drop_oldest")
    mb.push_nowait(ev(0, size=50), 50)
    mb.offer_nowait(ev(1, size=500), 500)
    assert (mb.count, mb.pipeline.dropped, mb.deliveries) == (1, {"overflow": 1}, 2)
