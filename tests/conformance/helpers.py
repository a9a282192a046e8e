"""Helpers of the contract suite: start/drain scope, event builder, bounded polling, recorder."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from events import Category, Event, Router


@asynccontextmanager
async def running(router: Router, drain_timeout_s: float = 5.0) -> AsyncIterator[Router]:
    """Start ``router``; drain it on the way out, whatever happened, so no task outlives a test."""
    await router.start()
    try:
        yield router
    finally:
        await router.drain(drain_timeout_s)


def event(n: int, subject: str = "fs.file.created", **fields: object) -> Event:
    """Event ``e<n>`` on ``subject`` (category from the subject's first token)."""
    category = {
        "fs": Category.FILESYSTEM,
        "db": Category.DATABASE,
        "ext": Category.EXTERNAL,
        "mcp": Category.MCP,
        "svc": Category.SERVICE,
        "sys": Category.SYSTEM,
    }.get(subject.split(".")[0], Category.SYSTEM)
    return Event(id=f"e{n}", subject=subject, category=category, source="test", seq=n, **fields)  # type: ignore[arg-type]


async def until(predicate: Callable[[], bool], timeout_s: float = 5.0) -> None:
    """Poll ``predicate`` each loop turn (a bounded wait, never a timing assertion)."""
    async with asyncio.timeout(timeout_s):
        while not predicate():  # noqa: ASYNC110 - stats have no event to wait on; polling is bounded
            await asyncio.sleep(0.001)


class Recorder:
    """A handler that records event ids, optionally held at a gate after signalling arrival."""

    def __init__(self, gate: asyncio.Event | None = None) -> None:
        self.ids: list[str] = []
        self.gate = gate
        self.arrived = asyncio.Event()

    async def __call__(self, ev: Event) -> None:
        self.ids.append(ev.id)
        self.arrived.set()
        if self.gate is not None:
            await self.gate.wait()
