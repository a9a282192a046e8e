"""The switchyard.trace/1 format: writing, reading back, the hash, and what readers refuse."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from events import Category
from workload.errors import TraceFormatError
from workload.traces import FORMAT, PhaseMark, TraceEvent, read_header, read_trace, write_trace

from .tracekit import small_trace, write_events

EVENTS = [
    TraceEvent(t=0, subject="fs.file.created", size=3, source="app", priority=2),
    TraceEvent(t=5, subject="db.txn.committed", size=0, category=Category.DATABASE),
    TraceEvent(t=5, subject="app.login", size=7, headers_size=40),
]


def test_written_events_read_back_as_written(tmp_path: Path) -> None:
    """Every field, optional or not, survives a write and a read."""
    trace = read_trace(write_events(tmp_path / "t.jsonl", EVENTS, duration_ns=10))
    back = [e for chunk in trace.iter_events() for e in chunk]
    assert (back, trace.duration_ns, trace.header.format) == (EVENTS, 10, FORMAT)


def test_payloads_round_trip_as_base64(tmp_path: Path) -> None:
    """A trace with payloads stores them base64 and reads the same bytes back."""
    events = [TraceEvent(t=i, subject="a.b", size=3, payload=bytes([i, 0, 255])) for i in range(3)]
    path = write_events(tmp_path / "t.jsonl", events, payloads=True)
    line = json.loads(path.read_text().splitlines()[1])
    assert ("AAD/", tuple(e.payload for e in events)) == (
        line["payload"],
        read_trace(path).payloads,
    )


def test_hash_ignores_labels_and_follows_content(tmp_path: Path) -> None:
    """Same events under another name hash alike; one size or the duration changes it."""
    base = read_trace(write_events(tmp_path / "a.jsonl", EVENTS, name="a")).hash
    renamed = read_trace(write_events(tmp_path / "b.jsonl", EVENTS, name="b")).hash
    changed = [*EVENTS[:2], TraceEvent(t=5, subject="app.login", size=8, headers_size=40)]
    resized = read_trace(write_events(tmp_path / "c.jsonl", changed)).hash
    longer = read_trace(write_events(tmp_path / "d.jsonl", EVENTS, duration_ns=99)).hash
    assert (base, 3) == (renamed, len({base, resized, longer}))


def test_hash_is_the_documented_sha256(tmp_path: Path) -> None:
    """sha256 over each event as compact JSON + newline, then the trailer line (docs/traces.md)."""
    path = write_events(tmp_path / "t.jsonl", EVENTS)
    digest = hashlib.sha256()
    for line in path.read_text().splitlines()[1:]:
        canonical = json.dumps(json.loads(line), ensure_ascii=False, separators=(",", ":"))
        digest.update(canonical.encode() + b"\n")
    trailer = {"format": FORMAT, "events": 3, "duration_ns": 5, "phases": []}
    digest.update(json.dumps(trailer, separators=(",", ":")).encode() + b"\n")
    assert digest.hexdigest() == read_trace(path).hash


def test_a_rewritten_trace_keeps_its_hash(tmp_path: Path) -> None:
    """write_trace of a read trace gives the same hash (content, not formatting or labels)."""
    trace = small_trace(tmp_path, phases=(PhaseMark("a", 0), PhaseMark("b", 1_000_000_000)))
    header = write_trace(trace, tmp_path / "copy.jsonl", tool="tests")
    assert (trace.hash, trace.hash) == (header.hash, read_trace(tmp_path / "copy.jsonl").hash)


def corrupt(path: Path, line_no: int, text: str) -> Path:
    lines = path.read_text().splitlines()
    lines[line_no - 1] = text
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(
    ("line_no", "text", "needle"),
    [
        (1, '{"format": "switchyard.trace/2"}', "'switchyard.trace/2' is not supported"),
        (1, '{"format": "other"}', ":1: not a Switchyard trace"),
        (3, '{"t": 0, "subject": "a..b", "size": 1}', ":3: subject 'a..b' has an empty token"),
        (4, '{"t": 1, "subject": "a.b", "size": 1}', ":4: t 1 is before the previous event's 5"),
        (2, '{"t": 0, "subject": "a.b", "size": 1, "priority": 9}', ":2: bad event: Expected"),
        (3, '{"t": 0, "subject": "a.b", "size": 1, "colour": 1}', ":3: bad event: Object contains"),
        (3, "", ":3: blank line"),
        (
            2,
            '{"t": 0, "subject": "fs.file.created", "size": 4}',
            "does not match the header's hash",
        ),
    ],
)
def test_reader_refuses_naming_the_line(
    tmp_path: Path, line_no: int, text: str, needle: str
) -> None:
    """A bad header, event, order, subject, blank line or edited content is refused by line."""
    path = corrupt(write_events(tmp_path / "t.jsonl", EVENTS), line_no, text)
    with pytest.raises(TraceFormatError) as info:
        read_trace(path)
    assert needle in str(info.value), str(info.value)


def test_reader_refuses_a_count_or_payload_mismatch(tmp_path: Path) -> None:
    """Fewer events than the header says, or a missing payload, are refused."""
    path = write_events(tmp_path / "t.jsonl", EVENTS)
    lines = path.read_text().splitlines()
    (tmp_path / "short.jsonl").write_text("\n".join(lines[:-1]) + "\n")
    header = json.loads(lines[0])
    header["payloads"] = True
    (tmp_path / "nopayload.jsonl").write_text("\n".join([json.dumps(header), *lines[1:]]) + "\n")
    messages = []
    for name in ("short.jsonl", "nopayload.jsonl"):
        with pytest.raises(TraceFormatError) as info:
            read_trace(tmp_path / name)
        messages.append(str(info.value).split(": ", 1)[1])
    assert messages == [
        "2 events, the header says 3",
        "no payload, but the header says the trace has payloads",
    ]


def test_writer_refuses_disorder_and_leaves_nothing(tmp_path: Path) -> None:
    """An event going back in time aborts the write: the destination never appears."""
    path = tmp_path / "t.jsonl"
    with pytest.raises(TraceFormatError, match="before the previous"):
        write_events(path, [EVENTS[1], EVENTS[0]])
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_read_header_alone(tmp_path: Path) -> None:
    """read_header gives the validated header without reading the events."""
    trace = small_trace(tmp_path, n=10)
    header = read_header(tmp_path / "small.jsonl")
    assert (trace.hash, 10, 90_000_000) == (header.hash, header.events, header.duration_ns)


def test_columns_are_read_only(tmp_path: Path) -> None:
    """A read trace's columns cannot be written."""
    trace = small_trace(tmp_path, n=10)
    assert [c.flags.writeable for c in trace.columns()] == [False] * 7
    assert np.int64 == trace.t_ns.dtype


@pytest.mark.parametrize(
    ("event", "needle"),
    [
        (TraceEvent(t=0, subject="a.b", size=-1), "size -1 is outside"),
        (TraceEvent(t=0, subject="a.b", size=1, priority=7), "priority 7 is outside 0..3"),
        (TraceEvent(t=0, subject="a.b", size=1, headers_size=-2), "headers_size -2 is outside"),
        (TraceEvent(t=0, subject="a b", size=1), "contains whitespace"),
        (TraceEvent(t=0, subject="a.b", size=1, payload=b"x"), "but the trace keeps none"),
    ],
)
def test_writer_refuses_what_readers_would(tmp_path: Path, event: TraceEvent, needle: str) -> None:
    """The writer never writes an event a reader would refuse."""
    with pytest.raises(TraceFormatError) as info:
        write_events(tmp_path / "t.jsonl", [event])
    assert (needle in str(info.value), (tmp_path / "t.jsonl").exists()) == (True, False)
