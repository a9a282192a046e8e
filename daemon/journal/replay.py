"""Replay at start: publish again what a previous run journaled and did not finish."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
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


async def replay(
    journal: EventJournal,
    router: Router,
    retry_s: float,
    window_s: float | None = None,
    accepted: Callable[[str, float], None] | None = None,
) -> ReplayResult:
    """Publish the journal's events again and journal them anew.

    Every acceptance is replayed once (the same acceptance journaled twice by an
    interrupted replay counts once; see ``read_stamped``); ``accepted(id, unix_s)`` is
    told every replayed id with its original acceptance time (to seed the ingress's
    window). Replay is not open loop: an event refused as overloaded is retried for
    up to ``retry_s`` while mailboxes empty. If any is refused for good, the old
    files are kept, so a later start replays them again (at-least-once).
    """
    stamped, duplicates, torn = journal.take_replay(window_s)
    waits: list[asyncio.Future[None]] = []
    refused = 0
    events = [event for event, _ in stamped]
    for event, stamp in stamped:
        if accepted is not None:
            accepted(event.id, stamp / 1e9)
        ack = router.publish(event)
        deadline = time.monotonic() + retry_s
        while not ack.ok and ack.reason == REJECT_OVERLOADED and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
            ack = router.publish(event)
        if ack.ok:
            waits.append(journal.append_nowait([event], stamp))
        else:
            refused += 1
    await asyncio.gather(*waits)
    if not refused:
        journal.replay_done()
    return ReplayResult(len(events), duplicates, torn, len(events) - refused, refused)
