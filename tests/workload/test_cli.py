"""python -m workload preview: output, files and one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from workload import PATTERNS, build_schedule, read_schedule
from workload.cli import main


def test_preview_prints_phases_mix_count_and_hash(capsys: pytest.CaptureFixture[str]) -> None:
    """Preview shows every phase, every category, the event count and the schedule hash."""
    code = main(["preview", "--pattern", "spike", "--profile", "light", "--seed", "3"])
    out = capsys.readouterr().out
    s = build_schedule(3, "light", "spike")
    needles = [p.name for p in s.phases] + [c.value for c in s.categories]
    needles += [f"events {len(s):,} ", f"schedule hash {s.hash}"]
    assert (code, [n for n in needles if n not in out]) == (0, [])


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--pattern", "sawtooth"], "valid patterns: " + ", ".join(PATTERNS)),
        (["--pattern", "spike", "--profile", "huge"], "valid profiles: light, medium"),
        (["--pattern", "spike", "--out", "x.csv"], "use .jsonl or .msgpack"),
        (["--pattern", "spike", "--duration", "0"], "duration_s must be > 0"),
    ],
)
def test_errors_are_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], needle: str
) -> None:
    """Unknown names and bad options give exit 2 and one line on stderr."""
    code = main(["preview", *argv])
    err = capsys.readouterr().err
    assert (code, len(err.strip().splitlines()), needle in err) == (2, 1, True)


def test_out_writes_a_readable_schedule(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--out FILE.msgpack writes the previewed schedule, hash intact."""
    path = tmp_path / "s.msgpack"
    code = main(["preview", "--pattern", "burst", "--profile", "light", "--out", str(path)])
    capsys.readouterr()
    assert (0, build_schedule(1, "light", "burst").hash) == (code, read_schedule(path).hash)


def test_module_entry_point_has_no_traceback() -> None:
    """`python -m workload` with a bad pattern exits 2 with a single error line."""
    proc = subprocess.run(
        [sys.executable, "-m", "workload", "preview", "--pattern", "nope"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert (2, "", ["error: unknown pattern 'nope'; valid patterns: " + ", ".join(PATTERNS)]) == (
        proc.returncode,
        proc.stdout,
        proc.stderr.strip().splitlines(),
    )
