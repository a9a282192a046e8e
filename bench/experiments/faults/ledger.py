"""Where each accepted event ended, read from files alone, and the verdict of one fault.

Three places can hold an event the daemon answered 202 for: the witness's file
(delivered), the dead-letter file (``[lifecycle] dead_letter_journal``, JSONL of
``{"event": {...}, "service", "reason", ...}``, daemon/journal/dead_letters.py)
and the journal's files left on disk (``<path>``, ``<path>.replay``,
``<path>.NNNNNNNN``, one JSON event per line: pending, replayed at the next
start). An accepted id found in none of them is lost. Counting ids in sets,
not subtracting counts, keeps an event that is in two places (delivered, then
dead-lettered after its answer timed out) from hiding one that is in none.

All of it is pure or reads files; nothing here talks to a process.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import msgspec

from bench.schema import Environment

#: The version of the record ``bench faults --json`` writes.
FAULTS_SCHEMA = "switchyard.faults/1"

Status = Literal["pass", "FAIL", "skip", "error"]


class _Id(msgspec.Struct):
    id: str


class _DeadLine(msgspec.Struct):
    event: _Id
    service: str = ""


_id_line = msgspec.json.Decoder(_Id).decode
_dead_line = msgspec.json.Decoder(_DeadLine).decode


def _lines(path: Path) -> list[bytes]:
    try:
        return [line for line in path.read_bytes().splitlines() if line.strip()]
    except FileNotFoundError:
        return []


def dead_lettered_ids(path: Path, service: str) -> tuple[set[str], int]:
    """Ids of ``service``'s dead letters in the file, and how many lines could not be read."""
    ids: set[str] = set()
    unreadable = 0
    for line in _lines(path):
        try:
            entry = _dead_line(line)
        except msgspec.DecodeError:
            unreadable += 1
            continue
        if entry.service in ("", service):
            ids.add(entry.event.id)
    return ids, unreadable


def journal_files(base: Path) -> list[Path]:
    """Every file of the journal named ``base`` on disk (the daemon's naming, see above)."""
    if not base.parent.is_dir():
        return []
    prefix = base.name + "."
    found = [p for p in (base, base.with_name(base.name + ".replay")) if p.is_file()]
    found += sorted(
        p
        for p in base.parent.iterdir()
        if p.name.startswith(prefix) and p.name[len(prefix) :].isdigit()
    )
    return found


def journaled_ids(base: Path) -> set[str]:
    """Ids of the events the journal still holds (lines that are not an event, such as a
    torn last write or a file header, are skipped: they hold no acknowledged event)."""
    ids: set[str] = set()
    for path in journal_files(base):
        for line in _lines(path):
            try:
                ids.add(_id_line(line).id)
            except msgspec.DecodeError:
                continue
    return ids


class Tally(msgspec.Struct, frozen=True):
    """Accepted events by where they ended (unique ids); ``lost`` are in no place."""

    accepted: int
    delivered: int
    dead_lettered: int
    journaled: int
    lost: int
    duplicated: int
    #: Ids the witness received that the daemon never answered 202 for (a 503
    #: ``journal_failed``, a connection cut by the fault): delivered, never promised.
    unpromised: int
    lost_sample: tuple[str, ...] = ()


def tally(
    accepted: Iterable[str],
    witnessed: Sequence[str],
    dead: set[str],
    journaled: set[str],
) -> Tally:
    """Where the ``accepted`` ids ended; ``witnessed`` has one entry per POST the witness got."""
    promised = set(accepted)
    seen = Counter(witnessed)
    lost = promised - seen.keys() - dead - journaled
    return Tally(
        accepted=len(promised),
        delivered=len(promised & seen.keys()),
        dead_lettered=len(promised & dead),
        journaled=len(promised & journaled),
        lost=len(lost),
        duplicated=sum(n - 1 for n in seen.values()),
        unpromised=len(seen.keys() - promised),
        lost_sample=tuple(sorted(lost)[:5]),
    )


def reported_loss(final: dict[str, Any] | None) -> int:
    """What the daemon's own final line admits it lost (0 when it printed none): ``lost``
    where the daemon counts every cause, else ``spill_lost`` (dead letters evicted unwritten)."""
    if final is None:
        return 0
    if "lost" in final:
        return int(final["lost"])
    return int(final.get("spill_lost", 0))


class FaultRow(msgspec.Struct, frozen=True):
    """One fault's outcome: the tally, the daemon's exit and the verdict."""

    fault: str
    transport: str
    status: Status
    description: str
    tally: Tally | None = None
    #: The exit code of the daemon process that ended the case (after a restart, the new one).
    exit_code: int | None = None
    #: The exit code agrees with the outcome: non-zero when anything was lost or reported lost.
    exit_honest: bool = True
    daemon_reported_lost: int = 0
    #: Router pending at the moment of the fault (the backlog a SIGTERM met, for instance).
    backlog_at_fault: int | None = None
    duration_s: float = 0.0
    notes: tuple[str, ...] = ()
    reason: str = ""


def judge(
    fault: str,
    transport: str,
    description: str,
    t: Tally,
    exit_code: int | None,
    final: dict[str, Any] | None,
    **extra: Any,
) -> FaultRow:
    """The row of a finished case: pass iff nothing was lost and the exit code is honest; a
    case in which nothing was accepted tested nothing (an ``error``, not a pass)."""
    admitted = reported_loss(final)
    honest = exit_code != 0 or (t.lost == 0 and admitted == 0)
    status: Status = "pass" if t.lost == 0 and honest else "FAIL"
    reasons = []
    if t.accepted == 0:
        status = "error"
        reasons.append("the daemon accepted nothing, so the fault was tested on no event")
    if t.lost:
        reasons.append(f"{t.lost:,} accepted events in no place")
    if not honest:
        reasons.append(f"exit code 0 although {max(t.lost, admitted):,} were lost")
    return FaultRow(
        fault=fault, transport=transport, status=status, description=description, tally=t,
        exit_code=exit_code, exit_honest=honest, daemon_reported_lost=admitted,
        reason="; ".join(reasons), **extra,
    )  # fmt: skip


class FaultsReport(msgspec.Struct, frozen=True):
    """What ``bench faults --json`` writes."""

    schema: str
    environment: Environment
    transport: str
    short: bool
    config: str
    duration_s: float
    rows: tuple[FaultRow, ...]
    passed: bool
    #: Whether the cases ran with ``[auth]`` on, driven with the suite principal's token.
    auth: bool = False


def header() -> str:
    return (
        f"{'fault':<18} {'accepted':>9} {'delivered':>9} {'dead-lett.':>10} {'journaled':>9}"
        f" {'lost':>6} {'dup':>6} {'exit':>5} {'time':>6}  verdict"
    )


def line(row: FaultRow) -> str:
    """One printed row (a skipped or failed-to-run case shows its reason instead of figures)."""
    if row.tally is None:
        return f"{row.fault:<18} {row.status:>9}  {row.reason}"
    t = row.tally
    code = "-" if row.exit_code is None else str(row.exit_code)
    text = (
        f"{row.fault:<18} {t.accepted:>9,} {t.delivered:>9,} {t.dead_lettered:>10,}"
        f" {t.journaled:>9,} {t.lost:>6,} {t.duplicated:>6,} {code:>5} {row.duration_s:>5.1f}s"
        f"  {row.status}"
    )
    return text + (f": {row.reason}" if row.reason else "")


def notes(row: FaultRow) -> list[str]:
    """What the row's figures do not say: the case's notes, a sample of lost ids, the
    daemon's own admission of loss."""
    out = list(row.notes)
    if row.backlog_at_fault is not None:
        out.append(f"backlog at the fault: {row.backlog_at_fault:,}")
    if row.daemon_reported_lost:
        out.append(f"the daemon's final line reports {row.daemon_reported_lost:,} lost")
    if row.tally is not None and row.tally.lost_sample:
        out.append(f"lost ids include {', '.join(row.tally.lost_sample)}")
    if row.tally is not None and row.tally.unpromised:
        out.append(f"{row.tally.unpromised:,} delivered without a 202 (never promised)")
    return out
