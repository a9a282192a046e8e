"""A crash under load replays about what had not ended, not everything since the last quiet moment.

One subscriber stays backlogged the whole time, so the router never has nothing
pending: closed journal segments must still be deleted once their events ended.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from daemon.journal.segments import journal_files, read_files
from tests.daemon.server.support import final_report, start_daemon, stop, write_config
from tests.daemon.server.test_prod_durability import crash, offer

pytestmark = pytest.mark.anyio

TOTAL = 4000
#: Events the slow subscriber ends before it holds every later one until the crash.
SLOW_ENDS = 1000

JOURNAL = """
[journal]
enabled = true
path = "{tmp}/journal.jsonl"
segment_bytes = 4096

[[handlers]]
service = "fast"
pattern = ">"
factory = "tests.daemon.server.support:recorder"
args = {{ path = "{tmp}/fast-%s.txt" }}
policy = {{ mailbox = 100000 }}
"""

BEFORE = JOURNAL.replace("%s", "1") + (
    """
[[handlers]]
service = "slow"
pattern = ">"
factory = "tests.daemon.server.support:stalling"
args = {{ path = "{tmp}/slow-1.txt", deliver = SLOW_ENDS, delay_ms = 1.0 }}
policy = {{ mailbox = 100000, concurrency = 1 }}
""".replace("SLOW_ENDS", str(SLOW_ENDS))
)

AFTER = JOURNAL.replace("%s", "2") + (
    """
[[handlers]]
service = "slow"
pattern = ">"
factory = "tests.daemon.server.support:recorder"
args = {{ path = "{tmp}/slow-2.txt" }}
policy = {{ mailbox = 100000 }}
"""
)


def lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


async def status(base: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as s, s.get(f"{base}/v1/status") as resp:
        body: dict[str, Any] = await resp.json()
        return body


async def test_a_crash_with_a_backlogged_subscriber_replays_what_had_not_ended(
    tmp_path: Path, anyio_backend: Any
) -> None:
    """Segments go while a subscriber stays backlogged; kill -9 replays not-ended + one segment."""
    if anyio_backend[1]:
        pytest.skip("a process test: one event-loop flavour is enough")
    proc, base = start_daemon(write_config(tmp_path, BEFORE))
    try:
        accepted = await offer(base, TOTAL, "r")
        # A bounded poll: the witnesses reach what the handlers will end, then the
        # reclaimer (every 50 ms) deletes what it can prove ended.
        journal: dict[str, Any] = {}
        for _ in range(3000):
            done = len(lines(tmp_path / "slow-1.txt")) == SLOW_ENDS and len(
                lines(tmp_path / "fast-1.txt")
            ) == len(accepted)
            journal = (await status(base))["journal"]
            if done and journal["segments_closed"] - journal["segments_deleted"] <= 2:
                break
        crash(proc)
    finally:
        stop(proc)
    ended = set(lines(tmp_path / "slow-1.txt")) & set(lines(tmp_path / "fast-1.txt"))
    not_ended = set(accepted) - ended
    segments = [read_files([path])[0] for path in journal_files(tmp_path / "journal.jsonl")]
    on_disk = {event.id for events in segments for event in events}
    largest = max(len(events) for events in segments)

    proc, base = start_daemon(write_config(tmp_path, AFTER))
    try:
        replayed = (await status(base))["journal"]["replayed"]
        proc.send_signal(signal.SIGTERM)
        report = final_report(proc)
    finally:
        stop(proc)
    redelivered = set(lines(tmp_path / "slow-2.txt"))
    print("FIGURES", len(accepted), len(not_ended), len(on_disk), largest, replayed, journal)
    assert (len(accepted), journal["segments_deleted"] > 0) == (TOTAL, True)
    assert (not_ended <= on_disk, not_ended <= redelivered, report["lost"]) == (True, True, 0)
    assert (replayed, replayed <= len(not_ended) + largest) == (len(on_disk), True)
