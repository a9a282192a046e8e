"""The trace format ``switchyard.trace/1`` (docs/traces.md): what a reader checks beyond
the records.

The records and the hash are the contract's (``events.traces``: the daemon's
recorder writes them too); they are re-exported here for the workload's modules.
This module adds what reading needs: the header's soundness rules, the format
check, and the creation stamp.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re

from events.traces import (
    FORMAT,
    FORMAT_FAMILY,
    FORMAT_VERSION,
    MAX_SIZE,
    NonNegative,
    PhaseMark,
    Priority,
    Size,
    TraceEvent,
    TraceHasher,
    TraceHeader,
    trailer_line,
)

__all__ = [
    "FORMAT",
    "FORMAT_FAMILY",
    "FORMAT_VERSION",
    "HASH_RE",
    "MAX_SIZE",
    "NonNegative",
    "PhaseMark",
    "Priority",
    "Size",
    "TraceEvent",
    "TraceHasher",
    "TraceHeader",
    "check_format",
    "header_problems",
    "trailer_line",
    "utc_now",
]

HASH_RE = re.compile(r"[0-9a-f]{64}")


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
