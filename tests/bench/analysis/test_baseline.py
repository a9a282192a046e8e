"""Baselines: save, load, judge; a slower build of the same architecture exits 4."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from bench import exits
from bench.analysis import baseline
from bench.cli import main
from tests.bench.report.support import EXTRA_MS_ENV, TUNABLE, comparison, write


@pytest.fixture
def fast_file(tmp_path: Path) -> Path:
    return write(comparison((TUNABLE,)), tmp_path / "fast.json")


def test_slower_architecture_against_saved_baseline_exits_4(
    tmp_path: Path, fast_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A build whose handlers wait 4 ms more is a confirmed regression: exit 4."""
    folder = tmp_path / "baselines"
    assert main(["baseline", "save", "before", "--from", str(fast_file), "--dir", str(folder)]) == 0
    monkeypatch.setenv(EXTRA_MS_ENV, "4")
    slow = write(comparison((TUNABLE,)), tmp_path / "slow.json")
    code = main(["baseline", "check", "before", "--from", str(slow), "--dir", str(folder)])
    assert code == exits.EXIT_REGRESSION


def test_same_results_are_no_regression(tmp_path: Path, fast_file: Path) -> None:
    """The saved results judged against themselves give ratio 1 and no regression."""
    folder = tmp_path / "b"
    assert main(["baseline", "save", "same", "--from", str(fast_file), "--dir", str(folder)]) == 0
    verdicts, regression, warnings = baseline.compare_to_baseline(
        comparison((TUNABLE,)), "same", where=folder
    )
    assert (regression, warnings) == (False, [])
    assert {1.0} == {round(v.ratio, 9) for v in verdicts if v.ratio is not None}
    assert main(["baseline", "check", "same", "--from", str(fast_file), "--dir", str(folder)]) == 0


def test_other_environment_is_refused_unless_allowed(tmp_path: Path) -> None:
    """A different CPU count refuses the judgement; allow_mismatch turns it into a warning."""
    result = comparison((TUNABLE,))
    baseline.save("env", result, tmp_path)
    other = msgspec.structs.replace(
        result,
        environment=msgspec.structs.replace(
            result.environment, cpu_count=result.environment.cpu_count + 6
        ),
    )
    with pytest.raises(baseline.BaselineMismatch, match="cpu_count"):
        baseline.compare_to_baseline(other, "env", where=tmp_path)
    _, regression, warnings = baseline.compare_to_baseline(
        other, "env", where=tmp_path, allow_mismatch=True
    )
    assert (regression, len([w for w in warnings if "cpu_count" in w])) == (False, 1)


def test_other_workload_is_refused(tmp_path: Path) -> None:
    """Results of another pattern cannot be judged against the baseline."""
    result = comparison((TUNABLE,))
    baseline.save("wl", result, tmp_path)
    other = msgspec.structs.replace(
        result, settings=msgspec.structs.replace(result.settings, pattern="steady")
    )
    with pytest.raises(baseline.BaselineMismatch, match="another workload"):
        baseline.compare_to_baseline(other, "wl", where=tmp_path)


@pytest.mark.parametrize("name", ["../escape", "", "a/b", "x" * 65])
def test_bad_names_exit_2(tmp_path: Path, fast_file: Path, name: str) -> None:
    """A name that is not a plain file stem is refused with exit 2, nothing written."""
    code = main(["baseline", "save", name, "--from", str(fast_file), "--dir", str(tmp_path / "b")])
    assert (code, (tmp_path / "b").exists()) == (2, False)


def test_missing_baseline_exits_2(tmp_path: Path, fast_file: Path) -> None:
    """Checking against a baseline never saved is a usage error naming the folder."""
    code = main(["baseline", "check", "nope", "--from", str(fast_file), "--dir", str(tmp_path)])
    assert code == 2


def test_round_trip_keeps_fingerprint(tmp_path: Path) -> None:
    """A saved baseline loads back with the environment fingerprint and the same runs."""
    result = comparison((TUNABLE,))
    baseline.save("rt", result, tmp_path)
    record = baseline.load("rt", tmp_path)
    expected = (baseline.fingerprint(result.environment), len(result.runs))
    assert expected == (record.fingerprint, len(record.comparison.runs))
