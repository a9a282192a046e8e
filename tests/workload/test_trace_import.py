"""trace import: JSON lines and CSV, timestamps, bad lines, --map, categories, ordering."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from events import Category, ConfigError
from workload.config import CategoryMap
from workload.errors import TraceImportError
from workload.traces import ImportOptions, import_log, read_trace
from workload.traces.fields import parse_map, parse_path

from .tracekit import T0, import_records, log_records, write_jsonl


def test_jsonl_import_reads_every_field(tmp_path: Path) -> None:
    """t counts from the first event; sizes, sources, priorities and categories are kept."""
    records = [
        {"ts": T0, "subject": "fs.file.created", "size": 10, "source": "a", "priority": 3},
        {"ts": T0 + 0.5, "subject": "app.login", "payload": "héllo", "category": "mcp"},
        {"ts": T0 + 2, "subject": "db.txn.committed", "payload": {"k": [1, 2.50]}, "x": 1},
    ]
    trace = import_records(tmp_path, records)
    categories = [Category.FILESYSTEM, Category.MCP, Category.DATABASE]
    assert (
        [0, 500_000_000, 2_000_000_000],
        [10, 6, len(b'{"k":[1,2.5]}')],
        [3, -1, -1],
        ["a", None, None],
        [list(Category).index(c) for c in categories],
    ) == (
        trace.t_ns.tolist(),
        trace.size.tolist(),
        trace.priority.tolist(),
        [None if i < 0 else trace.sources[i] for i in trace.source_idx.tolist()],
        trace.category_idx.tolist(),
    )


def test_csv_with_rfc3339_and_jsonl_with_epoch_give_one_trace(tmp_path: Path) -> None:
    """The same events as CSV with RFC 3339 times and as JSON epoch seconds hash alike."""
    (tmp_path / "log.csv").write_text(
        "ts,subject,size,note\n"
        "2023-11-14T22:13:20.000000001Z,fs.file.created,5,x\n"
        "2023-11-15T00:13:20.25+02:00,sys.metrics,7,\n"
    )
    records = [
        {"ts": "1700000000.000000001", "subject": "fs.file.created", "size": 5},
        {"ts": 1700000000.25, "subject": "sys.metrics", "size": 7},
    ]
    from_csv = import_log(tmp_path / "log.csv", tmp_path / "a.jsonl", ImportOptions()).trace
    from_json = import_records(tmp_path, records)
    assert ([0, 249_999_999], from_json.hash) == (from_csv.t_ns.tolist(), from_csv.hash)


@pytest.mark.parametrize(
    ("unit", "values", "expected"),
    [
        ("s", [T0, T0 + 1], [0, 1_000_000_000]),
        ("ms", [T0 * 1000, T0 * 1000 + 3], [0, 3_000_000]),
        ("ns", [5, 17], [0, 12]),
        ("s", ["2024-02-29T23:59:59.999999999Z", "2024-03-01T00:00:00Z"], [0, 1]),
        ("s", ["2024-01-01T01:00:00+01:00", "2024-01-01T00:00:01Z"], [0, 1_000_000_000]),
    ],
)
def test_timestamps_epoch_units_and_rfc3339(
    tmp_path: Path, unit: str, values: list[Any], expected: list[int]
) -> None:
    """Epoch numbers in --ts-unit and RFC 3339 with any offset land on the same nanoseconds."""
    records = [{"ts": v, "subject": "a.b", "size": 1} for v in values]
    assert expected == import_records(tmp_path, records, ts_unit=unit).t_ns.tolist()


@pytest.mark.parametrize(
    ("record", "needle"),
    [
        ({"ts": "2024-01-01T00:00:00", "subject": "a.b", "size": 1}, "has no zone"),
        ({"ts": "yesterday", "subject": "a.b", "size": 1}, "neither an epoch number nor"),
        ({"ts": "2024-13-01T00:00:00Z", "subject": "a.b", "size": 1}, "month must be in 1..12"),
        ({"subject": "a.b", "size": 1}, "no ts"),
        ({"ts": T0, "subject": "a..b", "size": 1}, "subject 'a..b' has an empty token"),
        ({"ts": T0, "subject": "fs.*", "size": 1}, "wildcards belong in patterns only"),
        ({"ts": T0, "subject": "a b", "size": 1}, "contains whitespace"),
        ({"ts": T0, "subject": 7, "size": 1}, "subject must be a string"),
        ({"ts": T0, "subject": "a.b"}, "neither size nor payload"),
        ({"ts": T0, "subject": "a.b", "size": -1}, "size must be in 0.."),
        ({"ts": T0, "subject": "a.b", "size": 1.5}, "size must be a whole number, got 1.5"),
        ({"ts": T0, "subject": "a.b", "size": 2, "payload": "abc"}, "size 2 but the payload"),
        ({"ts": T0, "subject": "a.b", "size": 1, "priority": 4}, "priority must be in 0..3"),
        ({"ts": T0, "subject": "a.b", "size": 1, "category": "fs"}, "unknown category 'fs'"),
        ({"ts": T0, "subject": "a.b", "size": 1, "source": 3}, "source must be a string"),
    ],
)
def test_a_bad_line_stops_the_import_naming_its_line(
    tmp_path: Path, record: dict[str, Any], needle: str
) -> None:
    """The first bad line ends the import with file:line and the reason; nothing is written."""
    records = [*log_records(3), record, *log_records(2)]
    with pytest.raises(TraceImportError) as info:
        import_records(tmp_path, records)
    message = str(info.value)
    assert (
        "log.jsonl:4: " in message,
        needle in message,
        (tmp_path / "trace.jsonl").exists(),
    ) == (True, True, False), message


def test_broken_json_lines_are_bad_lines(tmp_path: Path) -> None:
    """A line that is not JSON, or not an object, is named; blank lines are skipped."""
    src = tmp_path / "log.jsonl"
    good = json.dumps(log_records(1)[0])
    src.write_text(f"{good}\n\n{{nope\n[1, 2]\n{good}\n")
    report = import_log(src, tmp_path / "t.jsonl", ImportOptions(skip_bad=True))
    assert (report.events, report.bad_reasons, len(report.examples)) == (2, {"json": 2}, 2)
    prefixes = [f"{src}:3: not JSON: ", f"{src}:4: not a JSON object: "]
    assert [e.startswith(p) for e, p in zip(report.examples, prefixes, strict=True)] == [True] * 2


def test_skip_bad_counts_by_field_and_keeps_the_rest(tmp_path: Path) -> None:
    """--skip-bad imports every good line and counts the bad ones by the field at fault."""
    records = log_records(10)
    records[2]["subject"] = "bad..subject"
    records[5]["ts"] = "later"
    records[7]["size"] = "big"
    records[8]["subject"] = "also..bad"
    src = write_jsonl(tmp_path / "log.jsonl", records)
    report = import_log(src, tmp_path / "t.jsonl", ImportOptions(skip_bad=True))
    assert (
        report.events,
        report.bad,
        report.bad_reasons,
    ) == (6, 4, {"subject": 2, "ts": 1, "size": 1})
    assert [int(e.split(":")[1]) for e in report.examples] == [3, 6, 8, 9]


def test_only_bad_lines_is_an_error(tmp_path: Path) -> None:
    """--skip-bad over a log with no good line still fails, saying so."""
    src = write_jsonl(tmp_path / "log.jsonl", [{"ts": T0, "subject": "x..y", "size": 1}])
    with pytest.raises(TraceImportError, match="nothing to import \\(all 1 lines were bad\\)"):
        import_log(src, tmp_path / "t.jsonl", ImportOptions(skip_bad=True))


def test_csv_bad_rows_are_named_by_line(tmp_path: Path) -> None:
    """A CSV row with a missing cell or a bad value is named by its line number."""
    (tmp_path / "log.csv").write_text(
        "ts,subject,size\n1,a.b,1\n2,a.b\n3,a..b,1\n4,a.b,x\n5,a.b,2\n"
    )
    report = import_log(tmp_path / "log.csv", tmp_path / "t.jsonl", ImportOptions(skip_bad=True))
    lines = [int(e.split(":")[1]) for e in report.examples]
    assert (
        report.events,
        lines,
        report.bad_reasons,
    ) == (2, [3, 4, 5], {"csv": 1, "subject": 1, "size": 1})


def test_csv_header_must_name_the_needed_columns(tmp_path: Path) -> None:
    """A CSV without ts, subject, or size/payload is refused naming what is missing."""
    (tmp_path / "log.csv").write_text("time,topic,bytes\n1,a.b,1\n")
    with pytest.raises(TraceImportError) as info:
        import_log(tmp_path / "log.csv", tmp_path / "t.jsonl", ImportOptions())
    assert "lacks ts, subject, size or payload (it has time, topic, bytes" in str(info.value)


def test_map_renames_csv_columns(tmp_path: Path) -> None:
    """--map COLUMN=FIELD reads a CSV whose columns have other names."""
    (tmp_path / "log.csv").write_text("time,topic,bytes\n1,a.b,1\n3,c.d,2\n")
    mapping = parse_map(["time=ts", "topic=subject", "bytes=size"])
    trace = import_log(
        tmp_path / "log.csv", tmp_path / "t.jsonl", ImportOptions(mapping=mapping)
    ).trace
    assert (trace.t_ns.tolist(), trace.subjects) == ([0, 2_000_000_000], ("a.b", "c.d"))


def test_map_follows_paths_into_nested_json(tmp_path: Path) -> None:
    """Dotted keys, list indexes and quoted keys reach fields of other log shapes."""
    records = [
        {
            "@timestamp": "2024-01-01T00:00:00Z",
            "event": {"topic": "app.login", "tags": ["x", {"bytes": 12}]},
            "meta": {"svc.name": "auth"},
        },
        {
            "@timestamp": "2024-01-01T00:00:01Z",
            "event": {"topic": "app.logout", "tags": ["x", {"bytes": 3}]},
            "meta": {"svc.name": "web"},
        },
    ]
    specs = ["@timestamp=ts", "$.event.topic=subject", "event.tags[1].bytes=size"]
    mapping = parse_map([*specs, 'meta["svc.name"]=source'])
    trace = import_records(tmp_path, records, mapping=mapping)
    assert (
        trace.size.tolist(),
        trace.sources,
        trace.subjects,
    ) == ([12, 3], ("auth", "web"), ("app.login", "app.logout"))


@pytest.mark.parametrize(
    ("specs", "needle"),
    [
        (["a.b"], "--map must be PATH=FIELD"),
        (["a=colour"], "unknown field 'colour'"),
        (["a=ts", "b=ts"], "field 'ts' is mapped twice"),
        (["a..b=ts"], "is not a field path"),
    ],
)
def test_bad_map_options_are_refused(specs: list[str], needle: str) -> None:
    """--map refuses a missing '=', an unknown field, a field mapped twice and a bad path."""
    with pytest.raises(ConfigError) as info:
        parse_map(specs)
    assert needle in str(info.value)


def test_parse_path_steps() -> None:
    """A path splits into keys and indexes."""
    assert parse_path('$.a.b[0]["c.d"].e') == ("a", "b", 0, "c.d", "e")


def test_out_of_order_lines_are_sorted_and_counted(tmp_path: Path) -> None:
    """Events are sorted by time (stable for ties) and the count of backward steps reported."""
    records = [
        {"ts": T0 + 2, "subject": "a.x", "size": 1},
        {"ts": T0, "subject": "a.y", "size": 2},
        {"ts": T0 + 1, "subject": "a.z", "size": 3},
        {"ts": T0 + 1, "subject": "a.w", "size": 4},
    ]
    src = write_jsonl(tmp_path / "log.jsonl", records)
    report = import_log(src, tmp_path / "t.jsonl", ImportOptions())
    trace = read_trace(tmp_path / "t.jsonl")
    assert (
        report.out_of_order,
        trace.size.tolist(),
        (trace.t_ns // 1_000_000_000).tolist(),
    ) == (1, [2, 3, 4, 1], [0, 1, 1, 2])


def test_categories_come_from_the_line_or_the_longest_prefix(tmp_path: Path) -> None:
    """Without a category, the longest [categories] prefix decides, else the default."""
    categories = CategoryMap(
        default="system", prefixes={"app.": "service", "app.billing.": "database"}
    )
    records = [
        {"ts": T0, "subject": "app.login", "size": 1},
        {"ts": T0, "subject": "app.billing.paid", "size": 1},
        {"ts": T0, "subject": "zzz.other", "size": 1},
        {"ts": T0, "subject": "app.billing.paid", "size": 1, "category": "external"},
    ]
    trace = import_records(tmp_path, records, categories=categories)
    names = [list(Category)[i].value for i in trace.category_idx.tolist()]
    assert names == ["service", "database", "system", "external"]


def test_with_payloads_keeps_the_bytes(tmp_path: Path) -> None:
    """--with-payloads writes each payload base64 and the trace reads them back."""
    records = [
        {"ts": T0, "subject": "a.b", "payload": "hi"},
        {"ts": T0 + 1, "subject": "a.b", "payload": {"n": 1}},
    ]
    import_records(tmp_path, records, with_payloads=True)
    line = json.loads((tmp_path / "trace.jsonl").read_text().splitlines()[1])
    trace = read_trace(tmp_path / "trace.jsonl")
    assert (
        base64.b64decode(line["payload"]),
        trace.payloads,
        trace.size.tolist(),
    ) == (b"hi", (b"hi", b'{"n":1}'), [2, 7])


def test_with_payloads_needs_every_payload(tmp_path: Path) -> None:
    """A line with a size but no payload is bad under --with-payloads."""
    records = [{"ts": T0, "subject": "a.b", "size": 3}]
    with pytest.raises(TraceImportError, match=r"log\.jsonl:1: no payload"):
        import_records(tmp_path, records, with_payloads=True)


def test_phase_marks_and_an_implicit_start(tmp_path: Path) -> None:
    """--phase marks become the header's phases; a first mark after 0 gets a 'start' phase."""
    trace = import_records(tmp_path, log_records(500), phases=(("peak", 2.0), ("calm", 4.0)))
    marks = [(m.name, m.start_ns) for m in trace.header.phases]
    assert marks == [("start", 0), ("peak", 2_000_000_000), ("calm", 4_000_000_000)]


def test_a_trace_is_not_imported_again(tmp_path: Path) -> None:
    """Importing a trace file is refused with a hint."""
    import_records(tmp_path, log_records(3))
    with pytest.raises(TraceImportError, match="already a Switchyard trace"):
        import_log(tmp_path / "trace.jsonl", tmp_path / "again.jsonl", ImportOptions())


def test_gzip_input_and_large_counts(tmp_path: Path) -> None:
    """A .gz log reads like the plain one; several chunks of lines keep their order."""
    import gzip

    records = log_records(40_000, step_s=0.001)
    body = "".join(json.dumps(r) + "\n" for r in records).encode()
    (tmp_path / "log.jsonl.gz").write_bytes(gzip.compress(body))
    report = import_log(tmp_path / "log.jsonl.gz", tmp_path / "t.jsonl", ImportOptions())
    t = report.trace.t_ns
    assert (len(t), report.out_of_order, bool(np.all(np.diff(t) > 0))) == (40_000, 0, True)
