"""When a closed journal segment may be deleted: proving that its events have ended.

A segment is needed after a crash as long as one delivery of one of its events has
not ended. Every event of a segment was published before the segment was closed
(the ingress and the replay append an event in the same loop step that publishes
it, and a segment is closed between writes), so it is enough to prove that every
delivery not ended at the close has ended since.

A router that can mark that moment (:class:`Marking`, the central router:
``daemon.router.progress``) proves it per subscription, from how far its queue
has moved and what its workers hold, so a segment is freed while subscriptions
stay backlogged: after a crash the replay repeats about what had not ended, plus
the open segment. For any other router the proof is built from :class:`RouterStats`
snapshots, which needs each subscription busy at the close to be seen idle:

* Every event of a segment was published before the segment was closed (the
  ingress and the replay append an event in the same loop step that publishes it,
  and a segment is closed between writes). So every delivery of its events had
  started by then, in a subscription live at that moment.
* A subscription observed later with nothing queued and nothing in flight has ended
  every delivery it ever started; one no longer listed has been unsubscribed, which
  ends (or dead-letters) all of its deliveries first. Ended stays ended.
* So once each subscription busy at the close has, in some later snapshot, been
  idle or gone, every delivery of the segment's events has ended. Subscriptions are
  keyed by (service, pattern, module); if two live subscriptions share a key (a
  reload replacing one), the key counts as idle only when all of them are.

Counting is not enough: "ended deliveries have passed the deliveries started at the
close" does not prove it, because deliveries do not end in the order they start
(priorities, several workers, other subscriptions finishing newer events first).

Ended as dead-lettered is not yet safe: the dead letter lives in a bounded
in-memory store until it is spilled to the dead-letter journal. The caller spills
after the proof, and deletes only if no dead letter was lost to eviction since the
segment's events were published (``lost_open``): otherwise the segment is kept, so
a replay can still redeliver what would have been lost.

When a snapshot's per-subscription figures do not account for its ``pending`` (a
router that lists no subscriptions), only a snapshot with nothing pending counts.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, runtime_checkable

from events.model import RouterStats

SubKey = tuple[str, str, str]


class ProgressMark(Protocol):
    """The deliveries a router had not ended at one moment."""

    def passed_nowait(self) -> bool:
        """True once all of them have ended (it may drop what it no longer needs)."""
        ...


@runtime_checkable
class Marking(Protocol):
    """A router that can mark the deliveries not ended now."""

    def progress_mark_nowait(self) -> ProgressMark: ...


class Sealed:
    """A closed segment waiting for its proof: the subscriptions still to see idle."""

    __slots__ = ("lost_open", "mark", "seq", "size", "waiting")

    def __init__(
        self,
        seq: int,
        size: int,
        waiting: set[SubKey] | None,
        lost_open: int,
        mark: ProgressMark | None = None,
    ) -> None:
        self.seq = seq
        self.size = size
        #: Keys busy at the close and not seen idle since; None: wait for nothing pending.
        self.waiting = waiting
        self.lost_open = lost_open
        #: The router's mark at the close, when it can make one (then ``waiting`` is unused).
        self.mark = mark

    @property
    def proven(self) -> bool:
        return self.waiting is not None and not self.waiting


def busy_keys(stats: RouterStats) -> set[SubKey] | None:
    """Subscriptions with a delivery queued or in flight; None if the list cannot tell."""
    busy: set[SubKey] = set()
    accounted = 0
    for sub in stats.subscriptions:
        if sub.depth > 0 or sub.in_flight > 0:
            busy.add((sub.service, sub.pattern, sub.module))
            accounted += sub.depth + max(0, sub.in_flight)
    if accounted < stats.pending:
        return None
    return busy


class LowWater:
    """The closed segments of one journal and what each still waits for (pure state)."""

    def __init__(self) -> None:
        self.sealed: list[Sealed] = []

    def seal_nowait(
        self,
        seq: int,
        size: int,
        stats: RouterStats | None,
        lost_open: int,
        mark: ProgressMark | None = None,
    ) -> Sealed:
        """Record segment ``seq`` closed now; ``stats`` is the router's state now, if known.

        With ``mark`` (the router's mark taken now) the proof is the mark's alone.
        """
        waiting = None
        if mark is None and stats is not None:
            waiting = set() if stats.pending == 0 else busy_keys(stats)
        sealed = Sealed(seq, size, waiting, lost_open, mark)
        self.sealed.append(sealed)
        return sealed

    def observe_nowait(self, stats: RouterStats | None) -> list[Sealed]:
        """Take a later look into account; answer the segments now proven ended.

        ``stats`` is a snapshot taken now, for the segments sealed without a mark.
        """
        for sealed in self.sealed:
            mark = sealed.mark
            if mark is not None and mark.passed_nowait():
                sealed.mark = None
                sealed.waiting = set()
        if stats is None:
            pass
        elif stats.pending == 0:
            for sealed in self.sealed:
                sealed.waiting = set()
        else:
            busy = busy_keys(stats)
            if busy is not None:
                for sealed in self.sealed:
                    if sealed.waiting:
                        sealed.waiting &= busy
        return [sealed for sealed in self.sealed if sealed.proven]

    def release_nowait(self, proven: Iterable[Sealed], lost_now: int) -> tuple[list[int], int]:
        """Forget ``proven`` segments; answer (those safe to delete, how many must be kept).

        ``lost_now`` is the dead-letter journal's lost count after a spill that
        followed the proof. A segment whose span saw a dead letter lost stays on disk
        (and is no longer tracked): a replay redelivers its events.
        """
        doomed: list[int] = []
        kept = 0
        gone = {id(s) for s in proven}
        for sealed in self.sealed:
            if id(sealed) not in gone:
                continue
            if lost_now == sealed.lost_open:
                doomed.append(sealed.seq)
            else:
                kept += 1
        self.sealed = [s for s in self.sealed if id(s) not in gone]
        return doomed, kept

    def clear_nowait(self) -> list[int]:
        """Forget every closed segment (a checkpoint deletes them); answer their numbers."""
        seqs = [sealed.seq for sealed in self.sealed]
        self.sealed = []
        return seqs
