"""The journals: dead-letter spill, and the event journal's durability and replay by id."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from daemon.journal import DeadLetterJournal, EventJournal, read_dead_letters, read_journal
from events import Category, DeadLetter, DeadLetterStore, Event
from tests.daemon.test_server_support import final_report, start_daemon, stop, write_config

pytestmark = pytest.mark.anyio


def ev(i: int) -> Event:
    return Event(id=f"e{i}", subject="fs.file.created", category=Category.FILESYSTEM, source="t")


async def test_dead_letter_journal_spills_each_entry_once(tmp_path: Path) -> None:
    """Two spills write each dead letter once, with its reason, and count by reason."""
    store = DeadLetterStore(10)
    journal = DeadLetterJournal(tmp_path / "dl.jsonl", store)
    store.add(DeadLetter(ev(1), "s", "failed", 3, "boom"))
    first = await journal.spill()
    store.add(DeadLetter(ev(2), "s", "drain_timeout", 0))
    second = await journal.spill()
    entries = [(d.event.id, d.reason) for d in read_dead_letters(tmp_path / "dl.jsonl")]
    assert (first, second, entries) == (
        {"failed": 1},
        {"drain_timeout": 1},
        [("e1", "failed"), ("e2", "drain_timeout")],
    )


async def test_event_journal_groups_fsyncs_and_replays_deduplicated(tmp_path: Path) -> None:
    """Appends resolve once on disk; a torn last line and duplicate ids are skipped on replay."""
    journal = EventJournal(tmp_path / "j.jsonl", fsync_interval_s=0.001)
    journal.start()
    waits = [journal.append_nowait([ev(i), ev(i + 1)]) for i in range(0, 6, 2)]
    waits.append(journal.append_nowait([ev(0)]))  # a client retry: same id again
    await asyncio.gather(*waits)
    await journal.close()
    with (tmp_path / "j.jsonl").open("ab") as fh:
        fh.write(b'{"id": "torn", "subj')
    events, duplicates, torn = read_journal(tmp_path / "j.jsonl")
    assert ([e.id for e in events], duplicates, torn, journal.appended) == (
        [f"e{i}" for i in range(6)],
        1,
        1,
        7,
    )


async def test_checkpoint_truncates_only_when_nothing_was_appended_since(tmp_path: Path) -> None:
    """A checkpoint cut before a later append is ignored; a current one empties the file."""
    journal = EventJournal(tmp_path / "j.jsonl", fsync_interval_s=0.001)
    journal.start()
    cut = journal.appended
    await journal.append_nowait([ev(1)])
    journal.request_checkpoint_nowait(cut)
    stale = (tmp_path / "j.jsonl").read_bytes().count(b"\n")
    journal.request_checkpoint_nowait(journal.appended)
    await journal.close()
    assert (stale, (tmp_path / "j.jsonl").read_bytes(), journal.checkpoints) == (1, b"", 1)


BLOCKED_JOURNAL = """
[journal]
enabled = true
path = "{tmp}/journal.jsonl"

[[handlers]]
service = "rec"
pattern = ">"
factory = "tests.daemon.test_server_support:blocked"
"""

RECORDING_JOURNAL = """
[journal]
enabled = true
path = "{tmp}/journal.jsonl"

[[handlers]]
service = "rec"
pattern = ">"
factory = "tests.daemon.test_server_support:recorder"
args = {{ path = "{tmp}/delivered.txt" }}
"""


async def test_accepted_events_survive_a_crash_and_replay_once(
    tmp_path: Path, anyio_backend: Any
) -> None:
    """Events acknowledged with the journal on, then SIGKILL: the restart delivers each id once."""
    if anyio_backend[1]:
        pytest.skip("a process test: one event-loop flavour is enough")
    batch = [{"subject": "fs.file.created", "source": "t", "id": f"j{i}"} for i in range(20)]
    proc, base = start_daemon(write_config(tmp_path, BLOCKED_JOURNAL))
    try:
        async with aiohttp.ClientSession() as s:
            for _ in range(2):  # the same ids twice: a client retrying
                async with s.post(f"{base}/v1/events:batch", json=batch) as resp:
                    assert resp.status == 202
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        stop(proc)
    proc, base = start_daemon(write_config(tmp_path, RECORDING_JOURNAL))
    try:
        proc.send_signal(signal.SIGTERM)
        report = final_report(proc)
    finally:
        stop(proc)
    delivered = (tmp_path / "delivered.txt").read_text().split()
    assert (sorted(delivered), report["accepted"]) == (sorted(e["id"] for e in batch), 20)
    assert (tmp_path / "journal.jsonl").read_bytes() == b""
