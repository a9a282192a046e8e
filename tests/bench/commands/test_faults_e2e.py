"""``python -m bench faults --short`` end to end: a real daemon subprocess per fault, a witness
process, seeded load over HTTP; nothing the daemon accepted may be lost.

The suite runs once (a module fixture, as a subprocess the way a user types it, with
``--auth`` so the load and status requests go through token authentication) and each
fault is one test of its row.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from bench import exits
from bench.experiments.faults import cases, ledger

ROOT = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.timeout(300)


class Finished(msgspec.Struct, frozen=True):
    code: int
    out: str
    err: str
    report: ledger.FaultsReport


@pytest.fixture(scope="module")
def short_run(tmp_path_factory: pytest.TempPathFactory) -> Finished:
    out = tmp_path_factory.mktemp("faults") / "faults.json"
    argv = [sys.executable, "-m", "bench", "faults", "--short", "--auth", "--json", str(out)]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=280, check=False)
    assert out.exists(), done.stdout + done.stderr
    report = msgspec.json.decode(out.read_bytes(), type=ledger.FaultsReport)
    return Finished(done.returncode, done.stdout, done.stderr, report)


def _row(run: Finished, fault: str) -> ledger.FaultRow:
    rows = {row.fault: row for row in run.report.rows}
    row = rows[fault]
    if row.status == "skip":
        pytest.skip(f"{fault}: {row.reason}")
    return row


@pytest.mark.parametrize(
    "fault",
    list(cases.MEMORY),
)
def test_nothing_accepted_is_lost(short_run: Finished, fault: str) -> None:
    """The fault's row: events were accepted, none is in no place, and the verdict is pass."""
    row = _row(short_run, fault)
    assert row.tally is not None, row.reason
    expected = (0, "pass")
    assert expected == (row.tally.lost, row.status), "\n".join([row.reason, *ledger.notes(row)])
    assert row.tally.accepted > 0


def test_the_record_and_the_exit_code_agree_with_the_rows(short_run: Finished) -> None:
    """Every fault ran, in order, under the versioned schema, with auth on; the printed table has
    one line per fault; the exit code is 0 when all passed, 3 when any failed; progress went to
    stderr."""
    report = short_run.report
    failed = any(row.status == "FAIL" for row in report.rows)
    expected = (
        True,
        ledger.FAULTS_SCHEMA,
        list(cases.MEMORY),
        exits.EXIT_INVALID if failed else exits.EXIT_OK,
        True,
    )
    actual = (
        report.auth,
        report.schema,
        [row.fault for row in report.rows],
        short_run.code,
        all(
            any(line.startswith(f"{r.fault} ") for line in short_run.out.splitlines())
            for r in report.rows
        ),
    )
    assert expected == actual, short_run.err[-3000:]
    assert "[kill-9] SIGKILL to pid" in short_run.err


def test_the_sigterm_case_met_a_backlog_over_20000(short_run: Finished) -> None:
    """The SIGTERM fault is only the issue's fault when the backlog it meets is over 20,000."""
    row = _row(short_run, "sigterm-backlog")
    assert row.backlog_at_fault is not None
    assert row.backlog_at_fault > cases.BACKLOG_TARGET


def test_the_kill_9_case_replayed_after_the_crash(short_run: Finished) -> None:
    """The killed daemon exits -9, and the restarted one replays the journal, accepts new load on
    top of the replay, and exits 0."""
    row = _row(short_run, "kill-9")
    assert row.notes[0].startswith("first daemon killed (exit -9), replayed ")
    assert row.notes[1].startswith("after the restart ")
    expected = 0
    assert expected == row.exit_code
