"""The optional event journal: acceptance made durable, replayed after a crash.

When enabled, the ingress answers 202 only once the accepted events are written
and fsynced. Writes are grouped: one writer task takes everything appended since
its last write, writes and fsyncs it in a worker thread (off the event loop), then
resolves the waiting requests.

The journal is a series of segment files of bounded size (``journal_segments``).
A full segment is closed and a new one begun; a closed segment is deleted once
every delivery of its events has provably ended and the dead letters among them
are in the dead-letter journal (``daemon.journal.reclaim`` says how that is proven:
per subscription from the central router's marks, else from its counters). So under
sustained load, even with a subscriber backlogged, the disk holds the segments
still needed, not everything since the last quiet moment. A checkpoint, taken by the
server when the router has nothing pending, empties the journal at once.

At start every segment left on disk is replayed in order (a line written twice by an
interrupted replay, same id and stamp, once) and journaled anew with its stamp; the old files are
deleted only after that (at-least-once). Files at the path that the journal did
not write (no header) make the start fail instead (``ForeignJournalFiles``).

A failed write is logged and counted (``errors``); ``failing`` stays true until a
write succeeds, and the daemon reports itself not ready meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from pathlib import Path

import msgspec
import structlog

from daemon.journal.dead_letters import DeadLetterJournal, SpilledDeadLetter, read_dead_letters
from daemon.journal.reclaim import LowWater, Marking
from daemon.journal.replay import ReplayResult, replay
from daemon.journal.segments import (
    ForeignJournalFiles,
    SegmentFile,
    check_own,
    delete_files,
    disk_bytes,
    journal_files,
    list_segments,
    read_files,
    read_stamped,
    segment_path,
    stamp_line,
)
from events.model import Event
from events.router import Router

__all__ = [
    "DEFAULT_SEGMENT_BYTES",
    "DeadLetterJournal",
    "EventJournal",
    "ForeignJournalFiles",
    "ReplayResult",
    "SpilledDeadLetter",
    "read_dead_letters",
    "read_journal",
    "replay",
]

#: Bytes after which a segment is closed (it may exceed this by one group write).
DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024

_encoder = msgspec.json.Encoder()
log = structlog.get_logger("daemon.journal", component="daemon.journal")


def read_journal(path: str | Path) -> tuple[list[Event], int, int]:
    """Events of the journal configured as ``path`` (every segment, in order), each id once.

    Also answers how many duplicate ids and torn lines were skipped.
    """
    return read_files(journal_files(Path(path)))


class EventJournal:
    """Group-committed, fsynced, segmented append-only log of accepted events.

    With ``router`` and ``dead_letters`` given, a background task deletes closed
    segments whose events have all ended; without them only checkpoints free space.
    """

    def __init__(
        self,
        path: str | Path,
        fsync_interval_s: float = 0.005,
        *,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
        router: Router | None = None,
        dead_letters: DeadLetterJournal | None = None,
        reclaim_interval_s: float = 0.05,
        probe_interval_s: float = 1.0,
    ) -> None:
        if segment_bytes < 1:
            raise ValueError(f"segment_bytes must be >= 1, got {segment_bytes}")
        if (router is None) != (dead_letters is None):
            raise ValueError("deleting ended segments needs both the router and the dead letters")
        self.path = Path(path)
        self.fsync_interval_s = fsync_interval_s
        self.segment_bytes = segment_bytes
        self.reclaim_interval_s = reclaim_interval_s
        self.probe_interval_s = probe_interval_s
        self.router = router
        self.dead_letters = dead_letters
        self.appended = 0
        self.fsyncs = 0
        self.checkpoints = 0
        self.segments_closed = 0
        self.segments_deleted = 0
        #: Closed segments left on disk because a dead letter of their span was lost.
        self.segments_kept = 0
        self.errors = 0
        self.last_error = ""
        self.low_water = LowWater()
        self._active: SegmentFile | None = None
        self._active_lost_open = 0
        self._take_lost = 0
        self._inherited: list[Path] | None = None
        self._next_seq = 1
        self._first_own = 1  # segments numbered below were written by a previous run
        self._buffer = bytearray()
        self._waiters: list[asyncio.Future[None]] = []
        self._wake = asyncio.Event()
        self._checkpoint_requested = False
        self._checkpoint_cut = -1
        self._closed = False
        self._reclaiming = False
        self._task: asyncio.Task[None] | None = None
        self._reclaim_task: asyncio.Task[None] | None = None

    # -- files found at start ----------------------------------------------------------

    @property
    def failing(self) -> bool:
        """True from a failed write until the next one succeeds."""
        return bool(self.last_error)

    def _scan_nowait(self) -> list[Path]:
        """The files a previous run left (read once, before this run writes any).

        Raise ForeignJournalFiles when the path names a file the journal did not write.
        """
        if self._inherited is None:
            check_own(self.path)
            segments = list_segments(self.path)
            self._inherited = [p for _, p in segments]
            self._next_seq = self._first_own = segments[-1][0] + 1 if segments else 1
        return self._inherited

    def check_files(self) -> None:
        """Raise ForeignJournalFiles now if the journal's path holds files not its own."""
        self._scan_nowait()

    def take_replay(
        self, window_s: float | None = None
    ) -> tuple[list[tuple[Event, int]], int, int]:
        """Events a previous run left with their acceptance stamps (unix ns), to publish again.

        The same acceptance written twice (an interrupted replay) is taken once; two
        acceptances of one id are both taken (see ``read_stamped``). Their files are
        removed by :meth:`replay_done` once the replayed events are journaled anew (into
        new segments), so a crash during replay loses nothing.
        """
        return read_stamped(self._scan_nowait(), window_s)

    def replay_done(self) -> None:
        delete_files(self._scan_nowait())
        self._inherited = []

    def files(self) -> list[Path]:
        """Every file of this journal on disk, oldest first."""
        return journal_files(self.path)

    def disk_bytes(self) -> int:
        """What the journal occupies on disk now (all its files)."""
        return disk_bytes(self.files())

    # -- writing -----------------------------------------------------------------------

    def start(self) -> None:
        self._scan_nowait()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._take_lost = self._lost_now()
        self._task = asyncio.create_task(self._writer(), name="event-journal")
        if self.router is not None:
            self._reclaim_task = asyncio.create_task(self._reclaimer(), name="journal-reclaim")

    def _lost_now(self) -> int:
        return self.dead_letters.lost if self.dead_letters is not None else 0

    def append_nowait(
        self, events: Iterable[Event], stamp_ns: int | None = None
    ) -> asyncio.Future[None]:
        """Buffer ``events``; the future resolves once they are on disk.

        ``stamp_ns`` (replay) keeps the acceptance stamp the events had in the files
        they are replayed from, so a later replay recognises them as the same
        acceptance; the lines after them get a fresh stamp again.

        With no events it is a barrier: it resolves once every write begun before it
        has ended, and fails if the last one failed.

        Call it in the same loop step as the router's ``publish`` of the events:
        segment reclaim relies on an event being published before it is written.
        """
        buf = self._buffer
        if stamp_ns is not None:
            buf += stamp_line(stamp_ns)
        n = 0
        for event in events:
            buf += _encoder.encode(event)
            buf += b"\n"
            n += 1
        if stamp_ns is not None:
            buf += stamp_line()
        self.appended += n
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        self._wake.set()
        return fut

    def request_checkpoint_nowait(self, cut: int) -> None:
        """Ask the writer to empty the journal if nothing was appended since ``cut``.

        ``cut`` is :attr:`appended` read at a moment when every journaled event
        had ended (router pending == 0); any later append cancels the checkpoint.
        Files left by a previous run are not touched (:meth:`replay_done` owns them).
        """
        if self.appended == cut:
            self._checkpoint_cut = cut
            self._checkpoint_requested = True
            self._wake.set()

    def _release_barriers_nowait(self) -> None:
        """Answer appends of no events: the writes before them are done (or failed)."""
        waiters, self._waiters = self._waiters, []
        for fut in waiters:
            if fut.done():
                continue
            if self.last_error:
                fut.set_exception(OSError(f"the journal is failing: {self.last_error}"))
            else:
                fut.set_result(None)

    async def _writer(self) -> None:
        while not self._closed or self._buffer or self._waiters or self._checkpoint_requested:
            if not self._buffer and self._waiters:
                self._release_barriers_nowait()
                continue
            if not self._buffer and not self._checkpoint_requested:
                self._wake.clear()
                if self._closed:
                    break
                if not self.last_error:
                    await self._wake.wait()
                    continue
                # Failing: probe with a stamp-only write now and then, so the journal
                # (and readiness) recovers once the disk does, even with no traffic.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.probe_interval_s)
                if not self._wake.is_set() and not self._closed:
                    await self._write_buffer()
                continue
            if self._buffer:
                if await self._write_buffer():
                    # Let appends accumulate so the next write groups them.
                    await asyncio.sleep(self.fsync_interval_s)
            elif self._checkpoint_requested:
                self._checkpoint_requested = False
                if self.appended == self._checkpoint_cut:
                    await self._checkpoint()
                    self.checkpoints += 1

    async def _write_buffer(self) -> bool:
        data, waiters = bytes(self._buffer), self._waiters
        self._buffer, self._waiters = bytearray(), []
        self._checkpoint_requested = False
        # Everything in ``data`` was published after the previous take, so a dead
        # letter of it can only be lost after the count read then.
        lost_open, self._take_lost = self._take_lost, self._lost_now()
        try:
            active = self._active
            if active is None:
                active = await asyncio.to_thread(SegmentFile, self.path, self._next_seq)
                self._next_seq += 1
                self._active, self._active_lost_open = active, lost_open
            await asyncio.to_thread(active.append, stamp_line() + data)
        except OSError as exc:
            self.errors += 1
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.error(
                "journal write failed; its requests answered 503 journal_failed",
                path=str(self.path),
                error=self.last_error,
                requests=len(waiters),
                errors=self.errors,
            )
            for fut in waiters:
                if not fut.done():
                    fut.set_exception(exc)
            if self._active is not None:
                # The segment may end in a torn line: later writes start a clean one.
                await self._close_active()
            return False
        self.fsyncs += 1
        self.last_error = ""
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)
        if active.size >= self.segment_bytes:
            await self._close_active()
        return True

    async def _close_active(self) -> None:
        active = self._active
        if active is None:
            return
        self._active = None
        # The snapshot is taken after the segment's last write: its events are published.
        router = self.router
        mark = router.progress_mark_nowait() if isinstance(router, Marking) else None
        stats = router.stats() if router is not None and mark is None else None
        self.low_water.seal_nowait(active.seq, active.size, stats, self._active_lost_open, mark)
        self.segments_closed += 1
        await asyncio.to_thread(active.close)

    async def _checkpoint(self) -> None:
        self.low_water.clear_nowait()
        active, first_own = self._active, self._first_own

        def empty() -> None:
            delete_files(
                path
                for seq, path in list_segments(self.path)
                if seq >= first_own and (active is None or seq != active.seq)
            )
            if active is not None:
                active.truncate()

        await asyncio.to_thread(empty)

    # -- reclaiming closed segments ------------------------------------------------------

    async def _reclaimer(self) -> None:
        while not self._closed:
            await asyncio.sleep(self.reclaim_interval_s)
            if self._closed:
                break
            await self.reclaim()

    async def reclaim(self) -> int:
        """Observe the router once; delete the closed segments proven ended; answer how many."""
        router, dead_letters = self.router, self.dead_letters
        if router is None or dead_letters is None or not self.low_water.sealed:
            return 0
        # A marking router needs no snapshot (building one walks every subscription).
        unmarked = any(s.mark is None and not s.proven for s in self.low_water.sealed)
        proven = self.low_water.observe_nowait(router.stats() if unmarked else None)
        if not proven:
            return 0
        self._reclaiming = True
        try:
            try:
                await dead_letters.spill()
            except OSError:
                return 0  # their dead letters are not on disk yet: try again later
            doomed, kept = self.low_water.release_nowait(proven, dead_letters.lost)
            self.segments_kept += kept
            paths = [segment_path(self.path, seq) for seq in doomed]
            self.segments_deleted += await asyncio.to_thread(delete_files, paths)
            return len(doomed)
        finally:
            self._reclaiming = False

    async def close(self) -> None:
        """Write what is buffered and stop the writer and the reclaimer."""
        self._closed = True
        self._wake.set()
        task = self._reclaim_task
        if task is not None:
            if not self._reclaiming:
                task.cancel()  # asleep: nothing half done
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._task is not None:
            await self._task
        if self._active is not None:
            active, self._active = self._active, None
            await asyncio.to_thread(active.close)
