"""The protocol both architectures implement, exactly."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from events.delivery import Handler
from events.model import Ack, DrainReport, Event, RouterStats
from events.subscription import Subscription


@runtime_checkable
class Router(Protocol):
    """An in-process event router.

    ``publish`` never blocks and never loses silently: it answers
    ``Ack.accepted()`` or ``Ack.rejected(reason)``. After ``drain`` nothing is in
    flight and ``stats().identity_errors()`` is empty.
    """

    def subscribe(self, sub: Subscription, handler: Handler) -> None: ...

    async def start(self) -> None: ...

    def publish(self, event: Event) -> Ack: ...

    async def drain(self, timeout_s: float) -> DrainReport: ...

    def stats(self) -> RouterStats: ...
