"""Replay at start: publish again what a previous run journaled and did not finish."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import msgspec

from events.model import REJECT_OVERLOADED
from events.router import Router

if TYPE_CHECKING:
    from daemon.journal.event_journal import EventJournal


class ReplayResult(msgspec.Struct, frozen=True):
    """What replaying a journal at start did."""

    events: int
    duplicates: int
    torn: int
    published: int
    refused: int


async def replay(journal: EventJournal, router: Router, retry_s: float) -> ReplayResult:
    """Publish the journal's events again (each id once) and journal them anew.

    Replay is not open loop: an event refused as overloaded is retried for up to
    ``retry_s`` while mailboxes empty. If any is refused for good, the old files
    are kept, so a later start replays them again (at-least-once).
    """
    events, duplicates, torn = journal.take_replay()
    waits: list[asyncio.Future[None]] = []
    refused = 0
    for event in events:
        ack = router.publish(event)
        deadline = time.monotonic() + retry_s
        while not ack.ok and ack.reason == REJECT_OVERLOADED and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
            ack = router.publish(event)
        if ack.ok:
            waits.append(journal.append_nowait([event]))
        else:
            refused += 1
    await asyncio.gather(*waits)
    if not refused:
        journal.replay_done()
    return ReplayResult(len(events), duplicates, torn, len(events) - refused, refused)
