"""The floor: a real minimal ingress that decodes, routes and delivers every event it accepts."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request

import msgspec

from bench.http.bare import spawn_floor
from bench.http.floor import YIELD_EVERY, Floor, FloorEvent
from daemon.server.http.wire import IngressEvent
from events import Category

_EVENT = b'{"subject":"fs.file.created","source":"t","payload":"aGVsbG8="}'


def _post(url: str, body: bytes) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(
        f"{url}/v1/events", data=body, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _fields(struct: type[msgspec.Struct]) -> list[tuple[str, object, object]]:
    return [(f.name, f.type, f.default) for f in msgspec.structs.fields(struct)]


def test_floor_event_accepts_the_fields_the_daemon_accepts() -> None:
    """FloorEvent has IngressEvent's fields, types and defaults, so both decode the same bodies."""
    assert _fields(IngressEvent) == _fields(FloorEvent)


def test_accepted_events_get_ids_and_are_delivered() -> None:
    """A body without id answers 202 with a made id, one with an id echoes it; on SIGTERM the
    floor reports both accepted and both delivered to its sink."""
    server = spawn_floor(cpu=None)
    try:
        made = _post(server.url, _EVENT)
        given = _post(server.url, b'{"subject":"db.row.x","source":"t","id":"e-1","priority":2.0}')
    finally:
        out = server.stop()
    final = json.loads(next(x for x in out.splitlines() if x.startswith("final "))[6:])
    accepted = made[1]["accepted"]
    assert isinstance(accepted, list)
    expected = (202, 1, True, (202, {"accepted": ["e-1"]}), {"accepted": 2, "delivered": 2})
    assert expected == (made[0], len(accepted), bool(accepted[0]), given, final)


def test_refused_bodies_are_neither_accepted_nor_delivered() -> None:
    """Malformed JSON is 400; an unknown field, an invalid subject, a subject implying no
    category and a fractional priority are 422; none of them counts as accepted."""
    bodies = [
        b'{"subject":"fs.file',
        b'{"subject":"fs.x","source":"t","bogus":1}',
        b'{"subject":"fs..x","source":"t"}',
        b'{"subject":"zz.x","source":"t"}',
        b'{"subject":"fs.x","source":"t","priority":1.5}',
        b'{"subject":"fs.x","source":""}',
    ]
    server = spawn_floor(cpu=None)
    try:
        statuses = [_post(server.url, body)[0] for body in bodies]
    finally:
        out = server.stop()
    expected = [400, 422, 422, 422, 422, 422]
    assert expected == statuses
    assert 'final {"accepted": 0, "delivered": 0}' in out


def test_to_event_fills_id_and_category_like_the_daemon() -> None:
    """An event without id and category gets a made id and the category its prefix implies."""
    event = Floor().to_event(_EVENT)
    expected = ("fs.file.created", Category.FILESYSTEM, b"hello", 1)
    assert expected == (event.subject, event.category, event.payload, event.priority)
    assert event.id.endswith("-1")


def test_the_worker_yields_to_the_loop_between_batches() -> None:
    """1,100 queued events are delivered 512 at a time, the loop running other tasks between
    batches, and all of them before the worker ends."""

    async def scenario() -> list[int]:
        floor = Floor()
        for _ in range(1100):
            floor.queue.append(floor.to_event(_EVENT))
        worker = asyncio.create_task(floor.work())
        seen = []
        while floor.delivered < 1100:
            await asyncio.sleep(0)
            seen.append(floor.delivered)
        floor.close_nowait()
        await worker
        return sorted(set(seen))

    expected = [YIELD_EVERY, 2 * YIELD_EVERY, 1100]
    assert expected == asyncio.run(scenario())
