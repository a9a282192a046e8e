"""The fault suite's accounting: where each accepted id ended, read from files, and the verdict."""

from __future__ import annotations

from pathlib import Path

from bench.experiments.faults import ledger


def test_an_id_in_two_places_does_not_hide_one_in_none() -> None:
    """Ids are counted in sets: ``b`` delivered and dead-lettered, ``c`` nowhere, so one is lost
    (subtracting counts, 3 - 2 - 1 = 0, would have hidden it)."""
    t = ledger.tally(["a", "b", "c"], ["a", "b"], {"b"}, set())
    expected = (3, 2, 1, 0, 1, ("c",))
    assert expected == (
        t.accepted,
        t.delivered,
        t.dead_lettered,
        t.journaled,
        t.lost,
        t.lost_sample,
    )


def test_repeats_are_duplicates_and_unaccepted_ids_are_unpromised() -> None:
    """Every POST beyond the first per id is a duplicate; an id the daemon never answered 202
    for is delivered without a promise, and not counted delivered."""
    t = ledger.tally(["a", "b"], ["a", "a", "a", "x", "x", "b"], set(), {"b"})
    expected = (2, 3, 1, 0, 1)
    assert expected == (t.delivered, t.duplicated, t.unpromised, t.lost, t.journaled)


def _tally(lost: int) -> ledger.Tally:
    return ledger.Tally(
        accepted=10, delivered=10 - lost, dead_lettered=0, journaled=0, lost=lost,
        duplicated=0, unpromised=0,
    )  # fmt: skip


def test_verdicts() -> None:
    """Pass needs nothing lost and an honest exit code: exit 0 over a loss (measured or
    reported by the daemon) fails as dishonest; a non-zero exit over a loss still fails; a
    case where nothing was accepted is an error, never a pass."""
    cases = [
        (_tally(0), 0, {"spill_lost": 0}),
        (_tally(0), 0, {"spill_lost": 4}),
        (_tally(2), 0, None),
        (_tally(2), 3, {"lost": 2}),
        (_tally(0), 1, None),
        (ledger.tally([], [], set(), set()), 0, None),
    ]
    expected = [
        ("pass", True), ("FAIL", False), ("FAIL", False), ("FAIL", True), ("pass", True),
        ("error", True),
    ]  # fmt: skip
    actual = []
    for tally, code, final in cases:
        row = ledger.judge("f", "memory", "", tally, code, final)
        actual.append((row.status, row.exit_honest))
    assert expected == actual


def test_reported_loss_prefers_the_daemons_total() -> None:
    """A final line with ``lost`` (every cause) is read alone; an older one by ``spill_lost``."""
    expected = [0, 7, 9]
    actual = [
        ledger.reported_loss(None),
        ledger.reported_loss({"spill_lost": 7}),
        ledger.reported_loss({"spill_lost": 7, "lost": 9}),
    ]
    assert expected == actual


def test_journal_and_dead_letter_files_are_read_by_the_daemons_naming(tmp_path: Path) -> None:
    """Journal ids come from the base file, its ``.replay`` and numbered segments (not other
    siblings), skipping a header and a torn last line; dead letters are filtered by service."""
    base = tmp_path / "events.jsonl"
    base.write_text('{"id": "a"}\n')
    (tmp_path / "events.jsonl.replay").write_text('{"id": "b"}\n')
    (tmp_path / "events.jsonl.00000001").write_text('{"journal": "header"}\n{"id": "c"}\n{"id": "d')
    (tmp_path / "events.jsonl.bak").write_text('{"id": "z"}\n')
    dead = tmp_path / "dead.jsonl"
    dead.write_text(
        '{"event": {"id": "a", "subject": "x"}, "service": "witness", "reason": "timeout"}\n'
        '{"event": {"id": "q"}, "service": "other"}\nnot json\n'
    )
    expected = ({"a", "b", "c"}, ({"a"}, 1))
    assert expected == (ledger.journaled_ids(base), ledger.dead_lettered_ids(dead, "witness"))
