"""A trace as the Schedule the bench replays: arrays, phases, categories, services, hash."""

from __future__ import annotations

from pathlib import Path

import msgspec
import numpy as np
import pytest

from events import Category, ConfigError
from workload import (
    ScheduleFileError,
    build_services,
    load_scenarios,
    parse_scenarios,
    write_schedule,
)
from workload.config import CategoryMap
from workload.traces import PhaseMark, TraceEvent, Transform, read_trace, trace_schedule

from .tracekit import small_trace, write_events


def test_schedule_replays_the_trace_as_recorded(tmp_path: Path) -> None:
    """Times, subjects, sizes and categories are the trace's; arrays are read-only."""
    trace = small_trace(tmp_path)
    s = trace_schedule(trace, profile="light")
    subjects = [s.subjects[i] for i in s.subject_idx.tolist()]
    expected_categories = ["filesystem", "database", "mcp", "service"] * 100
    arrays = (s.t_ns, s.subject_idx, s.category_idx, s.payload_size, s.phase_idx)
    assert (
        trace.t_ns.tolist(),
        [trace.subjects[i] for i in trace.subject_idx.tolist()],
        trace.size.tolist(),
        expected_categories,
        [False] * 5,
    ) == (
        s.t_ns.tolist(),
        subjects,
        s.payload_size.tolist(),
        [s.categories[i].value for i in s.category_idx.tolist()],
        [a.flags.writeable for a in arrays],
    )


def test_events_carry_priority_and_recorded_payloads(tmp_path: Path) -> None:
    """Built events keep each trace event's priority (default 1) and recorded payload."""
    events = [
        TraceEvent(t=0, subject="a.b", size=2, priority=3, payload=b"xy"),
        TraceEvent(t=10, subject="a.c", size=1, payload=b"z"),
    ]
    trace = read_trace(write_events(tmp_path / "t.jsonl", events, payloads=True))
    built = trace_schedule(trace, profile="light").events()
    assert [(e.priority, e.payload, e.t_intended_ns) for e in built] == [
        (3, b"xy", 0),
        (1, b"z", 10),
    ]


def test_ten_equal_windows_without_phase_marks(tmp_path: Path) -> None:
    """Without marks, phases are w01..w10 of equal width, covering every event."""
    s = trace_schedule(small_trace(tmp_path), profile="light")
    widths = {round(p.duration_s, 9) for p in s.phases}
    assert ([f"w{i:02d}" for i in range(1, 11)], {0.399}, 400) == (
        [p.name for p in s.phases],
        widths,
        int(s.phase_counts().sum()),
    )


def test_phase_marks_name_the_phases(tmp_path: Path) -> None:
    """A trace's own phase marks become the schedule's phases, with their event counts."""
    marks = (PhaseMark("warm", 0), PhaseMark("peak", 1_000_000_000))
    s = trace_schedule(small_trace(tmp_path, phases=marks), profile="light")
    assert (
        [p.name for p in s.phases],
        s.phase_counts().tolist(),
    ) == (["warm", "peak"], [100, 300])


def test_hash_covers_the_trace_and_the_transform(tmp_path: Path) -> None:
    """Same trace and transform, same hash; another speed, scale seed or trace, another."""
    trace = small_trace(tmp_path)
    (tmp_path / "other").mkdir()
    other = small_trace(tmp_path / "other", n=401)
    hashes = [
        trace_schedule(trace, profile="light").hash,
        trace_schedule(trace, profile="light").hash,
        trace_schedule(trace, profile="light", transform=Transform(speed=2.0)).hash,
        trace_schedule(trace, profile="light", transform=Transform(scale=2.0)).hash,
        trace_schedule(trace, profile="light", transform=Transform(scale=2.0, seed=2)).hash,
        trace_schedule(other, profile="light").hash,
    ]
    origin = trace_schedule(trace, profile="light").trace
    assert (hashes[0], 5, trace.hash) == (hashes[1], len(set(hashes)), origin and origin.hash)


def test_speed_scale_window_reach_the_schedule(tmp_path: Path) -> None:
    """--window 1:3 --speed 2 --scale 2: twice the events of the slice over half its time."""
    trace = small_trace(tmp_path)
    transform = Transform(speed=2.0, scale=2.0, window_start_s=1.0, window_end_s=3.0)
    s = trace_schedule(trace, profile="light", transform=transform)
    assert (len(s), s.duration_s, s.pattern) == (400, 1.0, "trace:t")


def test_events_without_category_follow_the_scenarios(tmp_path: Path) -> None:
    """Categories missing from the trace come from the scenarios' [categories] table."""
    scenarios = msgspec.structs.replace(
        load_scenarios(), categories=CategoryMap(default="external", prefixes={"app.": "system"})
    )
    s = trace_schedule(small_trace(tmp_path), profile="light", scenarios=scenarios)
    assert [s.categories[i].value for i in s.category_idx[:4].tolist()] == [
        "external",
        "external",
        "external",
        "system",
    ]


def test_profile_follows_the_trace(tmp_path: Path) -> None:
    """The profile keeps its services but takes the trace's rate, median size and duration."""
    s = trace_schedule(small_trace(tmp_path), profile="medium")
    prof = s.profile
    assert (10, 66, pytest.approx(400 / 3.99), pytest.approx(3.99)) == (
        prof.services,
        prof.payload_bytes,
        prof.base_rate,
        prof.duration_s,
    )


def test_services_share_the_trace_subjects(tmp_path: Path) -> None:
    """With the schedule given, each service's share is the part of the trace it matches."""
    s = trace_schedule(small_trace(tmp_path), profile="medium")
    shares = {spec.name: spec.share for spec in build_services(s.profile, schedule=s)}
    assert {k: shares[k] for k in ("datastore", "inference", "audit", "mcp-gateway")} == {
        "datastore": 0.25,
        "inference": 0.25,
        "audit": 1.0,
        "mcp-gateway": 0.25,
    }


def test_an_empty_window_is_refused(tmp_path: Path) -> None:
    """A window with no events cannot be replayed."""
    events = [TraceEvent(t=0, subject="a.b", size=1), TraceEvent(t=10**10, subject="a.b", size=1)]
    trace = read_trace(write_events(tmp_path / "t.jsonl", events))
    with pytest.raises(ConfigError, match="the replay holds no events"):
        trace_schedule(trace, transform=Transform(window_start_s=1.0, window_end_s=2.0))


def test_mix_is_the_obtained_category_share(tmp_path: Path) -> None:
    """A trace schedule's mix is what it holds, in Category order."""
    s = trace_schedule(small_trace(tmp_path), profile="light")
    expected = [
        0.25 if c.value in ("filesystem", "database", "mcp", "service") else 0.0 for c in Category
    ]
    assert expected == list(s.mix)
    assert bool(np.isclose(sum(s.category_mix()), 1.0))


def test_custom_scenarios_drive_categories(tmp_path: Path) -> None:
    """parse_scenarios reads a [categories] table used by the replay."""
    doc = {
        "profiles": {"p": {"services": 1, "payload_bytes": 8, "base_rate": 1.0, "duration_s": 1.0}},
        "categories": {"default": "mcp", "prefixes": {"fs.": "system"}},
    }
    scenarios = parse_scenarios(doc, "custom.toml")
    s = trace_schedule(small_trace(tmp_path), profile="p", scenarios=scenarios)
    assert [s.categories[i].value for i in s.category_idx[:4].tolist()] == [
        "system",
        "mcp",
        "mcp",
        "mcp",
    ]


def test_a_trace_schedule_is_not_written_as_a_schedule_file(tmp_path: Path) -> None:
    """write_schedule refuses a trace replay (the trace and its options are the record)."""
    s = trace_schedule(small_trace(tmp_path), profile="light")
    with pytest.raises(ScheduleFileError, match="keep the trace and its replay options"):
        write_schedule(s, tmp_path / "s.jsonl")
