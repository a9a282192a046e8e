"""The journals: dead-letter spill, the event journal's durability, segments, reclaim and replay."""

from __future__ import annotations

import asyncio
import shutil
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from daemon.journal.event_journal import (
    DeadLetterJournal,
    EventJournal,
    read_dead_letters,
    read_journal,
    replay,
)
from daemon.journal.reclaim import LowWater
from daemon.journal.segments import SegmentFile
from daemon.router.central import CentralRouter
from daemon.router.config import RouterConfig
from events import Category, DeadLetter, DeadLetterStore, Event, Permanent, Subscription
from events.model import RouterStats, SubscriptionStats
from tests.daemon.server.support import (
    final_report,
    running,
    start_daemon,
    stop,
    write_config,
)

pytestmark = pytest.mark.anyio


def ev(i: int, subject: str = "fs.file.created", payload: bytes = b"") -> Event:
    category = Category.DATABASE if subject.startswith("db.") else Category.FILESYSTEM
    return Event(id=f"e{i}", subject=subject, category=category, source="t", payload=payload)


async def settle(condition: Callable[[], bool]) -> None:
    """Let the loop run until ``condition`` holds (a handshake, bounded in steps)."""
    for _ in range(10_000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")


def idle(router: CentralRouter, service: str) -> bool:
    return all(
        s.depth == 0 and s.in_flight == 0
        for s in router.stats().subscriptions
        if s.service == service
    )


class Gated:
    """A handler that holds each event until its gate is opened, then records it."""

    def __init__(self) -> None:
        self.gates: dict[str, asyncio.Event] = {}
        self.done: list[str] = []
        self.free = False

    def open(self, event_id: str) -> None:
        self.gates.setdefault(event_id, asyncio.Event()).set()

    def release_all(self) -> None:
        """Open every gate, now and later (a failed test must not leave handlers waiting)."""
        self.free = True
        for gate in self.gates.values():
            gate.set()

    async def __call__(self, event: Event) -> None:
        if not self.free:
            await self.gates.setdefault(event.id, asyncio.Event()).wait()
        self.done.append(event.id)


def journal_for(router: CentralRouter, tmp: Path, segment_bytes: int) -> EventJournal:
    dead = DeadLetterJournal(tmp / "dl.jsonl", router.dead_letters)
    return EventJournal(
        tmp / "j.jsonl",
        0.001,
        segment_bytes=segment_bytes,
        router=router,
        dead_letters=dead,
        reclaim_interval_s=3600.0,  # the tests call reclaim() themselves
    )


async def test_dead_letter_journal_writes_each_entry_once_even_past_eviction(
    tmp_path: Path,
) -> None:
    """Entries reach the file as they are added: three in a store of one are all written once."""
    store = DeadLetterStore(1)
    journal = DeadLetterJournal(tmp_path / "dl.jsonl", store)
    store.add(DeadLetter(ev(1), "s", "failed", 3, "boom"))
    store.add(DeadLetter(ev(2), "s", "drain_timeout", 0))
    first = await journal.spill()
    store.add(DeadLetter(ev(3), "s", "failed", 1))
    second = await journal.spill()
    entries = [(d.event.id, d.reason) for d in read_dead_letters(tmp_path / "dl.jsonl")]
    assert (first, second, entries, store.evicted) == (
        {"failed": 1, "drain_timeout": 1},
        {"failed": 1},
        [("e1", "failed"), ("e2", "drain_timeout"), ("e3", "failed")],
        2,
    )


async def test_a_failed_dead_letter_spill_offers_the_same_entries_again(tmp_path: Path) -> None:
    """A spill whose write fails takes nothing, counts the error: the next one writes once."""
    store = DeadLetterStore(10)
    (tmp_path / "blocker").write_text("a file where a directory should be")
    journal = DeadLetterJournal(tmp_path / "blocker" / "dl.jsonl", store)
    store.add(DeadLetter(ev(1), "s", "failed", 3, "boom"))
    with pytest.raises(OSError):
        await journal.spill()
    failing = (journal.failing, journal.errors, journal.buffered)
    (tmp_path / "blocker").unlink()
    counts = await journal.spill()
    ids = [d.event.id for d in read_dead_letters(tmp_path / "blocker" / "dl.jsonl")]
    assert (failing, counts, ids, journal.spilled, journal.failing) == (
        (True, 1, 1),
        {"failed": 1},
        ["e1"],
        1,
        False,
    )


async def test_the_writer_task_flushes_without_being_asked(tmp_path: Path) -> None:
    """Started, the journal writes a dead letter on its own; close reports nothing lost."""
    store = DeadLetterStore(10)
    journal = DeadLetterJournal(tmp_path / "dl.jsonl", store, flush_interval_s=0.0)
    journal.start()
    store.add(DeadLetter(ev(1), "s", "failed", 3, "boom"))
    await settle(lambda: journal.spilled == 1)
    lost = await journal.close()
    assert (lost, [d.event.id for d in read_dead_letters(tmp_path / "dl.jsonl")]) == (0, ["e1"])


async def test_close_counts_what_could_not_be_written_as_lost(tmp_path: Path) -> None:
    """A file that never becomes writable: close gives up and answers how many are lost."""
    store = DeadLetterStore(10)
    (tmp_path / "blocker").write_text("x")
    journal = DeadLetterJournal(tmp_path / "blocker" / "dl.jsonl", store, retry_s=0.0)
    store.add(DeadLetter(ev(1), "s", "failed", 3, "boom"))
    store.add(DeadLetter(ev(2), "s", "failed", 3, "boom"))
    assert (await journal.close(attempts=3), journal.errors) == (2, 3)


async def test_event_journal_groups_fsyncs_and_replays_deduplicated(tmp_path: Path) -> None:
    """Appends resolve once on disk; a torn last line and duplicate ids are skipped on replay."""
    journal = EventJournal(tmp_path / "j.jsonl", fsync_interval_s=0.001)
    journal.start()
    waits = [journal.append_nowait([ev(i), ev(i + 1)]) for i in range(0, 6, 2)]
    waits.append(journal.append_nowait([ev(0)]))  # a client retry: same id again
    await asyncio.gather(*waits)
    await journal.close()
    with journal.files()[-1].open("ab") as fh:
        fh.write(b'{"id": "torn", "subj')
    events, duplicates, torn = read_journal(tmp_path / "j.jsonl")
    assert ([e.id for e in events], duplicates, torn, journal.appended) == (
        [f"e{i}" for i in range(6)],
        1,
        1,
        7,
    )


async def test_checkpoint_empties_only_when_nothing_was_appended_since(tmp_path: Path) -> None:
    """A checkpoint cut before a later append is ignored; a current one empties every segment."""
    journal = EventJournal(tmp_path / "j.jsonl", fsync_interval_s=0.001, segment_bytes=1)
    journal.start()
    cut = journal.appended
    for i in range(3):
        await journal.append_nowait([ev(i)])  # one segment each
    journal.request_checkpoint_nowait(cut)
    stale = len(read_journal(tmp_path / "j.jsonl")[0])
    journal.request_checkpoint_nowait(journal.appended)
    await journal.close()
    assert (stale, read_journal(tmp_path / "j.jsonl")[0], journal.disk_bytes()) == (3, [], 0)


async def test_segments_close_at_their_size_and_replay_reads_them_in_order(
    tmp_path: Path,
) -> None:
    """Appends past segment_bytes open new files; a later journal replays all of them in order."""
    journal = EventJournal(tmp_path / "j.jsonl", fsync_interval_s=0.001, segment_bytes=700)
    journal.start()
    for i in range(12):
        # 291-byte event lines, each write after a 30-byte stamp, behind a 37-byte header
        await journal.append_nowait([ev(i, payload=b"x" * 100)])
    await journal.close()
    later = EventJournal(tmp_path / "j.jsonl")
    events = [event for event, _ in later.take_replay()[0]]
    lines = [p.read_bytes().count(b'"subject"') for p in journal.files()]
    assert (lines, [e.id for e in events]) == (
        [3, 3, 3, 3],  # closed at the write that reached 700 bytes
        [f"e{i}" for i in range(12)],
    )


async def test_a_torn_write_fails_its_requests_and_later_writes_start_a_clean_segment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write cut short by a full disk answers OSError; the events after it replay intact."""
    real = SegmentFile.append
    calls = 0

    def flaky(self: SegmentFile, data: bytes) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            real(self, data[: len(data) // 2])
            raise OSError(28, "No space left on device")
        real(self, data)

    monkeypatch.setattr(SegmentFile, "append", flaky)
    journal = EventJournal(tmp_path / "j.jsonl", fsync_interval_s=0.001)
    journal.start()
    await journal.append_nowait([ev(1)])
    with pytest.raises(OSError):
        await journal.append_nowait([ev(2)])
    await journal.append_nowait([ev(3)])
    await journal.close()
    events, _, torn = read_journal(tmp_path / "j.jsonl")
    assert ([e.id for e in events], torn, len(journal.files())) == (["e1", "e3"], 1, 2)


def _stats(pending: int, *subs: tuple[str, int, int]) -> RouterStats:
    listed = [
        SubscriptionStats(service, ">", "", depth, in_flight, "closed", 0, 0, 0, 0, 0)
        for service, depth, in_flight in subs
    ]
    return RouterStats(0, 0, {}, 0, 0, 0, 0, {}, {}, 0, pending, 0, listed)


async def test_a_segment_is_proven_ended_by_idle_subscriptions_not_by_counts() -> None:
    """Other deliveries ending proves nothing; each one busy at the close seen idle does."""
    low = LowWater()
    low.seal_nowait(1, 100, _stats(1, ("slow", 0, 1), ("fast", 0, 0)), lost_open=0)
    fast_finished_more = low.observe_nowait(_stats(5, ("slow", 0, 1), ("fast", 4, 0)))
    slow_idle = low.observe_nowait(_stats(3, ("slow", 0, 0), ("fast", 3, 0)))
    unlisted = LowWater()
    unlisted.seal_nowait(1, 100, _stats(2), lost_open=0)  # no per-subscription figures
    unlisted_busy = unlisted.observe_nowait(_stats(2))
    unlisted_idle = unlisted.observe_nowait(_stats(0))
    assert (
        fast_finished_more,
        [s.seq for s in slow_idle],
        unlisted_busy,
        [s.seq for s in unlisted_idle],
    ) == ([], [1], [], [1])


async def test_a_segment_whose_dead_letter_was_lost_is_kept() -> None:
    """A dead letter evicted unspilled since the segment's events were published keeps it."""
    low = LowWater()
    low.seal_nowait(1, 10, _stats(0), lost_open=0)
    low.seal_nowait(2, 10, _stats(0), lost_open=2)
    proven = low.observe_nowait(_stats(0))
    assert (low.release_nowait(proven, lost_now=2), low.sealed) == (([2], 1), [])


async def test_disk_stays_bounded_while_the_router_is_never_empty(tmp_path: Path) -> None:
    """Two subscriptions take turns holding an event: pending never 0, yet ended segments go."""
    router = CentralRouter()
    gated = Gated()
    router.subscribe(Subscription(service="a", pattern="fs.>"), gated)
    router.subscribe(Subscription(service="b", pattern="db.>"), gated)
    await router.start()
    journal = journal_for(router, tmp_path, segment_bytes=2048)
    journal.start()
    held: Event | None = None
    pending: list[int] = []
    on_disk: list[int] = []
    files: list[int] = []
    kept_held = True
    try:
        for i in range(120):
            event = ev(i, "fs.file.created" if i % 2 else "db.txn.committed", b"x" * 600)
            assert router.publish(event).ok
            await journal.append_nowait([event])
            if held is not None:
                gated.open(held.id)
                service = "a" if held.subject.startswith("fs.") else "b"
                await settle(lambda service=service: idle(router, service))  # type: ignore[misc]
            held = event
            pending.append(router.stats().pending)
            await journal.reclaim()
            on_disk.append(journal.disk_bytes())
            files.append(len(journal.files()))
            # The one unfinished event is never deleted.
            kept_held &= held.id in {e.id for e in read_journal(tmp_path / "j.jsonl")[0]}
    finally:
        gated.release_all()
        await journal.close()
        await router.drain(1.0)
    written = journal.appended * 950
    assert (min(pending), max(files) <= 3, max(on_disk) <= 3 * 3000, written > 30 * 3000) == (
        1,
        True,
        True,
        True,
    )
    assert (kept_held, journal.segments_deleted >= 30) == (True, True)


async def test_dead_letters_are_spilled_before_their_segment_is_deleted(tmp_path: Path) -> None:
    """Dead-lettered events: the dead-letter journal holds them before their segment goes."""
    router = CentralRouter()

    async def refuse(event: Event) -> None:
        raise Permanent("no")

    router.subscribe(Subscription(service="a", pattern="fs.>"), refuse)
    await router.start()
    journal = journal_for(router, tmp_path, segment_bytes=1)
    journal.start()
    for i in range(5):
        event = ev(i)
        assert router.publish(event).ok
        await journal.append_nowait([event])
    await settle(lambda: router.stats().dead_lettered_total == 5)
    deleted = await journal.reclaim()
    spilled = sorted(d.event.id for d in read_dead_letters(tmp_path / "dl.jsonl"))
    await journal.close()
    await router.drain(1.0)
    assert (deleted, spilled, read_journal(tmp_path / "j.jsonl")[0]) == (
        5,
        [f"e{i}" for i in range(5)],
        [],
    )


async def test_a_segment_is_kept_while_its_dead_letters_cannot_be_written(
    tmp_path: Path,
) -> None:
    """Two dead letters evicted from a store of one are safe; unwritable, their segment stays."""
    router = CentralRouter(RouterConfig(dead_letter_capacity=1))

    async def refuse(event: Event) -> None:
        raise Permanent("no")

    router.subscribe(Subscription(service="a", pattern="fs.>"), refuse)
    await router.start()
    (tmp_path / "blocker").write_text("a file where a directory should be")
    dead = DeadLetterJournal(tmp_path / "blocker" / "dl.jsonl", router.dead_letters)
    journal = EventJournal(
        tmp_path / "j.jsonl",
        0.001,
        segment_bytes=1,
        router=router,
        dead_letters=dead,
        reclaim_interval_s=3600.0,
    )
    journal.start()
    pair = [ev(1), ev(2)]
    assert [router.publish(e).ok for e in pair] == [True, True]
    await journal.append_nowait(pair)
    await settle(lambda: router.stats().dead_lettered_total == 2)
    refused = await journal.reclaim()
    (tmp_path / "blocker").unlink()
    reclaimed = await journal.reclaim()
    await journal.close()
    await router.drain(1.0)
    written = [d.event.id for d in read_dead_letters(tmp_path / "blocker" / "dl.jsonl")]
    left = [e.id for e in read_journal(tmp_path / "j.jsonl")[0]]
    assert (refused, reclaimed, written, left) == (0, 1, ["e1", "e2"], [])


async def test_a_crash_with_unfinished_events_replays_every_one(tmp_path: Path) -> None:
    """Ended events' segments go; events unfinished at a crash: a restart delivers them."""
    router = CentralRouter()
    gated = Gated()
    router.subscribe(Subscription(service="a", pattern="fs.>"), gated)
    router.subscribe(Subscription(service="b", pattern="db.>"), gated)
    await router.start()
    journal = journal_for(router, tmp_path, segment_bytes=1)
    journal.start()
    # a's events end; b's stay in flight or queued until the crash.
    events = [ev(i) for i in range(20)] + [ev(i, "db.txn.committed") for i in range(20, 30)]
    try:
        for event in events:
            assert router.publish(event).ok
            await journal.append_nowait([event])
        for event in events[:20]:
            gated.open(event.id)
        await settle(lambda: len(gated.done) == 20 and router.stats().pending == 10)
        await journal.reclaim()
    finally:
        # The crash: no drain, no checkpoint; the files stay as the last fsync left
        # them. (The journal stops before the router, which then only cancels.)
        await journal.close()
        await router.drain(0.01)
        gated.release_all()

    after = CentralRouter()
    delivered: list[str] = []

    async def record(event: Event) -> None:
        delivered.append(event.id)

    after.subscribe(Subscription(service="a", pattern="fs.>"), record)
    after.subscribe(Subscription(service="b", pattern="db.>"), record)
    await after.start()
    restarted = journal_for(after, tmp_path, segment_bytes=1)
    restarted.start()
    result = await replay(restarted, after, 1.0)
    await settle(lambda: after.stats().pending == 0)
    await restarted.close()
    await after.drain(1.0)
    unfinished = {e.id for e in events[20:]}
    assert (unfinished <= set(delivered), result.refused, journal.segments_deleted) == (
        True,
        0,
        20,
    )
    assert {e.id for e in read_journal(tmp_path / "j.jsonl")[0]} == set(delivered)


BLOCKED_JOURNAL = """
[journal]
enabled = true
path = "{tmp}/journal.jsonl"

[[handlers]]
service = "rec"
pattern = ">"
factory = "tests.daemon.server.support:blocked"
"""

RECORDING_JOURNAL = """
[journal]
enabled = true
path = "{tmp}/journal.jsonl"

[[handlers]]
service = "rec"
pattern = ">"
factory = "tests.daemon.server.support:recorder"
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
    assert read_journal(tmp_path / "journal.jsonl")[0] == []


UNWRITABLE_JOURNAL = """
[journal]
enabled = true
path = "{tmp}/jdir/journal.jsonl"

[[handlers]]
service = "rec"
pattern = ">"
factory = "tests.daemon.server.support:recorder"
args = {{ path = "{tmp}/delivered.txt" }}
"""


async def test_a_503_journal_failed_event_was_still_accepted_and_delivered(
    tmp_path: Path,
) -> None:
    """The journal cannot write: the answer is 503 journal_failed, yet the event is delivered."""
    async with running(tmp_path, UNWRITABLE_JOURNAL) as (server, base):
        shutil.rmtree(tmp_path / "jdir")
        (tmp_path / "jdir").write_text("a file where the journal's directory was")
        event = {"subject": "fs.file.created", "source": "t", "id": "dup-1"}
        async with (
            aiohttp.ClientSession() as s,
            s.post(f"{base}/v1/events", json=event) as resp,
        ):
            answer = (resp.status, (await resp.json())["error"])
        await settle(lambda: server.router.stats().delivered == 1)
    delivered = (tmp_path / "delivered.txt").read_text().split()
    assert (answer, delivered) == ((503, "journal_failed"), ["dup-1"])
