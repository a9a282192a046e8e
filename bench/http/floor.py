"""The floor: the least work any implementation of the single-event ingress must do.

``POST /v1/events`` here is a real, minimal implementation of the daemon's ingress
contract on the same stack as the bare app (aiohttp on uvloop, access log off, the
body read with ``request.read()``; one ingress route plus ``/readyz``, not the
daemon's ten): it decodes the body with msgspec into :class:`FloorEvent` (the
fields of the daemon's ``IngressEvent``, held equal by a test), refuses what the
contract refuses (400 malformed, 422 invalid field, subject or category), makes
an id when none is given, builds the ``events.Event``, routes it by one dict
lookup of its subject (the subject validated and its category inferred on first
sight, then cached) to a deque drained by one worker task, woken through a future
when it was idle, that awaits a no-op sink coroutine; and it answers 202
``{"accepted":[id]}`` with the id encoded per request.

It omits everything the daemon adds beyond that: auth and the route and connection
guards, bounds on mailboxes, bodies and caches, admission and rate limits, the
duplicate window, metrics, priorities, retries, timeouts, breakers, dead letters
and the journal. So it never refuses for overload and can grow without bound: a
measuring stick, not a server to deploy. On SIGTERM it delivers what is queued
and prints ``final {"accepted": N, "delivered": M}``.

Run it as ``python -m bench.http.floor --port N`` (0: any free port); it prints
``listening URL`` once it accepts connections.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import signal
from collections import deque
from collections.abc import Sequence

import msgspec
import uvloop
from aiohttp import web

from events import CATEGORY_PATTERNS, Category, Event, is_valid_subject
from events.errors import SwitchyardError
from events.model import PRIORITY_MAX, PRIORITY_MIN

_CATEGORY_BY_PREFIX = {p.split(".", 1)[0]: c for c, ps in CATEGORY_PATTERNS.items() for p in ps}
_encode = msgspec.json.Encoder().encode
#: Deliveries between yields to the loop: bench/routers/ceiling.py's (and the daemon's) 512.
YIELD_EVERY = 512


class FloorEvent(msgspec.Struct, frozen=True, gc=False, forbid_unknown_fields=True):
    """An event as a client sends it; the same fields as the daemon's ``IngressEvent``."""

    subject: str
    source: str
    id: str | None = None
    category: Category | None = None
    priority: int | float = 1
    payload: bytes = b""
    targets: tuple[str, ...] = ()
    headers: dict[str, str] = {}
    seq: int | float = 0
    t_intended_ns: int | float = 0


class Refused(SwitchyardError):
    """Raised by :meth:`Floor.to_event` when the contract refuses the body (400 or 422)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


async def sink(event: Event) -> None:
    """The subscriber: does nothing, so the floor measures the ingress and delivery alone."""


def _whole(value: int | float, name: str) -> int:
    if type(value) is float:
        if not value.is_integer():
            raise Refused(422, f"{name}: expected an integer, got {value}")
        return int(value)
    return int(value)


class Floor:
    """The one route, a subject cache, a deque and its worker: nothing else."""

    def __init__(self) -> None:
        self.decoder = msgspec.json.Decoder(FloorEvent)
        self.queue: deque[Event] = deque()
        self.waiter: asyncio.Future[None] | None = None
        #: Subject -> the category it implies; one subscription takes every subject,
        #: so the cache hit is the whole of routing.
        self.routes: dict[str, Category | None] = {}
        self.prefix = os.urandom(8).hex()
        self.ids = itertools.count(1)
        self.accepted = 0
        self.delivered = 0
        self.closing = False

    def to_event(self, body: bytes) -> Event:
        """Decode ``body`` into the ``Event`` to deliver; raise Refused when it is refused."""
        try:
            item = self.decoder.decode(body)
        except msgspec.ValidationError as exc:
            raise Refused(422, str(exc)) from None
        except msgspec.DecodeError as exc:
            raise Refused(400, f"malformed body: {exc}") from None
        subject = item.subject
        try:
            implied = self.routes[subject]
        except KeyError:
            if not is_valid_subject(subject):
                raise Refused(422, f"subject: invalid subject {subject[:64]!r}") from None
            implied = self.routes[subject] = _CATEGORY_BY_PREFIX.get(subject.split(".", 1)[0])
        category = item.category or implied
        if category is None:
            raise Refused(422, f"category: missing, and {subject!r} implies none")
        priority, seq, t_ns = item.priority, item.seq, item.t_intended_ns
        if type(priority) is not int or type(seq) is not int or type(t_ns) is not int:
            priority, seq = _whole(priority, "priority"), _whole(seq, "seq")
            t_ns = _whole(t_ns, "t_intended_ns")
        if not PRIORITY_MIN <= priority <= PRIORITY_MAX or not item.source or item.id == "":
            raise Refused(422, "priority out of range, or source or id empty")
        event_id = item.id if item.id is not None else f"{self.prefix}-{next(self.ids):x}"
        return Event(
            event_id,
            subject,
            category,
            item.source,
            priority,
            item.payload,
            item.targets,
            item.headers,
            seq,
            t_ns,
        )

    async def post_event(self, request: web.Request) -> web.Response:
        try:
            event = self.to_event(await request.read())
        except Refused as exc:
            body = _encode({"error": str(exc)})
            return web.Response(status=exc.status, body=body, content_type="application/json")
        self.queue.append(event)
        self.accepted += 1
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            waiter.set_result(None)
        body = b'{"accepted":[' + _encode(event.id) + b"]}"
        return web.Response(status=202, body=body, content_type="application/json")

    async def work(self) -> None:
        """Deliver every queued event to :func:`sink`; sleep on a future when idle."""
        queue = self.queue
        loop = asyncio.get_running_loop()
        while True:
            budget = YIELD_EVERY
            while queue and budget:
                await sink(queue.popleft())
                self.delivered += 1
                budget -= 1
            if not budget:
                await asyncio.sleep(0)  # a sink that never suspends must not starve the loop
                continue
            if self.closing:
                return
            self.waiter = loop.create_future()
            await self.waiter

    def close_nowait(self) -> None:
        """Let the worker end once the queue is empty."""
        self.closing = True
        if self.waiter is not None:
            self.waiter.set_result(None)
            self.waiter = None


async def ready(request: web.Request) -> web.Response:
    return web.Response(body=b'{"ready":true}', content_type="application/json")


async def serve(host: str, port: int) -> dict[str, int]:
    """Serve until SIGTERM or SIGINT; answer the final counts once all is delivered."""
    floor = Floor()
    app = web.Application()
    app.router.add_post("/v1/events", floor.post_event)
    app.router.add_get("/readyz", ready)
    worker = asyncio.create_task(floor.work(), name="floor-worker")
    runner = web.AppRunner(app, access_log=None)  # what web.run_app sets up for bare.py
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    bound_host, bound_port = runner.addresses[0][:2]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # The readiness handshake spawn_floor waits for: this module is a process entry point.
    print(f"listening http://{bound_host}:{bound_port}", flush=True)  # noqa: T201
    await stop.wait()
    await runner.cleanup()
    floor.close_nowait()
    await worker
    return {"accepted": floor.accepted, "delivered": floor.delivered}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.http.floor")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8472)
    args = parser.parse_args(argv)
    final = uvloop.run(serve(args.host, args.port))
    print(f"final {json.dumps(final)}", flush=True)  # noqa: T201 (entry point's report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
