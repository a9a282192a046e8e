"""End to end: your own traffic (--trace), mix (--scenarios) and handlers (--services).

The commands run in this process through the CLI entry point; ``compare``'s runs
are real subprocesses, so what they record proves the options reached the workers.
``load`` drives a real daemon subprocess. Nothing here asserts on timing.
"""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest

from bench.cli import main
from bench.http.driver import LoadResult
from bench.schema import CompareResult, decode_run, load_compare
from tests.bench import service_factories
from tests.bench.tracebench import custom_scenarios, steady_trace
from tests.daemon.server.support import final_report, start_daemon, stop, write_config
from workload import load_scenarios
from workload.traces import ImportOptions, Transform, import_log, read_trace, trace_schedule

ROOT = Path(__file__).resolve().parents[3]


def _log(path: Path, events: int, rate: float) -> Path:
    """A JSON-lines application log: epoch-second timestamps, subjects, payload sizes."""
    subjects = ["fs.file.created", "db.row.updated.documents", "mcp.tool.called.git", "app.login"]
    lines = [
        json.dumps({"ts": 1_700_000_000 + i / rate, "subject": subjects[i % 4], "size": 200 + i})
        for i in range(events)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def _hard_failures(result: CompareResult) -> list[str]:
    return [
        f"{rec.arch}: {gate.name}"
        for rec in result.runs
        for gate in rec.result.gates
        if not gate.passed and gate.scope == "all"
    ]


@pytest.mark.timeout(180)
def test_compare_replays_an_imported_trace_scaled_with_your_scenarios(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """compare --trace --scale 2 --scenarios: every run replays the imported trace doubled,
    on the custom file's profile, records the trace's name and hash, and reports per window."""
    monkeypatch.setenv("CI", "true")
    monkeypatch.chdir(ROOT)
    trace_path = tmp_path / "today.trace.jsonl"
    import_log(_log(tmp_path / "app.jsonl", 400, 200.0), trace_path, ImportOptions(name="today"))
    scenarios = custom_scenarios(tmp_path)
    out = tmp_path / "compare.json"
    code = main([
        "compare", "--trace", str(trace_path), "--scale", "2", "--window", "0:0.5",
        "--scenarios", str(scenarios), "--profile", "tiny", "--arch", "coordinator,daemon",
        "--runs", "2", "--max-runs", "2", "--warmup", "0", "--json", str(out),
    ])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.out + captured.err
    result = load_compare(out)
    trace = read_trace(trace_path)
    expected = trace_schedule(
        trace, profile="tiny", scenarios=load_scenarios(scenarios),
        transform=Transform(scale=2.0, window_start_s=0.0, window_end_s=0.5, seed=1),
    )  # fmt: skip
    assert (result.settings.pattern, result.environment.schedule_hash) == (
        "trace:today",
        expected.hash,
    )
    assert _hard_failures(result) == []
    for record in result.runs:
        run = record.result
        assert run.spec.trace is not None
        assert (run.spec.trace.name, run.spec.trace.hash, run.spec.trace.scale) == (
            "today",
            trace.hash,
            2.0,
        )
        assert (run.spec.profile, run.spec.scenarios) == ("tiny", str(scenarios.resolve()))
        assert (run.events, run.accounting.bench_completions) == (
            len(expected),
            run.accounting.delivered,
        )
        assert [p.name for p in run.phases] == [f"w{i:02d}" for i in range(1, 11)]
    assert "replaying trace today" in captured.err


@pytest.mark.timeout(120)
def test_compare_with_the_example_services(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """compare --services examples.services:make_handler: the example's handlers serve both
    architectures; every delivery completes (they never fail) and is accounted for."""
    monkeypatch.setenv("CI", "true")
    monkeypatch.chdir(ROOT)
    out = tmp_path / "compare.json"
    code = main([
        "compare", "--pattern", "steady", "--profile", "light", "--base-rate", "200",
        "--duration", "0.5", "--arch", "coordinator,daemon", "--runs", "2", "--max-runs", "2",
        "--warmup", "0",
        "--services", "examples.services:make_handler", "--json", str(out),
    ])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.out + captured.err
    result = load_compare(out)
    for record in result.runs:
        acc = record.result.accounting
        assert record.result.spec.services == "examples.services:make_handler"
        assert (acc.delivered, acc.dead_lettered, acc.bench_completions) == (
            acc.deliveries,
            {},
            acc.deliveries,
        )


def test_run_records_the_replay_options_and_calls_your_handlers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """run --trace --speed --scale --window: the result records them, holds the transformed
    trace's events, and your factory's handlers took every delivery."""
    service_factories.BUILT.clear()
    service_factories.CALLS.clear()
    path = steady_trace(tmp_path / "t.jsonl", events=300, rate=100.0)
    out = tmp_path / "run.json"
    code = main([
        "run", "--arch", "null", "--profile", "light", "--trace", str(path), "--speed", "2",
        "--scale", "0.5", "--window", "0.5:2.5", "--seed", "4", "--json", str(out), "--quiet",
        "--services", "tests.bench.service_factories:counting",
    ])  # fmt: skip
    assert code in (0, 3), capsys.readouterr().err  # 3: the generator lagged (a busy machine)
    result = decode_run(out.read_bytes())
    replay = result.spec.trace
    assert replay is not None
    assert (replay.speed, replay.scale, replay.window_start_s, replay.window_end_s) == (
        2.0,
        0.5,
        0.5,
        2.5,
    )
    expected = trace_schedule(
        read_trace(path), profile="light",
        transform=Transform(speed=2.0, scale=0.5, window_start_s=0.5, window_end_s=2.5, seed=4),
    )  # fmt: skip
    assert (result.events, result.schedule_hash, result.window_s) == (
        len(expected),
        expected.hash,
        1.0,
    )
    # Built twice: once as the command checked the factory, once for the run itself.
    seeded = [("datastore", 4), ("inference", 5), ("audit", 6)]
    assert seeded * 2 == service_factories.BUILT
    assert (
        len(service_factories.CALLS) == result.accounting.delivered == result.accounting.deliveries
    )


@pytest.mark.timeout(120)
def test_load_replays_a_trace_against_a_daemon(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """load --trace against a daemon subprocess: every replayed event is sent, accepted and
    delivered; the result names the trace and reports its windows."""
    path = steady_trace(tmp_path / "t.jsonl", events=200, rate=200.0)
    sink = '\n[[handlers]]\nservice = "sink"\npattern = ">"\n'
    sink += 'factory = "daemon.server.subscribers.simulated:sink"\n'
    proc, base = start_daemon(write_config(tmp_path, sink))
    out = tmp_path / "load.json"
    try:
        code = main([
            "load", "--url", base, "--trace", str(path), "--scale", "2",
            "--max-lag-ms", "1e6", "--json", str(out),
        ])  # fmt: skip
        proc.terminate()
        report = final_report(proc)
    finally:
        stop(proc)
    assert code == 0, capsys.readouterr().out
    result = msgspec.json.decode(out.read_bytes(), type=LoadResult)
    assert result.config.trace is not None
    assert (result.config.pattern, result.config.trace.hash) == (
        "trace:steady",
        read_trace(path).hash,
    )
    assert (result.outcomes, result.delivered) == ({"202": result.events}, result.events)
    assert result.events == report["accepted"] == 400
    assert [p.name for p in result.phases] == [f"w{i:02d}" for i in range(1, 11)]
