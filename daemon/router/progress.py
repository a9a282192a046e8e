"""Proving that every delivery created before a moment has ended, without per-event bookkeeping.

The journal needs to know when all deliveries of a closed segment's events have
ended (delivered, dropped, or dead-lettered) while newer ones keep arriving. The
router is not told of each end, and ends do not come in creation order, so a
count of ends cannot prove it. Two facts of :class:`Mailbox` can:

* Each priority level is FIFO, and every way out of a level (a worker's pop, an
  eviction, a drain taking all) leaves from its front. So once
  ``pushed[L] - queued(L)`` has reached what ``pushed[L]`` was at the
  moment, every delivery queued at level L before it has left the queue.
* A delivery that left the queue either ended in the same step (evicted, taken
  by drain or unsubscribe) or was popped by a worker, which ends it before it
  pops the next. A worker numbers each run of deliveries it starts (one batch,
  between two yields of the loop) in its :class:`WorkerSlot` (``run``, never
  reused by that worker; 0 while it waits for work). So once every worker busy
  at that point has been seen in a later run, or idle, those have ended too.
  The worker writes one number per batch, not per delivery: the proof may wait
  for the rest of a batch, and the hot path pays nothing per delivery for it.

A :class:`Mark` records the first fact's targets for each mailbox with pending
deliveries; :meth:`Mark.passed_nowait` checks them and, once a mailbox's queue
has moved past them, the second fact. A mailbox no longer live (retired after an
unsubscribe) has ended everything. Mailboxes subscribed later are not involved.

Pure synchronous state: the caller decides how often to check.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from daemon.router.mailbox import Mailbox
from events.delivery import WorkerSlot


class BoxMark:
    """One mailbox's part of a :class:`Mark`: queue targets, then the workers to see move on."""

    __slots__ = ("box", "held", "targets")

    def __init__(self, box: Mailbox) -> None:
        self.box = box
        #: ``pushed`` per level at the moment: what must have left each level.
        self.targets = tuple(box.pushed)
        #: Workers busy when the queue was first seen past the targets, with their run.
        self.held: list[tuple[WorkerSlot, int]] | None = None

    def passed_nowait(self) -> bool:
        """True once every delivery this mailbox had at the moment has ended."""
        box = self.box
        if box.pending == 0:
            return True  # everything it ever had has ended
        if self.held is None:
            pushed = box.pushed
            for level, target in enumerate(self.targets):
                if pushed[level] - box.queued(level) < target:
                    return False
            self.held = [(slot, slot.run) for slot in box.slots if slot.run]
        if self.held:
            self.held = [(slot, run) for slot, run in self.held if slot.run == run]
        return not self.held


class Mark:
    """Every delivery the router had not ended at one moment; check when they all have."""

    __slots__ = ("boxes", "live")

    def __init__(self, boxes: Iterable[Mailbox], live: Callable[[], list[Mailbox]]) -> None:
        self.boxes = [BoxMark(box) for box in boxes if box.pending > 0]
        #: The router's live mailboxes now (one no longer listed has ended everything).
        self.live = live

    def passed_nowait(self) -> bool:
        """True once every delivery not ended at the moment of the mark has ended."""
        if not self.boxes:
            return True
        live = set(self.live())
        self.boxes = [m for m in self.boxes if m.box in live and not m.passed_nowait()]
        return not self.boxes
