"""Progress marks: every delivery not ended at a moment has ended, told without per-event hooks."""

from __future__ import annotations

from itertools import count

from daemon.router.mailbox import Mailbox
from daemon.router.progress import Mark
from events import Category, DeadLetterStore, Event, Subscription
from events.delivery import Pipeline, WorkerSlot


async def _never(event: Event) -> None:
    raise AssertionError("the tests move deliveries by hand")


def ev(i: int, priority: int = 1) -> Event:
    return Event(
        id=f"e{i}",
        subject="fs.file.created",
        category=Category.FILESYSTEM,
        source="t",
        priority=priority,
    )


def box_with_slots(workers: int = 1) -> Mailbox:
    box = Mailbox(Pipeline(Subscription(service="s", pattern="fs.>"), _never, DeadLetterStore()))
    box.slots.extend(WorkerSlot() for _ in range(workers))
    return box


#: Run numbers, never reused (a worker numbers its runs from its own counter).
_runs = count(1)


def take(box: Mailbox, slot: WorkerSlot, *, new_run: bool = True) -> Event:
    """What a worker does when it pops, by default as the first delivery of a new run."""
    if new_run:
        slot.run = next(_runs)
    return box.pop_nowait()


def finish(box: Mailbox, slot: WorkerSlot, *, idle: bool = False) -> None:
    """The held delivery ends as delivered; an idle worker then holds nothing."""
    box.pipeline.delivered += 1
    if idle:
        slot.run = 0


def test_a_mark_passes_once_older_deliveries_end_while_newer_ones_stay_queued() -> None:
    """The queue past the mark and the worker moved on prove it; a newer backlog does not matter."""
    box = box_with_slots()
    slot = box.slots[0]
    for i in range(3):
        box.push_nowait(ev(i), 0)
    mark = Mark([box], lambda: [box])
    for i in range(3, 10):
        box.push_nowait(ev(i), 0)
    seen = []
    for _ in range(3):
        take(box, slot)
        seen.append(mark.passed_nowait())
        finish(box, slot)
    # e2 ended, but the worker is not yet seen holding anything else.
    seen.append(mark.passed_nowait())
    take(box, slot)  # e3: the worker has moved on
    seen.append(mark.passed_nowait())
    assert ([False, False, False, False, True], box.pending) == (seen, 7)


def test_a_worker_still_holding_an_old_delivery_holds_the_mark_back() -> None:
    """Out-of-order ends: a second worker finishing newer deliveries does not prove the old one."""
    box = box_with_slots(workers=2)
    slow, fast = box.slots
    box.push_nowait(ev(0), 0)
    take(box, slow)  # e0 in flight (say, retrying)
    mark = Mark([box], lambda: [box])
    for i in range(1, 6):
        box.push_nowait(ev(i), 0)
        take(box, fast)
        finish(box, fast)
    held = mark.passed_nowait()
    finish(box, slow, idle=True)
    assert (held, mark.passed_nowait()) == (False, True)


def test_levels_are_checked_each_against_its_own_target() -> None:
    """A high-priority level drained does not prove the low-priority deliveries behind it."""
    box = box_with_slots()
    slot = box.slots[0]
    box.push_nowait(ev(0, priority=0), 0)
    box.push_nowait(ev(1, priority=3), 0)
    mark = Mark([box], lambda: [box])
    box.push_nowait(ev(2, priority=3), 0)
    order = []
    results = []
    for _ in range(3):
        order.append(take(box, slot).id)
        results.append(mark.passed_nowait())
        finish(box, slot)
    slot.run = 0
    results.append(mark.passed_nowait())
    # e0 (priority 0) is taken last; held by the worker until it ends.
    assert (order, results) == (["e1", "e2", "e0"], [False, False, False, True])


def test_evicted_and_gone_mailboxes_count_as_ended() -> None:
    """Deliveries evicted by the overflow policy have ended; a mailbox no longer live too."""
    sub = Subscription(service="s", pattern="fs.>", mailbox=2, overflow="drop_oldest")
    box = Mailbox(Pipeline(sub, _never, DeadLetterStore()))
    gone = box_with_slots()
    gone.push_nowait(ev(9), 0)
    for i in range(2):
        box.offer_nowait(ev(i), 0)
    live = [box, gone]
    mark = Mark([box, gone], lambda: live)
    for i in range(2, 4):
        box.offer_nowait(ev(i), 0)  # evicts e0, e1: dropped
    live.remove(gone)
    assert (True, box.pipeline.dropped) == (mark.passed_nowait(), {"overflow": 2})


def test_a_mark_with_nothing_pending_has_passed_at_once() -> None:
    """Mailboxes with nothing pending at the mark are not involved at all."""
    box = box_with_slots()
    mark = Mark([box], lambda: [box])
    box.push_nowait(ev(0), 0)
    assert (mark.boxes, mark.passed_nowait()) == ([], True)


def test_a_worker_still_in_the_same_run_holds_the_mark_back() -> None:
    """Runs, not deliveries, are what the worker numbers: the proof waits for the run to end."""
    box = box_with_slots()
    slot = box.slots[0]
    for i in range(2):
        box.push_nowait(ev(i), 0)
    take(box, slot)  # e0, first of a run
    mark = Mark([box], lambda: [box])
    box.push_nowait(ev(2), 0)
    seen = []
    finish(box, slot)
    take(box, slot, new_run=False)  # e1, same run
    seen.append(mark.passed_nowait())  # e1 may still be held: not proved
    finish(box, slot)
    take(box, slot, new_run=False)  # e2, same run: e0 and e1 ended, but the run says nothing
    seen.append(mark.passed_nowait())
    finish(box, slot)
    slot.run = next(_runs)  # a new run starts: everything of the last one has ended
    seen.append(mark.passed_nowait())
    expected = [False, False, True]
    assert expected == seen
