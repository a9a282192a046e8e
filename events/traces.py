"""The records of the trace format ``switchyard.trace/1`` and its hash (docs/traces.md).

They live in the contract because two sides meet on them: the daemon's recorder
writes traces and the workload reads, imports and writes them. A trace is JSON
lines: a header line (:class:`TraceHeader`), then one :class:`TraceEvent` per
line in non-decreasing ``t`` order. The hash identifies the content, not its
formatting: sha256 over every event's canonical line (the fields in declaration
order, absent ones omitted, no whitespace) each followed by a newline, then one
canonical trailer line holding the format, the event count, the duration and
the phase marks. Labels (name, created, tool, source, start) stay out of it.
"""

from __future__ import annotations

import hashlib
from typing import Annotated

import msgspec

from events.model import PRIORITY_MAX, PRIORITY_MIN, Category

FORMAT_FAMILY = "switchyard.trace"
FORMAT_VERSION = 1
FORMAT = f"{FORMAT_FAMILY}/{FORMAT_VERSION}"
#: Sizes are held in int32 columns (as the Schedule's payload sizes are).
MAX_SIZE = 2**31 - 1

NonNegative = Annotated[int, msgspec.Meta(ge=0)]
Size = Annotated[int, msgspec.Meta(ge=0, le=MAX_SIZE)]
Priority = Annotated[int, msgspec.Meta(ge=PRIORITY_MIN, le=PRIORITY_MAX)]


class PhaseMark(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A named phase starting at ``start_ns``; it lasts until the next mark or the end."""

    name: str
    start_ns: NonNegative


class TraceHeader(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The first line of a trace."""

    format: str
    name: str
    created: str
    tool: str
    events: NonNegative
    duration_ns: NonNegative
    hash: str
    source: str = ""
    start: str = ""
    payloads: bool = False
    phases: tuple[PhaseMark, ...] = ()


class TraceEvent(
    msgspec.Struct, frozen=True, omit_defaults=True, forbid_unknown_fields=True, gc=False
):
    """One event line; ``payload`` (base64 in JSON) only in traces written with payloads."""

    t: NonNegative
    subject: str
    size: Size
    source: str | None = None
    priority: Priority | None = None
    category: Category | None = None
    headers_size: Size | None = None
    payload: bytes | None = None


class _Trailer(msgspec.Struct, frozen=True):
    format: str
    events: int
    duration_ns: int
    phases: tuple[PhaseMark, ...]


def trailer_line(events: int, duration_ns: int, phases: tuple[PhaseMark, ...]) -> bytes:
    """The canonical line that closes the hashed content."""
    return msgspec.json.encode(_Trailer(FORMAT, events, duration_ns, phases))


class TraceHasher:
    """The trace hash, fed canonical event lines (without their newline) in order."""

    def __init__(self) -> None:
        self._digest = hashlib.sha256()

    def update_lines(self, canonical: list[bytes]) -> None:
        if canonical:
            self._digest.update(b"\n".join(canonical))
            self._digest.update(b"\n")

    def update_block(self, lines: bytes) -> None:
        """Feed canonical lines that already end in their newlines (``encode_lines``)."""
        self._digest.update(lines)

    def finish(self, events: int, duration_ns: int, phases: tuple[PhaseMark, ...]) -> str:
        digest = self._digest.copy()
        digest.update(trailer_line(events, duration_ns, phases))
        digest.update(b"\n")
        return digest.hexdigest()
