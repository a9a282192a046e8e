"""Append-only JSONL journals: the dead-letter spill file and the optional event journal.

The dead-letter journal receives, at shutdown (and at event-journal checkpoints),
every dead letter of the router's store not yet written, so undelivered events
outlive the process. The event journal, when enabled, makes acceptance durable:
the ingress answers 202 only once the accepted events are written and fsynced.
Writes are grouped: one writer task takes everything appended since its last
write, writes and fsyncs it in a worker thread (off the event loop), then
resolves the waiting requests. A checkpoint, taken when the router has nothing
pending, truncates the event journal, after spilling new dead letters. At start
the journal is replayed, deduplicated by event id (at-least-once delivery).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterable
from pathlib import Path

import msgspec

from events.delivery import DeadLetterStore
from events.model import REJECT_OVERLOADED, DeadLetter, Event
from events.router import Router


class SpilledDeadLetter(msgspec.Struct, frozen=True):
    """One line of the dead-letter journal."""

    event: Event
    service: str
    reason: str
    attempts: int
    error: str
    spilled_at_ns: int


_encoder = msgspec.json.Encoder()
_event_decoder = msgspec.json.Decoder(Event)
_spill_decoder = msgspec.json.Decoder(SpilledDeadLetter)


def _append_fsync(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("ab") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def read_dead_letters(path: str | Path) -> list[SpilledDeadLetter]:
    """Every entry of a dead-letter journal (an absent file holds none)."""
    p = Path(path)
    if not p.exists():
        return []
    return [_spill_decoder.decode(line) for line in p.read_bytes().splitlines() if line.strip()]


class DeadLetterJournal:
    """Writes a router's dead letters to an append-only JSONL file, each entry once."""

    def __init__(self, path: str | Path, store: DeadLetterStore | None) -> None:
        self.path = Path(path)
        self.store = store
        self.spilled = 0
        self.lost = 0  # evicted from the bounded store before we could spill them
        self._seen = 0  # entries ever added to the store that we have accounted for

    def take_new_nowait(self) -> list[DeadLetter]:
        """Dead letters added to the store since the last call."""
        store = self.store
        if store is None:
            return []
        total = len(store.entries) + store.evicted
        new = total - self._seen
        if new <= 0:
            return []
        held = len(store.entries)
        if new > held:
            self.lost += new - held
            new = held
        self._seen = total
        return list(store.entries)[held - new :]

    async def spill(self) -> dict[str, int]:
        """Append every new dead letter; return the counts spilled by reason."""
        entries = self.take_new_nowait()
        counts: dict[str, int] = {}
        if not entries:
            return counts
        now = time.time_ns()
        lines = bytearray()
        for dl in entries:
            counts[dl.reason] = counts.get(dl.reason, 0) + 1
            lines += _encoder.encode(
                SpilledDeadLetter(dl.event, dl.service, dl.reason, dl.attempts, dl.error, now)
            )
            lines += b"\n"
        await asyncio.to_thread(_append_fsync, self.path, bytes(lines))
        self.spilled += len(entries)
        return counts


def read_journal(path: Path) -> tuple[list[Event], int, int]:
    """Events of a journal, first occurrence of each id kept; also duplicates and torn lines."""
    events: list[Event] = []
    seen: set[str] = set()
    duplicates = torn = 0
    if not path.exists():
        return events, duplicates, torn
    for line in path.read_bytes().splitlines():
        if not line.strip():
            continue
        try:
            event = _event_decoder.decode(line)
        except msgspec.DecodeError:
            torn += 1  # a write cut short by a crash: it was never acknowledged
            continue
        if event.id in seen:
            duplicates += 1
            continue
        seen.add(event.id)
        events.append(event)
    return events, duplicates, torn


class EventJournal:
    """Group-committed, fsynced append-only log of accepted events."""

    def __init__(self, path: str | Path, fsync_interval_s: float = 0.005) -> None:
        self.path = Path(path)
        self.replay_path = self.path.with_suffix(self.path.suffix + ".replay")
        self.fsync_interval_s = fsync_interval_s
        self.appended = 0
        self.fsyncs = 0
        self.checkpoints = 0
        self._buffer = bytearray()
        self._waiters: list[asyncio.Future[None]] = []
        self._wake = asyncio.Event()
        self._checkpoint_requested = False
        self._checkpoint_cut = -1
        self._closed = False
        self._task: asyncio.Task[None] | None = None

    def take_replay(self) -> tuple[list[Event], int, int]:
        """Move the journal aside and return its events (deduplicated) to publish again.

        The file moved aside is removed by :meth:`replay_done` once the replayed
        events are journaled anew, so a crash during replay loses nothing.
        """
        if self.path.exists() and not self.replay_path.exists():
            self.path.rename(self.replay_path)
        elif self.path.exists():
            # A previous replay crashed: both files hold unacknowledged work.
            with self.replay_path.open("ab") as out:
                out.write(self.path.read_bytes())
            self.path.unlink()
        return read_journal(self.replay_path)

    def replay_done(self) -> None:
        self.replay_path.unlink(missing_ok=True)

    def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._task = asyncio.create_task(self._writer(), name="event-journal")

    def append_nowait(self, events: Iterable[Event]) -> asyncio.Future[None]:
        """Buffer ``events``; the future resolves once they are on disk."""
        buf = self._buffer
        n = 0
        for event in events:
            buf += _encoder.encode(event)
            buf += b"\n"
            n += 1
        self.appended += n
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        self._wake.set()
        return fut

    def request_checkpoint_nowait(self, cut: int) -> None:
        """Ask the writer to truncate the journal if nothing was appended since ``cut``.

        ``cut`` is :attr:`appended` read at a moment when every journaled event
        had ended (router pending == 0); any later append cancels the checkpoint.
        """
        if self.appended == cut:
            self._checkpoint_cut = cut
            self._checkpoint_requested = True
            self._wake.set()

    async def _writer(self) -> None:
        while not self._closed or self._buffer or self._checkpoint_requested:
            if not self._buffer and not self._checkpoint_requested:
                self._wake.clear()
                if self._closed:
                    break
                await self._wake.wait()
                continue
            if self._buffer:
                data, waiters = bytes(self._buffer), self._waiters
                self._buffer, self._waiters = bytearray(), []
                self._checkpoint_requested = False
                try:
                    await asyncio.to_thread(_append_fsync, self.path, data)
                except OSError as exc:
                    for fut in waiters:
                        if not fut.done():
                            fut.set_exception(exc)
                    continue
                self.fsyncs += 1
                for fut in waiters:
                    if not fut.done():
                        fut.set_result(None)
                # Let appends accumulate so the next write groups them.
                await asyncio.sleep(self.fsync_interval_s)
            elif self._checkpoint_requested:
                self._checkpoint_requested = False
                if self.appended == self._checkpoint_cut:
                    await asyncio.to_thread(self._truncate)
                    self.checkpoints += 1

    def _truncate(self) -> None:
        with self.path.open("ab") as fh:
            fh.truncate(0)
            os.fsync(fh.fileno())

    async def close(self) -> None:
        """Write what is buffered and stop the writer."""
        self._closed = True
        self._wake.set()
        if self._task is not None:
            await self._task


class ReplayResult(msgspec.Struct, frozen=True):
    """What replaying a journal at start did."""

    events: int
    duplicates: int
    torn: int
    published: int
    refused: int


async def replay(journal: EventJournal, router: Router, retry_s: float) -> ReplayResult:
    """Publish the journal's events again (each id once) and journal them anew.

    Replay is not open loop: an event refused as overloaded is retried for up to
    ``retry_s`` while mailboxes empty. If any is refused for good, the moved-aside
    file is kept, so a later start replays it again (at-least-once).
    """
    events, duplicates, torn = journal.take_replay()
    waits: list[asyncio.Future[None]] = []
    refused = 0
    for event in events:
        ack = router.publish(event)
        deadline = time.monotonic() + retry_s
        while not ack.ok and ack.reason == REJECT_OVERLOADED and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
            ack = router.publish(event)
        if ack.ok:
            waits.append(journal.append_nowait([event]))
        else:
            refused += 1
    await asyncio.gather(*waits)
    if not refused:
        journal.replay_done()
    return ReplayResult(len(events), duplicates, torn, len(events) - refused, refused)
