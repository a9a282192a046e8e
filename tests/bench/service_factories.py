"""Handler factories for the ``--services module:factory`` tests, reachable by dotted name.

``counting`` notes every service it was asked for and every event its handlers
saw (in this process: the in-process ``bench run`` tests read them back);
``sync_handler`` and ``not_callable`` are the mistakes the bench must refuse.
"""

from __future__ import annotations

from collections.abc import Callable

from events import Event, Handler
from workload import ServiceSpec

#: (service name, seed) of every handler ``counting`` built.
BUILT: list[tuple[str, int]] = []
#: (service name, event id) of every call of a ``counting`` handler.
CALLS: list[tuple[str, str]] = []


def counting(spec: ServiceSpec, seed: int) -> Handler:
    BUILT.append((spec.name, seed))

    async def handler(event: Event) -> None:
        CALLS.append((spec.name, event.id))

    return handler


def sync_handler(spec: ServiceSpec, seed: int) -> Callable[[Event], None]:
    def handler(event: Event) -> None:
        return None

    return handler


not_callable = 42
