"""python -m workload trace import|info, preview --trace: output, --scenarios, errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from workload.cli import main
from workload.traces import Transform, read_trace, trace_schedule

from .tracekit import T0, log_records, small_trace, write_jsonl

CUSTOM = """
[profiles.tiny]
services = 2
payload_bytes = 64
base_rate = 10.0
duration_s = 2.0

[categories]
default = "system"
[categories.prefixes]
"app." = "database"
"""


def test_import_then_preview(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """import writes and reports the trace; preview --trace shows time, mixes, sizes, hash."""
    src = write_jsonl(tmp_path / "log.jsonl", log_records(300))
    out = tmp_path / "t.jsonl"
    code_import = main(["trace", "import", str(src), "--out", str(out)])
    imported = capsys.readouterr().out
    code_preview = main(["preview", "--trace", str(out), "--profile", "light", "--scale", "2"])
    shown = capsys.readouterr().out
    trace = read_trace(out)
    schedule = trace_schedule(trace, profile="light", transform=Transform(scale=2.0))
    needles = [
        "events 300 over 2.99 s",
        "replay: speed 1, scale 2, window 0:2.99 s, seed 1: events 600",
        "w01",
        "w10",
        "filesystem",
        "app.",
        "payload bytes: p50",
        "expected deliveries per event",
        f"schedule hash {schedule.hash}",
    ]
    assert (0, 0, f"trace hash {trace.hash}", []) == (
        code_import,
        code_preview,
        imported.strip().splitlines()[-1],
        [n for n in needles if n not in shown],
    )


def test_skip_bad_reports_counts_and_examples(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--skip-bad prints how many lines were skipped, by field, with the first examples."""
    records = log_records(20)
    records[4]["subject"] = "x..y"
    src = write_jsonl(tmp_path / "log.jsonl", records)
    code = main(["trace", "import", str(src), "--out", str(tmp_path / "t.jsonl"), "--skip-bad"])
    out = capsys.readouterr().out
    assert (
        code,
        "skipped 1 bad lines (1 subject); first:" in out,
        f"  {src}:5: subject 'x..y' has an empty token" in out,
    ) == (0, True, True)


def test_bad_line_exits_2_with_one_line(tmp_path: Path) -> None:
    """`python -m workload trace import` stops at a bad line: exit 2, one stderr line, no file."""
    records = log_records(5)
    records[2]["ts"] = "noon"
    src = write_jsonl(tmp_path / "log.jsonl", records)
    out = tmp_path / "t.jsonl"
    proc = subprocess.run(
        [sys.executable, "-m", "workload", "trace", "import", str(src), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    lines = proc.stderr.strip().splitlines()
    assert (proc.returncode, len(lines), out.exists()) == (2, 1, False), proc.stderr
    assert lines[0].startswith(f"error: {src}:3: ts 'noon' is neither an epoch number")


def test_info_checks_and_summarises(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """trace info verifies the hash and prints the header and the category mix."""
    trace = small_trace(tmp_path, n=8)
    code = main(["trace", "info", str(tmp_path / "small.jsonl")])
    out = capsys.readouterr().out
    assert (
        code,
        f"{tmp_path / 'small.jsonl'}: switchyard.trace/1, 8 events, hash verified" in out,
        "filesystem 25.0%" in out and "(0 events carry their own" in out,
    ) == (0, True, True)
    assert trace.hash


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["preview", "--trace", "T", "--duration", "3"], "--duration applies to --pattern only"),
        (["preview", "--pattern", "spike", "--scale", "2"], "--scale applies to --trace only"),
        (["preview", "--trace", "T", "--speed", "0"], "speed must be > 0"),
        (["preview", "--trace", "T", "--window", "9:"], "window 9:3.99 s is empty"),
        (["preview", "--trace", "missing.jsonl"], "missing.jsonl: No such file"),
        (["trace", "info", "LOG"], "not a Switchyard trace"),
        (["trace", "import", "LOG", "--out", "OUT", "--map", "a=b"], "unknown field 'b'"),
        (["trace", "import", "LOG", "--out", "OUT", "--phase", "x"], "--phase must be"),
        (["trace", "import", "T", "--out", "OUT"], "already a Switchyard trace"),
    ],
)
def test_errors_are_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], needle: str
) -> None:
    """Bad options, files and traces give exit 2 and one line on stderr."""
    small_trace(tmp_path)
    write_jsonl(tmp_path / "log.jsonl", log_records(3))
    names = {"T": str(tmp_path / "small.jsonl"), "LOG": str(tmp_path / "log.jsonl")}
    names["OUT"] = str(tmp_path / "out.jsonl")
    argv = [names.get(a, a) for a in argv]
    code = main(argv)
    err = capsys.readouterr().err
    assert (code, len(err.strip().splitlines()), needle in err) == (2, 1, True), err


def test_scenarios_file_reaches_every_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--scenarios PATH brings its profiles to preview and its [categories] to import."""
    custom = tmp_path / "mine.toml"
    custom.write_text(CUSTOM)
    src = write_jsonl(
        tmp_path / "log.jsonl",
        [{"ts": T0 + i, "subject": s, "size": 1} for i, s in enumerate(["app.a", "zz.b"])],
    )
    out = tmp_path / "t.jsonl"
    codes = [
        main(["preview", "--pattern", "steady", "--profile", "tiny", "--scenarios", str(custom)]),
        main(["trace", "import", str(src), "--out", str(out), "--scenarios", str(custom)]),
        main(["preview", "--trace", str(out), "--profile", "tiny", "--config", str(custom)]),
        main(["trace", "info", str(out), "--scenarios", str(custom)]),
    ]
    text = capsys.readouterr().out
    assert (
        codes,
        "profile tiny (2 services, 64 B payloads" in text,
        "database 50.0%, external 0.0%, mcp 0.0%, service 0.0%, system 50.0%" in text,
        "services 2, expected deliveries per event" in text,
    ) == ([0, 0, 0, 0], True, True, True)


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (None, "no such config file"),
        (CUSTOM.replace('"system"', '"nope"'), "categories.default: unknown category 'nope'"),
        ("[profiles.p]\nservices = 0\n", "[profiles.p]"),
    ],
)
def test_bad_scenarios_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], body: str | None, needle: str
) -> None:
    """A missing or invalid --scenarios file is reported as today, one line, exit 2."""
    path = tmp_path / "s.toml"
    if body is not None:
        path.write_text(body)
    log = write_jsonl(tmp_path / "log.jsonl", log_records(3))
    codes = [
        main(["preview", "--pattern", "steady", "--scenarios", str(path)]),
        main(["trace", "import", str(log), "--out", str(tmp_path / "x"), "--scenarios", str(path)]),
    ]
    err = capsys.readouterr().err.strip().splitlines()
    assert (codes, len(err), all(needle in line for line in err)) == ([2, 2], 2, True), err


def test_help_explains_the_trace_commands() -> None:
    """--help of trace import describes inputs, --map, bad lines and where the format lives."""
    proc = subprocess.run(
        [sys.executable, "-m", "workload", "trace", "import", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    needles = ["RFC 3339", "--map PATH=FIELD", "--skip-bad", "docs/traces.md", "[categories]"]
    assert (proc.returncode, [n for n in needles if n not in proc.stdout]) == (0, [])
