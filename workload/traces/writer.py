"""Writing traces: a streaming writer (header rewritten in place on close) and ``write_trace``.

The writer fills a hidden ``.partial`` file beside the destination and renames
it only once the header is final, so a failed or interrupted write never leaves
a half trace under the destination's name. The header is written first as a
placeholder padded to the longest it can become, then overwritten on close
(JSON allows the trailing spaces), so events stream out without being held.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

import msgspec
import numpy as np

from events.errors import InvalidSubject
from events.model import PRIORITY_MAX, PRIORITY_MIN, Category
from events.subjects import validate_subject
from workload.errors import TraceFormatError
from workload.traces.format import (
    FORMAT,
    MAX_SIZE,
    PhaseMark,
    TraceEvent,
    TraceHasher,
    TraceHeader,
    utc_now,
)
from workload.traces.trace import ABSENT, CATEGORIES, Trace

_FLUSH_LINES = 4096
_MAX_INT = 2**63 - 1


class TraceWriter:
    """Streams events in ``t`` order into ``path``; :meth:`close` returns the final header."""

    def __init__(
        self,
        path: str | Path,
        *,
        name: str,
        tool: str,
        source: str = "",
        start: str = "",
        phases: tuple[PhaseMark, ...] = (),
        payloads: bool = False,
    ) -> None:
        self.path = Path(path)
        if self.path.suffix == ".gz":
            raise TraceFormatError(f"{self.path}: traces are written uncompressed (drop the .gz)")
        self._header = TraceHeader(
            format=FORMAT,
            name=name,
            created=utc_now(),
            tool=tool,
            events=_MAX_INT,
            duration_ns=_MAX_INT,
            hash="0" * 64,
            source=source,
            start=start,
            payloads=payloads,
            phases=phases,
        )
        self._reserved = len(msgspec.json.encode(self._header))
        self._partial = self.path.with_name(f".{self.path.name}.{os.getpid()}.partial")
        try:
            self._fh: BinaryIO | None = self._partial.open("wb")
            self._fh.write(b" " * self._reserved + b"\n")
        except OSError as exc:
            raise TraceFormatError(f"{self.path}: cannot write: {exc.strerror or exc}") from None
        self._encode = msgspec.json.Encoder().encode
        self._hasher = TraceHasher()
        self._pending: list[bytes] = []
        self._valid_subjects: set[str] = set()
        self.events = 0
        self.last_t = 0

    def write(self, event: TraceEvent) -> None:
        """Append one event; ``t`` must not go back, payloads must match the header."""
        where = f"{self.path}: event {self.events}"
        if event.t < self.last_t:
            raise TraceFormatError(f"{where}: t {event.t} is before the previous {self.last_t}")
        if (event.payload is not None) != self._header.payloads:
            if self._header.payloads:
                raise TraceFormatError(f"{where}: no payload, but the trace keeps payloads")
            raise TraceFormatError(f"{where}: a payload, but the trace keeps none")
        if event.payload is not None and len(event.payload) != event.size:
            raise TraceFormatError(
                f"{where}: size {event.size} but the payload has {len(event.payload)} bytes"
            )
        problem = _out_of_range(event)
        if problem:
            raise TraceFormatError(f"{where}: {problem}")
        if event.subject not in self._valid_subjects:
            try:
                validate_subject(event.subject)
            except InvalidSubject as exc:
                raise TraceFormatError(f"{where}: {exc}") from None
            self._valid_subjects.add(event.subject)
        self.last_t = event.t
        self.events += 1
        self._pending.append(self._encode(event))
        if len(self._pending) >= _FLUSH_LINES:
            self._flush()

    def write_valid(self, events: list[TraceEvent]) -> None:
        """Append events already known to be in order, with valid subjects and payloads."""
        if events:
            self.events += len(events)
            self.last_t = events[-1].t
            encode = self._encode
            self._pending += [encode(e) for e in events]
            self._flush()

    def _flush(self) -> None:
        if not self._pending or self._fh is None:
            return
        self._hasher.update_lines(self._pending)
        self._fh.write(b"\n".join(self._pending) + b"\n")
        self._pending.clear()

    def close(self, duration_ns: int | None = None) -> TraceHeader:
        """Finish the file; ``duration_ns`` defaults to the last ``t`` (at least 1 ns)."""
        if self._fh is None:
            raise TraceFormatError(f"{self.path}: writer already closed")
        duration = max(self.last_t, 1) if duration_ns is None else duration_ns
        try:
            if duration < max(self.last_t, 1):
                raise TraceFormatError(
                    f"{self.path}: duration_ns {duration} is before the last event ({self.last_t})"
                )
            phases = self._header.phases
            if phases and phases[-1].start_ns >= duration:
                last = phases[-1]
                raise TraceFormatError(
                    f"{self.path}: phase {last.name!r} starts at or after the end ({duration})"
                )
            self._flush()
            header = msgspec.structs.replace(
                self._header,
                events=self.events,
                duration_ns=duration,
                hash=self._hasher.finish(self.events, duration, phases),
            )
            line = msgspec.json.encode(header)
            self._fh.seek(0)
            self._fh.write(line + b" " * (self._reserved - len(line)))
            self._fh.close()
            self._fh = None
            os.replace(self._partial, self.path)
        except OSError as exc:
            self.abort()
            raise TraceFormatError(f"{self.path}: cannot write: {exc.strerror or exc}") from None
        except BaseException:
            self.abort()
            raise
        return header

    def abort(self) -> None:
        """Drop the partial file (the destination is left as it was)."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        self._partial.unlink(missing_ok=True)

    def __enter__(self) -> TraceWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self.abort()
        elif self._fh is not None:
            self.close()


def _out_of_range(event: TraceEvent) -> str:
    """What a reader would refuse in ``event``'s numbers and category; empty when none."""
    if not 0 <= event.size <= MAX_SIZE:
        return f"size {event.size} is outside 0..{MAX_SIZE}"
    if event.priority is not None and not PRIORITY_MIN <= event.priority <= PRIORITY_MAX:
        return f"priority {event.priority} is outside {PRIORITY_MIN}..{PRIORITY_MAX}"
    if event.headers_size is not None and not 0 <= event.headers_size <= MAX_SIZE:
        return f"headers_size {event.headers_size} is outside 0..{MAX_SIZE}"
    if event.category is not None and not isinstance(event.category, Category):
        return f"category {event.category!r} is not a Category"
    return ""


def _check(trace: Trace, path: Path) -> None:
    # What TraceWriter.write checks per event, once over the columns.
    ranges = (
        ("size", trace.size, 0, MAX_SIZE),
        ("priority", trace.priority, PRIORITY_MIN, PRIORITY_MAX),
        ("headers_size", trace.headers_size, 0, MAX_SIZE),
        ("category", trace.category_idx, 0, len(CATEGORIES) - 1),
    )
    for name, column, low, high in ranges:
        given = column != ABSENT if name != "size" else np.ones(len(column), dtype=bool)
        wrong = np.flatnonzero(given & ((column < low) | (column > high)))
        if wrong.size:
            i = int(wrong[0])
            raise TraceFormatError(f"{path}: event {i}: {name} {int(column[i])} is out of range")
    t = trace.t_ns
    back = np.flatnonzero(t[1:] < t[:-1])
    if back.size or (len(t) and t[0] < 0):
        i = int(back[0]) + 1 if back.size else 0
        raise TraceFormatError(f"{path}: event {i}: t {int(t[i])} is out of order or negative")
    for subject in trace.subjects:
        try:
            validate_subject(subject)
        except InvalidSubject as exc:
            raise TraceFormatError(f"{path}: {exc}") from None
    if trace.payloads is not None:
        sizes = np.fromiter((len(p) for p in trace.payloads), dtype=np.int64, count=len(t))
        wrong = np.flatnonzero(sizes != trace.size)
        if wrong.size:
            i = int(wrong[0])
            raise TraceFormatError(
                f"{path}: event {i}: size {int(trace.size[i])} but the payload has"
                f" {int(sizes[i])} bytes"
            )


def write_trace(trace: Trace, path: str | Path, *, tool: str) -> TraceHeader:
    """Write an in-memory trace (its header's labels, phases and duration); return the header."""
    head = trace.header
    _check(trace, Path(path))
    with TraceWriter(
        path,
        name=head.name,
        tool=tool,
        source=head.source,
        start=head.start,
        phases=head.phases,
        payloads=trace.payloads is not None,
    ) as writer:
        for chunk in trace.iter_events(_FLUSH_LINES):
            writer.write_valid(chunk)
        return writer.close(head.duration_ns)
