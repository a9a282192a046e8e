"""The dead-letter file: an append-only JSONL file of undelivered events.

Every dead letter is handed over as it happens (the router's store calls
:meth:`DeadLetterJournal.offer_nowait`, its ``sink``), encoded into a buffer, and
written and fsynced by one writer task in a worker thread, batched: the hot path
only encodes. The router's in-memory store is then just a bounded view of recent
ones; eviction from it loses nothing.

A failed write is logged and counted, the data stays buffered and is retried
(``failing`` is true until a write succeeds), so a full disk delays dead letters
but never drops them quietly. Only what is still unwritten when the daemon exits
is ``lost``, and the daemon says so (exit code 3).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from pathlib import Path

import msgspec
import structlog

from events.delivery import DeadLetterStore
from events.model import DeadLetter, Event

log = structlog.get_logger("daemon.journal", component="daemon.journal")


class SpilledDeadLetter(msgspec.Struct, frozen=True):
    """One line of the dead-letter journal."""

    event: Event
    service: str
    reason: str
    attempts: int
    error: str
    spilled_at_ns: int


_encoder = msgspec.json.Encoder()
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
    """Writes a router's dead letters to an append-only JSONL file, each entry once.

    ``flush_interval_s`` is how long the writer lets entries gather before a write;
    ``retry_s`` how long it waits after a failed write before trying again.
    """

    def __init__(
        self,
        path: str | Path,
        store: DeadLetterStore | None,
        *,
        flush_interval_s: float = 0.01,
        retry_s: float = 0.5,
    ) -> None:
        self.path = Path(path)
        self.store = store
        self.flush_interval_s = flush_interval_s
        self.retry_s = retry_s
        self.offered = 0
        self.spilled = 0
        self.by_reason: dict[str, int] = {}
        self.errors = 0
        self.last_error = ""
        self.lost = 0  # still unwritten when the journal was closed
        self._buffer = bytearray()
        self._reasons: dict[str, int] = {}
        self._buffered = 0
        # One write at a time, so "spill returned" means "everything offered before is on disk".
        self._lock = asyncio.Lock()
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._writing = False
        if store is not None:
            store.sink = self.offer_nowait

    @property
    def failing(self) -> bool:
        """True from a failed write until the next one succeeds."""
        return bool(self.last_error)

    @property
    def buffered(self) -> int:
        """Dead letters offered and not yet on disk."""
        return self._buffered

    def offer_nowait(self, dl: DeadLetter) -> None:
        """Buffer one dead letter for the writer (called by the store as it is added)."""
        self._buffer += _encoder.encode(
            SpilledDeadLetter(
                dl.event, dl.service, dl.reason, dl.attempts, dl.error, time.time_ns()
            )
        )
        self._buffer += b"\n"
        self._reasons[dl.reason] = self._reasons.get(dl.reason, 0) + 1
        self._buffered += 1
        self.offered += 1
        if self._wake is not None:
            self._wake.set()

    def start(self) -> None:
        """Start the writer task (without it, only :meth:`spill` writes)."""
        self._wake = asyncio.Event()
        if self._buffered:
            self._wake.set()
        self._task = asyncio.create_task(self._writer(), name="dead-letter-writer")

    async def spill(self) -> dict[str, int]:
        """Write everything offered so far; answer the counts written by this call, by reason.

        Raise OSError when the write fails: the entries stay buffered for the next try.
        """
        async with self._lock:
            if not self._buffered:
                return {}
            data, reasons, n = bytes(self._buffer), self._reasons, self._buffered
            self._buffer, self._reasons, self._buffered = bytearray(), {}, 0
            try:
                await asyncio.to_thread(_append_fsync, self.path, data)
            except OSError as exc:
                # Put them back in front of what arrived meanwhile: order is kept.
                self._buffer = bytearray(data) + self._buffer
                for reason, k in reasons.items():
                    self._reasons[reason] = self._reasons.get(reason, 0) + k
                self._buffered += n
                self.errors += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.error(
                    "dead-letter file write failed; kept in memory, will retry",
                    path=str(self.path),
                    error=self.last_error,
                    buffered=self._buffered,
                    errors=self.errors,
                )
                raise
            self.last_error = ""
            self.spilled += n
            for reason, k in reasons.items():
                self.by_reason[reason] = self.by_reason.get(reason, 0) + k
            return reasons

    async def _writer(self) -> None:
        wake = self._wake
        assert wake is not None
        while not self._closed:
            await wake.wait()
            wake.clear()
            # Let dead letters gather: a storm of them becomes a few writes.
            await asyncio.sleep(self.flush_interval_s)
            self._writing = True
            try:
                await self.spill()
            except OSError:
                self._writing = False
                await asyncio.sleep(self.retry_s)
                wake.set()
            finally:
                self._writing = False

    async def close(self, attempts: int = 3) -> int:
        """Stop the writer, write what is left (``attempts`` tries); answer how many are lost."""
        self._closed = True
        task = self._task
        if task is not None:
            if self._wake is not None:
                self._wake.set()
            if not self._writing:
                task.cancel()  # waiting or sleeping: nothing half done
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for attempt in range(attempts):
            try:
                await self.spill()
                break
            except OSError:
                if attempt + 1 < attempts:
                    await asyncio.sleep(self.retry_s)
        self.lost = self._buffered
        return self.lost
