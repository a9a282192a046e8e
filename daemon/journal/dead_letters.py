"""The dead-letter journal: an append-only JSONL file of undelivered events.

It receives every dead letter of the router's bounded in-memory store, each once:
at shutdown, at event-journal checkpoints, and before the event journal deletes a
segment whose events ended dead-lettered. A dead letter evicted from the store
before it could be written is counted in ``lost``.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import msgspec

from events.delivery import DeadLetterStore
from events.model import DeadLetter, Event


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
    """Writes a router's dead letters to an append-only JSONL file, each entry once."""

    def __init__(self, path: str | Path, store: DeadLetterStore | None) -> None:
        self.path = Path(path)
        self.store = store
        self.spilled = 0
        self.lost = 0  # evicted from the bounded store before we could spill them
        self._seen = 0  # entries ever added to the store that we have accounted for
        # Spills come from the server's checkpoints and from the event journal's
        # segment reclaim: one at a time, so "spill returned" means "on disk".
        self._lock = asyncio.Lock()

    def _new_nowait(self) -> tuple[list[DeadLetter], int, int]:
        """(dead letters added since the last commit, store total, how many were evicted unseen)."""
        store = self.store
        if store is None:
            return [], self._seen, 0
        total = len(store.entries) + store.evicted
        new = total - self._seen
        if new <= 0:
            return [], total, 0
        held = len(store.entries)
        lost = max(0, new - held)
        new -= lost
        return list(store.entries)[held - new :], total, lost

    async def spill(self) -> dict[str, int]:
        """Append every new dead letter; return the counts spilled by reason.

        Nothing is counted as taken unless the write succeeded: after an OSError
        the same entries are offered again by the next spill.
        """
        async with self._lock:
            entries, total, lost = self._new_nowait()
            counts: dict[str, int] = {}
            if entries:
                now = time.time_ns()
                lines = bytearray()
                for dl in entries:
                    counts[dl.reason] = counts.get(dl.reason, 0) + 1
                    lines += _encoder.encode(
                        SpilledDeadLetter(
                            dl.event, dl.service, dl.reason, dl.attempts, dl.error, now
                        )
                    )
                    lines += b"\n"
                await asyncio.to_thread(_append_fsync, self.path, bytes(lines))
            self._seen = total
            self.lost += lost
            self.spilled += len(entries)
            return counts
