"""A module queue's backlog as drain sees it: live deliveries counted, the rest given up.

The module queue holds, per priority (index 0 is priority 3), three slots per
event: the event, then its tag: the one copy (a :class:`Registration`) or the
route's tuple of copies when all use ``reject``, else an :class:`Entry` whose
``cancelled`` copies were displaced (and so already ended); then its charge
against the copies' byte bounds. What is still to run is the copy, every copy
of a tuple, and the ``live`` copies of an entry.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from coordinator.registration import Entry, Registration
from events.delivery import DL_DRAIN_TIMEOUT
from events.model import Event


def queued_deliveries(levels: tuple[deque[Any], ...]) -> int:
    """Deliveries waiting in the queue (counted in it, not derived from counters)."""
    queued = 0
    for level in levels:
        for index in range(1, len(level), 3):
            tag = level[index]
            if tag.__class__ is Registration:
                queued += 1
            else:
                queued += len(tag) if tag.__class__ is tuple else tag.live
    return queued


def abandon_queued_nowait(levels: tuple[deque[Any], ...]) -> int:
    """Empty the queue, dead-lettering each delivery still to run as ``drain_timeout``.

    Returns how many. The copies' own queued counts are the caller's to reset.
    """
    abandoned = 0
    for level in levels:
        while level:
            event = level.popleft()
            tag = level.popleft()
            level.popleft()  # its charge: the copies' counts are the caller's to reset
            copies, cancelled = copies_of(tag)
            for copy in copies:
                if cancelled is None or copy not in cancelled:
                    copy.pipeline.dead_letter_nowait(event, DL_DRAIN_TIMEOUT, 0, "queued at drain")
                    abandoned += 1
    return abandoned


def copies_of(
    tag: Registration | tuple[Registration, ...] | Entry,
) -> tuple[tuple[Registration, ...], set[Registration] | None]:
    """A queue tag's copies, and those of them already ended (displaced), if any."""
    if isinstance(tag, Registration):
        return (tag,), None
    if isinstance(tag, tuple):
        return tag, None
    return tag.copies, tag.cancelled


def abandon_behind_nowait(
    event: Event, copies: tuple[Registration, ...], cancelled: set[Registration] | None
) -> None:
    """End as ``drain_timeout`` the deliveries of ``event`` a cancelled worker never ran."""
    for copy in copies:
        if cancelled is None or copy not in cancelled:
            copy.pipeline.dead_letter_nowait(
                event, DL_DRAIN_TIMEOUT, 0, "behind a handler at drain"
            )
