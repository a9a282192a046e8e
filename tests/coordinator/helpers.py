"""Builders shared by the coordinator tests: events, recording handlers, gates."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable

from events import Category, Event, Subscription

_ids = itertools.count()

CATEGORY_OF = {
    "fs": Category.FILESYSTEM,
    "db": Category.DATABASE,
    "ext": Category.EXTERNAL,
    "mcp": Category.MCP,
    "svc": Category.SERVICE,
    "sys": Category.SYSTEM,
}


def ev(subject: str, **fields: object) -> Event:
    """An event whose category follows the subject's first token unless given."""
    fields.setdefault("category", CATEGORY_OF.get(subject.split(".")[0], Category.SYSTEM))
    fields.setdefault("id", f"e{next(_ids)}")
    return Event(subject=subject, source="test", **fields)  # type: ignore[arg-type]


def sub(service: str, pattern: str, **fields: object) -> Subscription:
    return Subscription(service=service, pattern=pattern, **fields)  # type: ignore[arg-type]


class Recorder:
    """A handler that records event ids and lets a test await the n-th delivery."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self._waiters: list[tuple[int, asyncio.Event]] = []

    async def __call__(self, event: Event) -> None:
        self.ids.append(event.id)
        for count, flag in self._waiters:
            if len(self.ids) >= count:
                flag.set()

    async def wait_for(self, count: int) -> None:
        """Return once ``count`` deliveries were recorded."""
        if len(self.ids) >= count:
            return
        flag = asyncio.Event()
        self._waiters.append((count, flag))
        await asyncio.wait_for(flag.wait(), 5)


def gated(started: asyncio.Event, gate: asyncio.Event) -> Callable[[Event], Awaitable[None]]:
    """A handler that signals ``started`` and then waits for ``gate``."""

    async def handler(event: Event) -> None:
        started.set()
        await gate.wait()

    return handler
