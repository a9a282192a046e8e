"""The recording's files on disk: write, hash, finish the header, rotate (blocking I/O).

:class:`TraceFiles` carries out the pieces :class:`daemon.server.record.Cutter` makes,
in a thread of the recorder's: it writes a hidden ``.recording`` file with a
placeholder header and, on a cut or a stop, rewrites the header, then rotates the file
into place as ``path`` (the newest finished file), ``path.1``, … ``path.{files-1}``,
deleting what falls off the end. Every finished file is a complete
``switchyard.trace/1`` trace on its own.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from pathlib import Path
from typing import BinaryIO

import msgspec

from daemon.server.record import TOOL, Close, Lines, Open, Piece, placeholder_size
from events.traces import FORMAT, TraceHasher, TraceHeader


class TraceFiles:
    """The recording's files on disk; every method does blocking I/O (call it in a thread)."""

    def __init__(self, path: str | Path, *, files: int, payloads: bool, source: str) -> None:
        self.path = Path(path)
        self.files = files
        self.payloads = payloads
        self.source = source
        self.name = self.path.name.split(".", 1)[0] or "recording"
        self.partial = self.path.with_name(f".{self.path.name}.recording")
        self.reserved = placeholder_size(payloads)
        self.bytes_written = 0
        self.rotations = 0
        self._fh: BinaryIO | None = None
        self._hasher = TraceHasher()
        self._start = ""

    def stale_partial(self) -> bool:
        """Whether an unfinished file of an earlier process is in the way."""
        return self.partial.exists() and self._fh is None

    def apply(self, pieces: list[Piece]) -> list[TraceHeader]:
        """Carry out ``pieces`` in order; answer the headers of the files finished."""
        finished = []
        run: list[bytes] = []  # consecutive lines: one write and one hash update
        for piece in pieces:
            if isinstance(piece, Lines):
                run.append(piece.data)
                continue
            self._write(b"".join(run))
            run = []
            if isinstance(piece, Open):
                self._open(piece.start)
            else:
                finished.append(self._finish(piece))
        self._write(b"".join(run))
        return finished

    def _open(self, start: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = self.partial.open("wb")
        self._fh.write(b" " * self.reserved + b"\n")
        self.bytes_written += self.reserved + 1
        self._hasher = TraceHasher()
        self._start = start

    def _write(self, data: bytes) -> None:
        if self._fh is None or not data:
            return
        self._hasher.update_block(data)
        self._fh.write(data)
        self.bytes_written += len(data)

    def _finish(self, close: Close) -> TraceHeader:
        fh, self._fh = self._fh, None
        if fh is None:
            raise RuntimeError("a recording file was closed before it was opened")
        header = TraceHeader(
            format=FORMAT,
            name=self.name,
            created=_utc_now(),
            tool=TOOL,
            events=close.events,
            duration_ns=close.duration_ns,
            hash=self._hasher.finish(close.events, close.duration_ns, ()),
            source=self.source,
            start=self._start,
            payloads=self.payloads,
        )
        line = msgspec.json.encode(header)
        with fh:
            fh.flush()
            fh.seek(0)
            fh.write(line + b" " * (self.reserved - len(line)))
        self._rotate()
        return header

    def rotated(self, index: int) -> Path:
        """The ``index``-th newest finished file (0: ``path`` itself)."""
        return self.path if index == 0 else self.path.with_name(f"{self.path.name}.{index}")

    def _rotate(self) -> None:
        # Oldest first, so each rename lands on a name already moved away (or dropped).
        self.rotated(self.files - 1).unlink(missing_ok=True)
        for index in range(self.files - 1, 0, -1):
            older = self.rotated(index - 1)
            if older.exists():
                os.replace(older, self.rotated(index))
        os.replace(self.partial, self.path)
        self.rotations += 1

    def abort(self) -> None:
        """Drop the unfinished file (after a write error, which may recur here: ignored)."""
        fh, self._fh = self._fh, None
        if fh is not None:
            with contextlib.suppress(OSError):
                fh.close()
        with contextlib.suppress(OSError):
            self.partial.unlink(missing_ok=True)

    def on_disk(self) -> list[str]:
        """The finished files present, newest first."""
        return [str(p) for p in map(self.rotated, range(self.files)) if p.exists()]


def _utc_now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
