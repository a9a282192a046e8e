"""Helpers for the trace tests: small logs and traces written to a temporary folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from workload.traces import ImportOptions, Trace, TraceEvent, TraceWriter, import_log, read_trace

T0 = 1_700_000_000  # epoch seconds of the logs' first line


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def log_records(n: int, *, step_s: float = 0.01) -> list[dict[str, Any]]:
    """``n`` lines cycling over subjects of several categories, at a steady pace."""
    subjects = ["fs.file.created", "db.row.inserted.users", "mcp.tool.called.git", "app.login"]
    return [
        {"ts": f"{T0 + i * step_s:.9f}", "subject": subjects[i % 4], "size": 100 + i % 7}
        for i in range(n)
    ]


def import_records(tmp: Path, records: list[dict[str, Any]], **options: Any) -> Trace:
    src = write_jsonl(tmp / "log.jsonl", records)
    return import_log(src, tmp / "trace.jsonl", ImportOptions(**options)).trace


def write_events(path: Path, events: list[TraceEvent], **header: Any) -> Path:
    duration_ns = header.pop("duration_ns", None)
    with TraceWriter(path, name=header.pop("name", "t"), tool="tests", **header) as writer:
        for event in events:
            writer.write(event)
        writer.close(duration_ns)
    return path


def small_trace(tmp: Path, n: int = 400, **header: Any) -> Trace:
    """A trace of ``n`` events 10 ms apart over four subjects, categories left to prefixes."""
    subjects = ["fs.file.created", "db.row.inserted.users", "mcp.tool.called.git", "app.login"]
    events = [
        TraceEvent(t=i * 10_000_000, subject=subjects[i % 4], size=64 + i % 5) for i in range(n)
    ]
    return read_trace(write_events(tmp / "small.jsonl", events, **header))
