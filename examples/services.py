"""Your own services in the bench: ``--services examples.services:make_handler``.

The bench calls ``make_handler(spec, seed)`` once per service of the profile
(``spec`` is a :class:`workload.ServiceSpec`: its ``name``, ``subscription``
with the pattern and policy, the scenarios' service-time ``model`` and its
``share`` of the events) and subscribes the async handler it returns in place
of the simulated one, with the same subscription, in both architectures. A
handler that returns is a completed delivery; one that raises is a failed
attempt (retried or dead-lettered by the router's policy; raise
``events.errors.Permanent`` to dead-letter at once).

These handlers do real work instead of modelled work: every payload is
checksummed, services on database subjects (``db.`` patterns) write each event
into their own in-memory SQLite table (pruned to the newest rows, so memory stays
bounded), and services the scenarios model with I/O await a seeded wait in that
range, as a call to another system would. Replace the bodies with calls to your
code.

``examples/`` is not in the wheel: use it from a checkout (run the bench in the
repository root, whose folder is on each run worker's ``PYTHONPATH``), or give
the file by path, ``--services path/to/services.py:make_handler``; your own
module works the same way.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import zlib

from events import Event, Handler
from workload import ServiceSpec

#: Rows each SQLite-backed service keeps (older ones are deleted as new ones arrive).
KEEP_ROWS = 10_000


def make_handler(spec: ServiceSpec, seed: int) -> Handler:
    """The handler of one service: checksum, optional SQLite write, optional awaited I/O."""
    rng = random.Random(f"{seed}/{spec.name}")
    io_lo_s = spec.model.io_ms_min / 1000.0
    io_hi_s = spec.model.io_ms_max / 1000.0
    db = _table() if spec.subscription.pattern.startswith("db.") else None
    written = 0

    async def handler(event: Event) -> None:
        nonlocal written
        checksum = zlib.crc32(event.payload)
        if db is not None:
            db.execute(
                "INSERT INTO events (id, subject, size, crc) VALUES (?, ?, ?, ?)",
                (event.id, event.subject, len(event.payload), checksum),
            )
            written += 1
            if written % 1_000 == 0:
                db.execute(
                    "DELETE FROM events WHERE rowid <= (SELECT MAX(rowid) FROM events) - ?",
                    (KEEP_ROWS,),
                )
        if io_hi_s > 0:
            # Waits of a millisecond or more only: uvloop's timers resolve about 1 ms.
            await asyncio.sleep(rng.uniform(io_lo_s, io_hi_s))

    return handler


def _table() -> sqlite3.Connection:
    db = sqlite3.connect(":memory:", isolation_level=None)
    db.execute("CREATE TABLE events (id TEXT, subject TEXT, size INTEGER, crc INTEGER)")
    return db
