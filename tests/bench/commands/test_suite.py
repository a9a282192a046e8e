"""The suite's plan: every pattern compared per profile, capacity when present, memory."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

import workload
from bench.cli import main
from bench.commands import suite as cmd_suite
from events.config import CONFIG_DIR


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cmd_suite.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_quick_plan_runs_smoke_then_every_pattern_then_memory(tmp_path: Path) -> None:
    """Quick mode: the smoke scenario with an outage first, then one compare per pattern on
    light, capacity --quick if installed, memory last."""
    steps = cmd_suite.steps(cmd_suite.QUICK, _args("--quick"), tmp_path)
    labels = [s.label for s in steps]
    expected = [f"compare {p}/light" for p in workload.PATTERNS if p != "smoke"]
    smoke = steps[0].argv
    assert (labels[0], ["smoke", "smoke"], True) == (
        "compare smoke (with an outage)",
        [smoke[smoke.index("--profile") + 1], smoke[smoke.index("--pattern") + 1]],
        "--outage" in smoke,
    )
    assert labels[1 : len(expected) + 1] == expected
    assert labels[-1] == "memory"
    capacity = [s for s in steps if s.label.startswith("capacity")]
    assert all("--quick" in s.argv for s in capacity)


def test_each_step_writes_json_into_the_output_folder(tmp_path: Path) -> None:
    """Every step names a JSON output inside --out, passed to its command."""
    steps = cmd_suite.steps(cmd_suite.FULL, _args("--full", "--no-capacity"), tmp_path)
    outputs = [(Path(s.output).parent, s.output in s.argv) for s in steps]
    assert outputs == [(tmp_path, True)] * len(steps)


def test_unknown_profile_exits_2_before_running(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A profile that does not exist is refused with exit 2 and nothing is run."""
    code = main(["suite", "--quick", "--profile", "nope", "--out", str(tmp_path / "s")])
    assert (code, "unknown profile nope" in capsys.readouterr().err) == (2, True)
    assert not (tmp_path / "s").exists()


def test_a_mode_is_required() -> None:
    """Without --quick or --full the suite does not start (argparse exit 2)."""
    with pytest.raises(SystemExit) as exc:
        main(["suite"])
    assert exc.value.code == 2


def test_every_step_reads_the_same_scenarios_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--scenarios reaches every step (compare, capacity, memory) as an absolute path; the
    smoke step reads it too when it defines the smoke profile."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine.toml").write_text((CONFIG_DIR / "scenarios.toml").read_text())
    args = _args("--quick", "--scenarios", "mine.toml")
    steps = cmd_suite.steps(cmd_suite.QUICK, args, tmp_path)
    given = {s.argv[s.argv.index("--scenarios") + 1] for s in steps}
    assert given == {str(tmp_path.resolve() / "mine.toml")}
