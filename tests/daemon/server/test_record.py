"""The trace recorder's parts: seeded sampling, cutting and rotating files, the bounded buffer.

The files it writes are read back with the workload's own trace reader, which checks
every line and the hash: that is what proves they are the format of docs/traces.md.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from daemon.server.config import RecordConfig, load_config
from daemon.server.metrics import ServerMetrics
from daemon.server.record import Cutter, Sampler
from daemon.server.record_files import TraceFiles
from daemon.server.recorder import FAILED, OFF, Recorder
from events import ConfigError
from events.model import Category, Event
from workload.traces import read_trace

SUBJECTS = ("fs.file.created", "db.row.inserted.users", "mcp.tool.called.git", "app.login")


def events(n: int, start: int = 0) -> list[Event]:
    """``n`` distinct events (ids ``e<i>``) cycling over four subjects and sizes."""
    return [
        Event(
            f"e{i}",
            SUBJECTS[i % 4],
            Category.SERVICE,
            f"src{i % 3}",
            i % 4,
            b"x" * (i % 50),
            headers={"k": "v" * (i % 3)} if i % 2 else {},
        )
        for i in range(start, start + n)
    ]


def kept_ids(sampler: Sampler, stream: list[Event], request_sizes: list[int]) -> list[str]:
    kept: list[str] = []
    offset = 0
    for size in itertools.cycle(request_sizes):
        if offset >= len(stream):
            break
        kept += [e.id for e in sampler.pick_nowait(stream[offset : offset + size])]
        offset += size
    return kept


def test_sampling_is_seeded_and_independent_of_request_boundaries() -> None:
    """The same seed keeps the same events whether they arrive one by one or in batches of
    any size; another seed keeps others; the kept share is near the fraction."""
    stream = events(20_000)
    one_by_one = kept_ids(Sampler(0.1, seed=7), stream, [1])
    batched = kept_ids(Sampler(0.1, seed=7), stream, [50, 3, 177])
    other_seed = kept_ids(Sampler(0.1, seed=8), stream, [50])
    assert one_by_one == batched
    assert one_by_one != other_seed
    # Binomial(20000, 0.1): mean 2000, sd 42; six sd either side.
    assert 1750 <= len(one_by_one) <= 2250
    assert [e.id for e in stream] == kept_ids(Sampler(1.0, seed=7), stream, [64])


def test_sampler_refuses_a_fraction_outside_0_1() -> None:
    """A fraction of 0 or above 1 is refused when the sampler is made."""
    for fraction in (0.0, 1.5):
        with pytest.raises(ValueError, match="sample fraction"):
            Sampler(fraction, seed=1)


def write_all(folder: Path, arrivals: int, *, files: int, limit: int) -> tuple[TraceFiles, int]:
    """Arrivals of 5 events each, 1 ms apart, cut at ``limit`` bytes; all files finished."""
    out = TraceFiles(folder / "rec.jsonl", files=files, payloads=False, source="tests")
    cutter = Cutter(limit, payloads=False, wall_offset_ns=1_700_000_000 * 10**9)
    for i in range(arrivals):
        out.apply(cutter.cut_nowait([(i * 1_000_000, events(5, start=5 * i))]))
    closing = cutter.close_nowait()
    assert closing is not None
    out.apply([closing])
    return out, 5 * arrivals


def test_rotation_keeps_the_newest_files_each_a_complete_trace(tmp_path: Path) -> None:
    """Past the limit a file is finished and rotated: ``path`` newest, then ``path.1``,
    ``path.2``; older ones are deleted. Each file is a trace the reader accepts, no larger
    than the limit, starting at t = 0; together they hold the newest events in order."""
    limit = 8192
    out, written = write_all(tmp_path, 200, files=3, limit=limit)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["rec.jsonl", "rec.jsonl.1", "rec.jsonl.2"]
    traces = [read_trace(tmp_path / name) for name in reversed(names)]  # oldest first
    assert all(path.stat().st_size <= limit for path in tmp_path.iterdir())
    assert [int(t.t_ns[0]) for t in traces] == [0, 0, 0]
    kept = sum(len(t) for t in traces)
    newest = events(written)[written - kept :]
    recorded = [s for t in traces for s in (t.subjects[i] for i in t.subject_idx.tolist())]
    assert [e.subject for e in newest] == recorded
    assert [len(e.payload) for e in newest] == [int(x) for t in traces for x in t.size]
    assert out.rotations > 3  # more files were finished than are kept
    assert out.on_disk() == [str(tmp_path / name) for name in names]


def test_a_recorded_file_keeps_time_source_priority_and_headers(tmp_path: Path) -> None:
    """t counts from the file's first arrival; source, priority, category and the header
    bytes are written as the event had them; the header's start is that arrival's time."""
    write_all(tmp_path, 3, files=2, limit=1 << 20)
    trace = read_trace(tmp_path / "rec.jsonl")
    assert trace.t_ns.tolist() == [0] * 5 + [1_000_000] * 5 + [2_000_000] * 5
    sent = events(15)
    assert [e.priority for e in sent] == trace.priority.tolist()
    expected_headers = [sum(len(k) + len(v) for k, v in e.headers.items()) for e in sent]
    assert expected_headers == trace.headers_size.tolist()
    assert (trace.header.start, trace.header.duration_ns) == (
        "2023-11-14T22:13:20.000000000Z",
        2_000_000,
    )


def recorder(tmp_path: Path, **fields: Any) -> tuple[Recorder, ServerMetrics]:
    metrics = ServerMetrics()
    config = RecordConfig(path=str(tmp_path / "rec" / "trace.jsonl"), **fields)
    return Recorder(config, metrics), metrics


@pytest.mark.anyio
async def test_a_full_buffer_drops_samples_and_counts_them(tmp_path: Path) -> None:
    """With room for 10 events, an offer of 25 keeps 10 and counts 15 dropped (intake is
    never held back); stop writes the 10 and answers the counts."""
    rec, metrics = recorder(tmp_path, buffer=10)
    await rec.start()
    rec.offer_nowait(events(25))  # before the writer task has run once
    status = await rec.stop()
    assert (status["state"], status["recorded"], status["dropped"], status["offered"]) == (
        OFF,
        10,
        15,
        25,
    )
    assert (metrics.record_events, metrics.record_dropped, metrics.record_rotations) == (10, 15, 1)
    assert len(read_trace(tmp_path / "rec" / "trace.jsonl")) == 10


@pytest.mark.anyio
async def test_a_failed_write_stops_recording_and_counts_the_loss(tmp_path: Path) -> None:
    """When the recording's folder cannot be made, the recorder stops as ``failed`` with
    the error, and the events it held are counted dropped; offers after that are ignored."""
    (tmp_path / "rec").write_text("a file where the folder should be")
    rec, metrics = recorder(tmp_path)
    await rec.start()
    rec.offer_nowait(events(7))
    status = await rec.stop()
    rec.offer_nowait(events(3))
    assert (status["state"], status["recorded"], status["dropped"]) == (FAILED, 0, 7)
    assert "Error" in status["error"]
    assert (metrics.record_dropped, metrics.record_active, rec.buffered) == (7, 0, 0)


@pytest.mark.parametrize(
    ("table", "named"),
    [
        ("sample = 0.0", "record.sample"),
        ("sample = 1.5", "record.sample"),
        ("files = 0", "record.files"),
        ("max_bytes = 1000", "record.max_bytes"),
        ('path = "x.jsonl.gz"', "record.path"),
        ('path = "{tmp}/dead.jsonl"', "overlaps lifecycle.dead_letter_journal"),
        ('path = "{tmp}/journal"', "overlaps journal.path"),
    ],
)
def test_bad_record_tables_are_refused(tmp_path: Path, table: str, named: str) -> None:
    """A bad [record] table, or a record path equal to or a prefix of another configured
    file, is refused at load (so by --check-config), naming the field."""
    text = (
        f'[lifecycle]\ndead_letter_journal = "{tmp_path}/dead.jsonl"\n'
        f'[journal]\npath = "{tmp_path}/journal.jsonl"\n'
        f"[record]\n{table.format(tmp=tmp_path)}\n"
    )
    config = tmp_path / "d.toml"
    config.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(config)
    assert named in str(info.value)
