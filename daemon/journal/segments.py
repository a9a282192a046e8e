"""The event journal's files on disk: numbered segments of bounded size.

A journal configured as ``var/journal.jsonl`` lives in ``var/journal.jsonl.00000001``,
``….00000002`` and so on, one JSON event per line, oldest first. Only the newest
segment is written to; a full one is closed and a later one opened, so an old
segment can be deleted whole once nothing in it is needed. Numbers only grow, also
across restarts, so file order is append order.

Files from before segments (``var/journal.jsonl`` itself and its ``.replay`` copy
moved aside during a replay) are older than every segment and are read first.

Everything here blocks (file I/O): callers run it in a worker thread, except at
start, before the daemon takes traffic.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import msgspec

from events.model import Event

_event_decoder = msgspec.json.Decoder(Event)


def segment_path(base: Path, seq: int) -> Path:
    """The file of segment ``seq`` of the journal named ``base``."""
    return base.with_name(f"{base.name}.{seq:08d}")


def list_segments(base: Path) -> list[tuple[int, Path]]:
    """(number, file) of every segment of ``base`` on disk, oldest first."""
    prefix = base.name + "."
    found: list[tuple[int, Path]] = []
    if not base.parent.is_dir():
        return found
    for entry in base.parent.iterdir():
        name = entry.name
        if name.startswith(prefix) and name[len(prefix) :].isdigit():
            found.append((int(name[len(prefix) :]), entry))
    found.sort()
    return found


def legacy_files(base: Path) -> list[Path]:
    """Single-file journals left by a version without segments, oldest first."""
    moved_aside = base.with_suffix(base.suffix + ".replay")
    return [p for p in (moved_aside, base) if p.is_file()]


def journal_files(base: Path) -> list[Path]:
    """Every file holding events of the journal ``base``, in append order."""
    return legacy_files(base) + [path for _, path in list_segments(base)]


def read_files(paths: Iterable[Path]) -> tuple[list[Event], int, int]:
    """Events of ``paths`` in order, each id's first occurrence; also duplicates and torn lines."""
    events: list[Event] = []
    seen: set[str] = set()
    duplicates = torn = 0
    for path in paths:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            continue
        for line in data.splitlines():
            if not line.strip():
                continue
            try:
                event = _event_decoder.decode(line)
            except msgspec.DecodeError:
                torn += 1  # a write cut short (crash, full disk): it was never acknowledged
                continue
            if event.id in seen:
                duplicates += 1
                continue
            seen.add(event.id)
            events.append(event)
    return events, duplicates, torn


def disk_bytes(paths: Iterable[Path]) -> int:
    """Total size of those of ``paths`` that exist."""
    total = 0
    for path in paths:
        try:
            total += path.stat().st_size
        except FileNotFoundError:
            continue
    return total


def _fsync_dir(directory: Path) -> None:
    # A new file's name is durable only once its directory is synced; without this
    # a crash could keep the fsynced data but lose the file that holds it.
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class SegmentFile:
    """The segment being written: an open file descriptor, its number and its size."""

    def __init__(self, base: Path, seq: int) -> None:
        self.seq = seq
        self.path = segment_path(base, seq)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Unbuffered: after a failed write nothing may linger in a buffer to be
        # flushed later behind the torn line.
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        _fsync_dir(self.path.parent)
        self.size = os.fstat(self._fd).st_size

    def append(self, data: bytes) -> None:
        """Write all of ``data`` and fsync it; raise OSError if either fails."""
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]
        os.fsync(self._fd)
        self.size += len(data)

    def truncate(self) -> None:
        """Empty the segment (every event in it has ended)."""
        os.ftruncate(self._fd, 0)
        os.fsync(self._fd)
        self.size = 0

    def close(self) -> None:
        os.close(self._fd)


def delete_files(paths: Iterable[Path]) -> int:
    """Remove ``paths``; answer how many existed."""
    removed = 0
    for path in paths:
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        removed += 1
    return removed
