"""``python -m bench faults --transport jetstream --short`` end to end: each case starts its own
nats-server, real daemon subprocesses and the witness; nothing a daemon answered 202 for (stored
in the stream) may be lost, whether one of two daemons is killed or the server restarts.

The suite runs once (a module fixture, as a subprocess the way a user types it); each case is
one test of its row. Skipped, with the reason, where the nats-server binary is missing.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from bench import exits
from bench.experiments.faults import jetstream_cases, ledger
from daemon.jetstream import ServerBinaryMissing, find_server_binary

ROOT = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.timeout(180)


class Finished(msgspec.Struct, frozen=True):
    code: int
    out: str
    err: str
    report: ledger.FaultsReport


@pytest.fixture(scope="module")
def short_run(tmp_path_factory: pytest.TempPathFactory) -> Finished:
    try:
        find_server_binary()
    except ServerBinaryMissing as exc:
        pytest.skip(f"no nats-server: {exc}")
    out = tmp_path_factory.mktemp("faults-js") / "faults.json"
    argv = [sys.executable, "-m", "bench", "faults", "--transport", "jetstream", "--short"]
    argv += ["--json", str(out)]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=160, check=False)
    assert out.exists(), done.stdout + done.stderr
    report = msgspec.json.decode(out.read_bytes(), type=ledger.FaultsReport)
    return Finished(done.returncode, done.stdout, done.stderr, report)


@pytest.mark.parametrize("fault", list(jetstream_cases.JETSTREAM))
def test_nothing_stored_is_lost(short_run: Finished, fault: str) -> None:
    """The case's row: events were accepted, none is in no place, and the verdict is pass."""
    row = {row.fault: row for row in short_run.report.rows}[fault]
    assert row.tally is not None, row.reason
    expected = (0, "pass", "jetstream")
    actual = (row.tally.lost, row.status, row.transport)
    assert expected == actual, "\n".join([row.reason, *ledger.notes(row)])
    assert row.tally.accepted > 0


def test_the_faults_were_injected_and_the_exit_code_agrees(short_run: Finished) -> None:
    """Both cases ran in order under the versioned schema, the exit code is 0 iff all passed,
    and the progress shows the kill and the server's restart on its own port."""
    report = short_run.report
    passed = all(row.status == "pass" for row in report.rows)
    expected = (
        ledger.FAULTS_SCHEMA,
        "jetstream",
        list(jetstream_cases.JETSTREAM),
        exits.EXIT_OK if passed else exits.EXIT_INVALID,
        True,
        True,
    )
    actual = (
        report.schema,
        report.transport,
        [row.fault for row in report.rows],
        short_run.code,
        "[kill-9-of-two] SIGKILL to pid" in short_run.err,
        "[nats-restart] nats-server back, pid" in short_run.err,
    )
    assert expected == actual, short_run.err[-3000:]
