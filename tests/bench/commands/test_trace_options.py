"""--trace, --scenarios and --services on the bench commands: bad input exits 2 before any run."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.cli import main
from events.errors import ConfigError
from tests.bench.tracebench import steady_trace
from workload import load_scenarios


@pytest.fixture
def trace(tmp_path: Path) -> Path:
    return steady_trace(tmp_path / "today.trace.jsonl", events=200, rate=100.0)


def _error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    return err.strip()


@pytest.mark.parametrize("command", ["run", "compare", "load"])
def test_pattern_and_trace_exclude_each_other(
    command: str, trace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--pattern with --trace is a usage error naming both (argparse, exit 2)."""
    with pytest.raises(SystemExit) as caught:
        main([command, "--pattern", "steady", "--trace", str(trace)])
    assert caught.value.code == 2
    assert "argument --trace: not allowed with argument --pattern" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "traced", "message"),
    [
        (["compare", "--speed", "2"], False, "--speed applies to --trace only"),
        (["run", "--window", "0:1"], False, "--window applies to --trace only"),
        (["compare", "--base-rate", "100"], True, "--base-rate applies to --pattern only"),
        (["compare", "--duration", "2"], True, "--duration applies to --pattern only"),
        (["compare", "--scale", "0"], True, "scale must be > 0, got 0.0"),
        (["run", "--window", "5:9"], True, "window 5:1.99 s is empty (the trace lasts 1.99 s)"),
        (["compare", "--profile", "tiny"], True, "unknown profile 'tiny': use one of light,"),
        (["load", "--speed", "-1"], True, "speed must be > 0, got -1.0"),
        (["capacity", "--start", "100"], True, "--start applies without --trace"),
        (["capacity", "--windows", "2"], True, "capacity --trace judges backlog growth over"),
    ],
)
def test_bad_replay_options_are_refused(
    argv: list[str], traced: bool, message: str, trace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Replay options without a trace, pattern options with one, bad values: one line, exit 2."""
    if traced:
        argv = [*argv, "--trace", str(trace)]
    assert _error(argv, capsys).startswith("error: " + message)


def test_a_missing_trace_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A trace that is not there: the error names the file."""
    missing = tmp_path / "missing.jsonl"
    assert str(missing) in _error(["compare", "--trace", str(missing)], capsys)


@pytest.mark.parametrize(
    "command",
    [
        ["run"],
        ["compare"],
        ["capacity"],
        ["scalability"],
        ["load"],
        ["memory"],
        ["suite", "--quick"],
    ],
)
def test_a_bad_scenarios_file_gets_the_workload_message(
    command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--scenarios is checked as the workload checks it: the same message, file and table."""
    bad = tmp_path / "bad.toml"
    bad.write_text("[mix]\nfilesystem = -1\n[profiles.light]\nservices = 1\n")
    with pytest.raises(ConfigError) as expected:
        load_scenarios(bad)
    argv = [*command, "--scenarios", str(bad)]
    if command[0] == "suite":
        argv += ["--out", str(tmp_path / "s")]
    assert _error(argv, capsys) == f"error: {expected.value}"
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        ("tests.bench.service_factories:sync_handler", "the factory returned function for"
         " service 'datastore', not an async handler"),
        ("tests.bench.nowhere:f", "cannot import 'tests.bench.nowhere'"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("command", ["run", "compare", "capacity"])
def test_a_bad_services_factory_is_refused_before_any_run(
    command: str, factory: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """--services module:factory that does not import or gives no async handler: exit 2."""
    argv = [command, "--profile", "light", "--services", factory]
    assert _error(argv, capsys).startswith(f"error: --services {factory}: {message}")
