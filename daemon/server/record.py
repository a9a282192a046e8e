"""Recording accepted events as a trace: the synchronous parts (docs/traces.md, ``[record]``).

:class:`Sampler` picks which events a recording keeps; :class:`Cutter` turns the
kept events of each request into trace lines and decides where one file ends and the
next begins, as a list of pieces (:class:`Open`, :class:`Lines`, :class:`Close`) that
``daemon/server/record_files.py`` carries out on disk.
"""

from __future__ import annotations

import datetime as dt
import math
import random

import msgspec

from events.model import Event
from events.traces import FORMAT, TraceEvent, TraceHeader

TOOL = "python -m daemon (record)"
#: The largest header the placeholder must leave room for (counts and hash at their widest).
_MAX_INT = 2**63 - 1

#: A request's arrival (monotonic ns) and the events the sampler kept from it.
Arrival = tuple[int, list[Event]]


class Sampler:
    """Keeps each accepted event with probability ``fraction``, in arrival order, seeded.

    The same seed and the same sequence of arrivals keep the same events. Instead of a
    draw per event it draws the gap to the next kept one (geometric), so a request in
    which no event is kept costs one comparison.
    """

    def __init__(self, fraction: float, seed: int) -> None:
        if not 0.0 < fraction <= 1.0:
            raise ValueError(f"sample fraction must be in (0, 1], got {fraction}")
        self.fraction = fraction
        self.seen = 0
        self._rng = random.Random(seed)
        self._log_miss = math.log1p(-fraction) if fraction < 1.0 else 0.0
        self._next = self._gap() if fraction < 1.0 else 0

    def _gap(self) -> int:
        # 1 - random() is in (0, 1], so the log is finite.
        return int(math.log(1.0 - self._rng.random()) / self._log_miss)

    def pick_nowait(self, events: list[Event]) -> list[Event]:
        """The events of ``events`` (the next arrivals, in order) this recording keeps."""
        first = self.seen
        end = self.seen = first + len(events)
        if self.fraction >= 1.0:
            return events
        index = self._next
        if index >= end:
            return []
        kept = []
        while index < end:
            kept.append(events[index - first])
            index += 1 + self._gap()
        self._next = index
        return kept


def rfc3339_ns(wall_ns: int) -> str:
    """``wall_ns`` (ns since the epoch) as RFC 3339 UTC with nine fractional digits."""
    seconds, nanos = divmod(wall_ns, 1_000_000_000)
    moment = dt.datetime.fromtimestamp(seconds, dt.UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{nanos:09d}Z"


def headers_size(event: Event) -> int:
    """Bytes of the event's header names and values (UTF-8)."""
    return sum(len(k.encode()) + len(v.encode()) for k, v in event.headers.items())


class Open(msgspec.Struct, frozen=True):
    """Start a new file whose ``t = 0`` is wall-clock ``start``."""

    start: str


class Lines(msgspec.Struct, frozen=True):
    """Append ``events`` canonical event lines, each ending in a newline, to the open file."""

    data: bytes
    events: int


class Close(msgspec.Struct, frozen=True):
    """Finish the open file and rotate it into place."""

    events: int
    duration_ns: int


Piece = Open | Lines | Close


class Cutter:
    """Which file each buffered event goes to, and its line there; pure, no I/O.

    A file's ``t = 0`` is its first event's arrival and its duration is its last
    event's ``t`` (at least 1 ns), as for an imported log. A file is cut before the
    line that would take it past ``limit_bytes`` (its header counted), so no file
    is larger unless a single event line is.
    """

    def __init__(self, limit_bytes: int, *, payloads: bool, wall_offset_ns: int) -> None:
        self.limit_bytes = limit_bytes
        self.payloads = payloads
        self.wall_offset_ns = wall_offset_ns
        self.header_bytes = placeholder_size(payloads) + 1
        self.first_ns: int | None = None
        self.size = 0
        self.events = 0
        self.last_t = 0
        encoder = msgspec.json.Encoder()
        self._encode = encoder.encode
        self._encode_lines = encoder.encode_lines

    def _records(self, arrivals: list[Arrival], first_ns: int) -> list[TraceEvent]:
        # One comprehension and one encode_lines call per chunk: per-event Python work
        # is what recording costs the daemon's CPU.
        record = TraceEvent
        if self.payloads:
            return [
                record(
                    arrival_ns - first_ns,
                    e.subject,
                    len(e.payload),
                    e.source,
                    e.priority,
                    e.category,
                    headers_size(e) if e.headers else 0,
                    e.payload,
                )
                for arrival_ns, events in arrivals
                for e in events
            ]
        return [
            record(
                arrival_ns - first_ns,
                e.subject,
                len(e.payload),
                e.source,
                e.priority,
                e.category,
                headers_size(e) if e.headers else 0,
            )
            for arrival_ns, events in arrivals
            for e in events
        ]

    def _open(self, pieces: list[Piece], arrival_ns: int) -> None:
        self.first_ns = arrival_ns
        self.size, self.events, self.last_t = self.header_bytes, 0, 0
        pieces.append(Open(rfc3339_ns(arrival_ns + self.wall_offset_ns)))

    def close_nowait(self) -> Close | None:
        """Finish the open file (None when none is open)."""
        if self.first_ns is None:
            return None
        self.first_ns = None
        return Close(self.events, max(self.last_t, 1))

    def cut_nowait(self, arrivals: list[Arrival]) -> list[Piece]:
        """The pieces that write ``arrivals`` (in order), with the cuts they need."""
        pieces: list[Piece] = []
        if not arrivals:
            return pieces
        if self.first_ns is None:
            self._open(pieces, arrivals[0][0])
        first_ns = self.first_ns
        assert first_ns is not None
        records = self._records(arrivals, first_ns)
        if not records:
            return pieces
        data = self._encode_lines(records)
        if self.size + len(data) <= self.limit_bytes:
            pieces.append(Lines(data, len(records)))
            self.size += len(data)
            self.events += len(records)
            self.last_t = records[-1].t
            return pieces
        self._cut_lines(pieces, records, first_ns)
        return pieces

    def _cut_lines(self, pieces: list[Piece], records: list[TraceEvent], first_ns: int) -> None:
        """Line by line, cutting where a line would pass the limit (rare: once per file)."""
        lines: list[bytes] = []
        for rec in records:
            arrival_ns = first_ns + rec.t
            t = arrival_ns - (self.first_ns or 0)
            line = self._encode(msgspec.structs.replace(rec, t=t)) + b"\n"
            if self.size + len(line) > self.limit_bytes and self.events:
                pieces.append(Lines(b"".join(lines), len(lines)))
                lines = []
                closing = self.close_nowait()
                assert closing is not None
                pieces.append(closing)
                self._open(pieces, arrival_ns)
                t = 0
                line = self._encode(msgspec.structs.replace(rec, t=t)) + b"\n"
            lines.append(line)
            self.size += len(line)
            self.events += 1
            self.last_t = t
        if lines:
            pieces.append(Lines(b"".join(lines), len(lines)))


def placeholder_size(payloads: bool) -> int:
    """Bytes the header line may take at most (its widest counts, a 64-digit hash)."""
    widest = TraceHeader(
        format=FORMAT,
        name="",
        created=rfc3339_ns(0),
        tool=TOOL,
        events=_MAX_INT,
        duration_ns=_MAX_INT,
        hash="0" * 64,
        source="",
        start=rfc3339_ns(0),
        payloads=payloads,
    )
    return len(msgspec.json.encode(widest))
