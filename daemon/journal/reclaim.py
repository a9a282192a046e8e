"""When a closed journal segment may be deleted: proving that its events have ended.

A segment is needed after a crash as long as one delivery of one of its events has
not ended. The router does not report when a given event ends, only counters, so
the proof is built from :class:`RouterStats` snapshots:

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

from events.model import RouterStats

SubKey = tuple[str, str, str]


class Sealed:
    """A closed segment waiting for its proof: the subscriptions still to see idle."""

    __slots__ = ("lost_open", "seq", "size", "waiting")

    def __init__(self, seq: int, size: int, waiting: set[SubKey] | None, lost_open: int) -> None:
        self.seq = seq
        self.size = size
        #: Keys busy at the close and not seen idle since; None: wait for nothing pending.
        self.waiting = waiting
        self.lost_open = lost_open

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

    def seal_nowait(self, seq: int, size: int, stats: RouterStats | None, lost_open: int) -> Sealed:
        """Record segment ``seq`` closed now; ``stats`` is the router's state now, if known."""
        waiting = None
        if stats is not None:
            waiting = set() if stats.pending == 0 else busy_keys(stats)
        sealed = Sealed(seq, size, waiting, lost_open)
        self.sealed.append(sealed)
        return sealed

    def observe_nowait(self, stats: RouterStats) -> list[Sealed]:
        """Take a later snapshot into account; answer the segments now proven ended."""
        if stats.pending == 0:
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
