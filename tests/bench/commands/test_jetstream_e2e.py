"""End to end on the jetstream architecture: ``compare --arch daemon,jetstream`` with the
bench's own nats-server, runs on a named server leaving nothing behind, and the transport
benchmark's versioned record."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec
import psutil
import pytest

from bench.cli import main
from bench.experiments.transport import SCHEMA as TRANSPORT_SCHEMA
from bench.experiments.transport import TransportResult
from bench.host import external
from bench.host.nats import SERVER_NAME, URL_VARIABLE, list_streams
from bench.schema import load_compare

ROOT = Path(__file__).resolve().parents[3]
SHORT = ["--profile", "light", "--pattern", "steady", "--base-rate", "200", "--duration", "0.5"]


@pytest.mark.timeout(120)
def test_compare_daemon_and_jetstream_runs_on_its_own_server(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two runs each: every run's accounting exact (one process: the identity holds with
    nothing pending), nats-server's CPU recorded per run and judged as cpu_total, and the
    server the command started is gone when it ends."""
    monkeypatch.delenv(URL_VARIABLE, raising=False)
    monkeypatch.delenv(external.VARIABLE, raising=False)
    monkeypatch.setenv("CI", "true")
    monkeypatch.chdir(ROOT)
    out = tmp_path / "compare.json"
    argv = [
        "compare",
        *SHORT,
        "--arch",
        "daemon,jetstream",
        "--runs",
        "2",
        "--max-runs",
        "2",
        "--warmup",
        "0.2",
    ]
    code = main([*argv, "--json", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.out + captured.err
    result = load_compare(out)
    assert [r.arch for r in result.runs].count("jetstream") == 2
    for record in result.runs:
        acc, cpu = record.result.accounting, record.result.resources.external_cpu_s
        assert (acc.identity_errors, acc.pending, acc.unaccounted) == ((), 0, 0)
        assert (acc.bench_completions, acc.drain_completed) == (acc.delivered, True)
        assert SERVER_NAME in cpu
        if record.arch == "jetstream":
            assert cpu[SERVER_NAME] > 0
    assert "cpu_total" in {r.metric for r in result.ratios}
    started = re.search(r"nats-server started at \S+ \(pid (\d+)", captured.err)
    assert started is not None
    assert psutil.pid_exists(int(started.group(1))) is False


@pytest.mark.timeout(60)
def test_a_run_on_a_named_server_leaves_no_stream_behind(
    nats_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """On the server SWITCHYARD_NATS_URL names, a run works in a namespace of its own and
    deletes it when it drains: the next run starts from the same server state."""
    monkeypatch.chdir(ROOT)
    before = list_streams(nats_url)
    code = main(["run", "--arch", "jetstream", *SHORT])
    captured = capsys.readouterr()
    assert (code, "VALID" in captured.out) == (0, True), captured.out + captured.err
    assert "nats-server CPU" in captured.out
    assert before == list_streams(nats_url)


@pytest.mark.timeout(60)
def test_the_transport_benchmark_writes_its_versioned_record(
    nats_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Both sides measured in the same run, every round valid, the server's CPU per event."""
    out = tmp_path / "transport.json"
    argv = ["transport", "--events", "200", "--rounds", "1", "--target", "0"]
    code = main([*argv, "--json", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.out + captured.err
    result = msgspec.json.decode(out.read_bytes(), type=TransportResult)
    kinds = sorted(r.kind for r in result.rounds)
    assert (result.schema, kinds, result.met) == (
        TRANSPORT_SCHEMA,
        ["bare", "router"],
        True,
    )
    assert all(r.valid and r.completed == 200 for r in result.rounds)
    assert all(s.server_us_per_event is not None for s in result.summaries)
    assert "jetstream/bare" in captured.out


def test_transport_rejects_bad_options(capsys: pytest.CaptureFixture[str]) -> None:
    """A non-positive count is one error line and exit code 2 (after the server notice)."""
    assert main(["transport", "--events", "0"]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last == "error: --events must be >= 1, got 0"
