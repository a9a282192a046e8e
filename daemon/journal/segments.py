"""The event journal's files on disk: numbered segments of bounded size.

A journal configured as ``var/journal.jsonl`` lives in ``var/journal.jsonl.00000001``,
``….00000002`` and so on, one JSON event per line, oldest first. Only the newest
segment is written to; a full one is closed and a later one opened, so an old
segment can be deleted whole once nothing in it is needed. Numbers only grow, also
across restarts, so file order is append order.

Each segment begins with a header line (``{"switchyard_journal":1,"segment":N}``)
that marks it as the journal's own: at start a journal whose path names files
without it (another program's ``app.log``, ``app.log.1``, the dead-letter file)
refuses to start rather than read them as torn lines and delete them. Each group
write begins with a stamp line (``{"t":<unix ns>}``): the replay applies the
ingress's duplicate-id window by these times.

Everything here blocks (file I/O): callers run it in a worker thread, except at
start, before the daemon takes traffic.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from pathlib import Path

import msgspec

from events.errors import ConfigError
from events.model import Event

_event_decoder = msgspec.json.Decoder(Event)
_stamp_decoder = msgspec.json.Decoder(dict[str, int])
HEADER_PREFIX = b'{"switchyard_journal":'
STAMP_PREFIX = b'{"t":'


class ForeignJournalFiles(ConfigError):
    """Raised at start when the journal's path names files the journal did not write."""


def header(seq: int) -> bytes:
    """The first line of segment ``seq``."""
    return HEADER_PREFIX + b'1,"segment":' + str(seq).encode() + b"}\n"


def stamp_line(now_ns: int | None = None) -> bytes:
    """The line that opens a group write: when its events were accepted (wall clock)."""
    return STAMP_PREFIX + str(time.time_ns() if now_ns is None else now_ns).encode() + b"}\n"


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


def journal_files(base: Path) -> list[Path]:
    """Every file holding events of the journal ``base``, in append order."""
    return [path for _, path in list_segments(base)]


def _is_own(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(len(HEADER_PREFIX)) == HEADER_PREFIX


def check_own(base: Path) -> None:
    """Raise ForeignJournalFiles naming the first file at ``base`` the journal did not write.

    The journal never writes ``base`` itself, only ``base.<digits>`` segments that
    begin with its header; anything else there belongs to someone else.
    """
    where = f"[journal] path {str(base)!r}"
    if base.exists():
        raise ForeignJournalFiles(
            f"{where}: {base} exists and is not a journal segment; the journal only writes"
            f" {base.name}.<number> files: choose another path (nothing was read or deleted)"
        )
    for _, path in list_segments(base):
        try:
            own = path.is_file() and _is_own(path)
        except OSError as exc:
            raise ForeignJournalFiles(f"{where}: cannot read {path}: {exc}") from None
        if not own:
            raise ForeignJournalFiles(
                f"{where}: {path} was not written by the journal (no journal header):"
                " refusing to replay or delete it; choose another path or move the file"
            )


def read_stamped(
    paths: Iterable[Path], window_s: float | None = None
) -> tuple[list[tuple[Event, int]], int, int]:
    """Events of ``paths`` in order with their acceptance stamps (unix ns); also the
    duplicates skipped and the torn lines.

    A duplicate is the same acceptance written twice: the same id under the same
    stamp, which happens when a replay re-journaled an event (keeping its stamp) and
    the daemon stopped before the old files were deleted. Two lines of one id with
    different stamps are two acceptances, and both are replayed: the ingress journals
    only ids it routed, so every such line was answered "accepted". Deduplicating by
    the window here instead would compare write stamps, which trail acceptance by a
    write's queueing, and could drop an event accepted just past the window.
    ``window_s`` is kept for callers; None and a number give the same rule.
    """
    events: list[tuple[Event, int]] = []
    seen: dict[str, int] = {}
    del window_s  # see the docstring: the same acceptance is recognised by its stamp
    duplicates = torn = 0
    for path in paths:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            continue
        stamp = 0
        for line in data.splitlines():
            if not line.strip() or line.startswith(HEADER_PREFIX):
                continue
            try:
                if line.startswith(STAMP_PREFIX):
                    stamp = _stamp_decoder.decode(line)["t"]
                    continue
                event = _event_decoder.decode(line)
            except (msgspec.DecodeError, KeyError):
                torn += 1  # a write cut short (crash, full disk): it was never acknowledged
                continue
            before = seen.get(event.id)
            if before is not None and before == stamp:
                duplicates += 1
                continue
            seen[event.id] = stamp
            events.append((event, stamp))
    return events, duplicates, torn


def read_files(
    paths: Iterable[Path], window_s: float | None = None
) -> tuple[list[Event], int, int]:
    """Like :func:`read_stamped`, without the stamps."""
    stamped, duplicates, torn = read_stamped(paths, window_s)
    return [event for event, _ in stamped], duplicates, torn


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
        # The header is written under a temporary name and the file renamed into
        # place: a segment name never holds a file without the header.
        tmp = self.path.with_name(f".{self.path.name}.new")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
        try:
            _write_all(fd, header(seq))
            os.fsync(fd)
            os.rename(tmp, self.path)
        except BaseException:
            os.close(fd)
            raise
        # Unbuffered: after a failed write nothing may linger in a buffer to be
        # flushed later behind the torn line.
        self._fd = fd
        _fsync_dir(self.path.parent)
        self.size = os.fstat(self._fd).st_size

    def append(self, data: bytes) -> None:
        """Write all of ``data`` and fsync it; raise OSError if either fails."""
        _write_all(self._fd, data)
        os.fsync(self._fd)
        self.size += len(data)

    def truncate(self) -> None:
        """Empty the segment but its header (every event in it has ended)."""
        first = header(self.seq)
        os.ftruncate(self._fd, len(first))
        os.fsync(self._fd)
        self.size = len(first)

    def close(self) -> None:
        os.close(self._fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


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
