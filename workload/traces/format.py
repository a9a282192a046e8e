"""The trace format ``switchyard.trace/1`` (docs/traces.md): its records and its hash.

A trace is JSON lines: a header line (:class:`TraceHeader`), then one
:class:`TraceEvent` per line in non-decreasing ``t`` order. The hash identifies
the content, not its formatting: sha256 over every event's canonical line (the
fields in declaration order, absent ones omitted, no whitespace) each followed by
a newline, then one canonical trailer line holding the format, the event count,
the duration and the phase marks. Labels (name, created, tool, source, start)
stay out of it, so importing the same log twice gives the same hash.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import re
from typing import Annotated

import msgspec

from events.model import PRIORITY_MAX, PRIORITY_MIN, Category

FORMAT_FAMILY = "switchyard.trace"
FORMAT_VERSION = 1
FORMAT = f"{FORMAT_FAMILY}/{FORMAT_VERSION}"
#: Sizes are held in int32 columns (as the Schedule's payload sizes are).
MAX_SIZE = 2**31 - 1
HASH_RE = re.compile(r"[0-9a-f]{64}")

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


class TraceEvent(msgspec.Struct, frozen=True, omit_defaults=True, forbid_unknown_fields=True):
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

    def finish(self, events: int, duration_ns: int, phases: tuple[PhaseMark, ...]) -> str:
        digest = self._digest.copy()
        digest.update(trailer_line(events, duration_ns, phases))
        digest.update(b"\n")
        return digest.hexdigest()


def header_problems(header: TraceHeader) -> list[str]:
    """What makes a decoded header unusable; empty when it is sound."""
    problems = []
    if header.duration_ns < 1:
        problems.append(f"duration_ns must be >= 1, got {header.duration_ns}")
    if not HASH_RE.fullmatch(header.hash):
        problems.append(f"hash must be 64 lower-case hex digits, got {header.hash!r}")
    names = [p.name for p in header.phases]
    if len(set(names)) != len(names):
        problems.append(f"phase names repeat: {names}")
    if any(not name for name in names):
        problems.append("a phase name is empty")
    starts = [p.start_ns for p in header.phases]
    if starts and starts[0] != 0:
        problems.append(f"the first phase must start at 0, got {starts[0]}")
    if any(b <= a for a, b in itertools.pairwise(starts)):
        problems.append(f"phase starts must increase: {starts}")
    if starts and starts[-1] >= header.duration_ns:
        problems.append(f"phase {names[-1]!r} starts at or after the end ({header.duration_ns})")
    return problems


def check_format(value: object) -> str | None:
    """Why a header's ``format`` cannot be read by this version; None when it can."""
    if value == FORMAT:
        return None
    if isinstance(value, str) and value.startswith(FORMAT_FAMILY + "/"):
        return f"trace format {value!r} is not supported (this reader reads {FORMAT})"
    return f"not a Switchyard trace: the first line's format is {value!r}, expected {FORMAT!r}"


def utc_now() -> str:
    """The current time, RFC 3339 in UTC with second precision."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
