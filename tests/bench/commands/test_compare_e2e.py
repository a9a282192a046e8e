"""End to end: ``python -m bench compare``, short and at a small rate.

The command itself runs in this process (through the CLI entry point, exit code
and all); its runs are real subprocesses, as always.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.cli import main
from bench.schema import SCHEMA, CompareResult, load_compare
from tests.bench.report.support import EXTRA_MS_ENV, TUNABLE

ROOT = Path(__file__).resolve().parents[3]
SHORT = ["--profile", "light", "--pattern", "steady", "--base-rate", "200", "--duration", "0.5"]


class Outcome:
    def __init__(self, returncode: int, stdout: str, stderr: str) -> None:
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr


def _compare(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str
) -> tuple[Outcome, Path]:
    out = tmp_path / "compare.json"
    monkeypatch.setenv("CI", "true")
    monkeypatch.chdir(ROOT)
    code = main(["compare", *SHORT, "--json", str(out), *args])
    captured = capsys.readouterr()
    return Outcome(code, captured.out, captured.err), out


def _hard_failures(result: CompareResult) -> list[str]:
    """Failed gates that void a run (capacity gates depend on how busy the machine is)."""
    return [
        f"{rec.arch}: {gate.name}"
        for rec in result.runs
        for gate in rec.result.gates
        if not gate.passed and gate.scope == "all"
    ]


@pytest.mark.timeout(120)
def test_compare_writes_valid_json_with_both_architectures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two architectures, two runs each: schema-valid JSON, both present, accounting exact."""
    proc, out = _compare(
        tmp_path, capsys, monkeypatch,
        "--arch", "null,tests.bench.known_routers:DelayRouter", "--runs", "2",
        "--max-runs", "2", "--warmup", "0.2", "--markdown", str(tmp_path / "compare.md"),
    )  # fmt: skip
    # A generator that fell behind voids capacity claims only: the comparison stands.
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = load_compare(out)
    assert result.schema == SCHEMA
    archs = ("null", "tests.bench.known_routers:DelayRouter")
    assert archs == result.settings.archs
    assert [sum(1 for r in result.runs if r.arch == a) for a in archs] == [2, 2]
    assert _hard_failures(result) == []
    for record in result.runs:
        acc = record.result.accounting
        assert (acc.delivered, ()) == (acc.bench_completions, acc.identity_errors)
    metrics = {r.metric for r in result.ratios}
    assert {"throughput", "response_p99", "reject_rate", "failure_rate"} <= metrics
    assert "error_rate" not in metrics
    delay = next(r for r in result.ratios if r.metric == "response_p50")
    assert delay.verdict == "worse"
    assert "Ratios against the first architecture" in (tmp_path / "compare.md").read_text()
    assert "block 1/1 warm-up" in proc.stderr  # plain progress lines under CI=true


@pytest.mark.timeout(120)
def test_lossy_router_makes_the_comparison_invalid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A router that loses events yields INVALID runs, their reason, and exit code 3."""
    proc, out = _compare(
        tmp_path,
        capsys,
        monkeypatch,
        "--arch",
        "null,tests.bench.known_routers:LossyRouter",
        "--runs",
        "2",
        "--max-runs",
        "2",
        "--warmup",
        "0",
    )
    assert proc.returncode == 3
    result = load_compare(out)
    lossy = [r.result for r in result.runs if r.arch == "tests.bench.known_routers:LossyRouter"]
    assert [r.valid for r in lossy] == [False, False]
    assert "completions" in proc.stdout
    assert "INVALID" in proc.stdout


@pytest.mark.timeout(120)
def test_a_a_comparison_says_neither_better_nor_worse(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same architecture against itself, seeded, with a generous band: no difference.

    Dispatch lag is left out: it measures the generator's own timer wake-ups
    (sub-millisecond, spread over 1.5x from run to run on this machine), not the
    router, and with three runs a side it alone made this test flaky.
    """
    proc, out = _compare(
        tmp_path, capsys, monkeypatch,
        "--arch", "daemon,daemon", "--runs", "3", "--max-runs", "3", "--warmup", "0",
        "--noise", "0.5",
        "--base-rate", "1000", "--duration", "1",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = load_compare(out)
    assert result.settings.archs == ("daemon", "daemon#2")
    verdicts = {r.metric: r.verdict for r in result.ratios if r.metric != "dispatch_lag_p99"}
    assert {m for m, v in verdicts.items() if v in ("better", "worse")} == set()


@pytest.mark.timeout(180)
def test_compare_against_a_baseline_exits_4_on_a_regression(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """compare --baseline: handlers 4 ms slower than when the baseline was saved is exit 4."""
    folder = tmp_path / "baselines"
    monkeypatch.setenv("SWITCHYARD_BASELINES_DIR", str(folder))
    arch = ("--arch", f"{TUNABLE},{TUNABLE}", "--runs", "3", "--max-runs", "3", "--warmup", "0")
    before, saved = _compare(tmp_path, capsys, monkeypatch, *arch)
    assert before.returncode == 0, before.stdout + before.stderr
    assert main(["baseline", "save", "fast", "--from", str(saved)]) == 0
    monkeypatch.setenv(EXTRA_MS_ENV, "4")
    html = tmp_path / "after.html"
    after, _ = _compare(
        tmp_path, capsys, monkeypatch, *arch, "--baseline", "fast", "--html", str(html)
    )
    assert (after.returncode, "REGRESSION" in after.stdout) == (4, True)
    assert "<svg" in html.read_text()


@pytest.mark.timeout(120)
def test_a_broken_objective_exits_5(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """compare --slo FILE: a 20 ms handler delay breaks 'p50<=5ms', so the exit code is 5."""
    objectives = tmp_path / "slo.toml"
    objectives.write_text('[slo]\nlatency = ["p50<=5ms"]\nerrors = "1%"\n')
    proc, _ = _compare(
        tmp_path, capsys, monkeypatch,
        "--arch", "null,tests.bench.known_routers:DelayRouter", "--runs", "2", "--max-runs", "2",
        "--warmup", "0", "--slo", str(objectives),
    )  # fmt: skip
    assert (proc.returncode, "SLO broken" in proc.stdout) == (5, True)
