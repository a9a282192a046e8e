"""``POST /v1/events`` and ``POST /v1/events:batch``: decode, validate, admit, publish.

Bodies are JSON or MessagePack by ``Content-Type``. An event may omit ``id``
(the ingress assigns one) and ``category`` (inferred from the subject prefix).
A batch is validated all or nothing (one bad item: 422 naming its index, nothing
published) and rate-limited all or nothing (429), then published item by item:
the answer lists the accepted ids and any item the router refused, with the
reason; if the router refused every item the answer is 503.
"""

from __future__ import annotations

import itertools
import operator
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from aiohttp import web

from daemon.admission import DRAINING, OVERLOADED, RATE_LIMITED, Admission
from daemon.http.errors import IngressError, from_exception
from daemon.journal import EventJournal
from daemon.metrics import ServerMetrics, prefix_of
from events.errors import InvalidSubject
from events.model import (
    CATEGORY_PATTERNS,
    PRIORITY_MAX,
    PRIORITY_MIN,
    REJECT_INVALID,
    Category,
    Event,
)
from events.router import Router
from events.subjects import validate_subject

JSON_TYPES = frozenset({"application/json"})
MSGPACK_TYPES = frozenset({"application/msgpack", "application/x-msgpack"})

_SUBJECT = operator.attrgetter("subject")
_SOURCE = operator.attrgetter("source")
_CATEGORY_BY_PREFIX = {p.split(".", 1)[0]: c for c, ps in CATEGORY_PATTERNS.items() for p in ps}


class IngressEvent(msgspec.Struct, frozen=True, gc=False, forbid_unknown_fields=True):
    """An event as a client sends it: ``id`` and ``category`` may be omitted."""

    subject: str
    source: str
    id: str | None = None
    category: Category | None = None
    priority: int = 1
    payload: bytes = b""
    targets: tuple[str, ...] = ()
    headers: dict[str, str] = {}
    seq: int = 0
    t_intended_ns: int = 0


class Rejected(msgspec.Struct, frozen=True):
    index: int
    id: str
    reason: str


class Accepted(msgspec.Struct, frozen=True, omit_defaults=True):
    """The 202 body: ids accepted, and (batch only) items the router refused."""

    accepted: list[str]
    rejected: list[Rejected] = []


#: Per content type: (one IngressEvent, a batch of them, one Event, a batch of Events).
_DECODERS: dict[str, tuple[Any, Any, Any, Any]] = {}
for _t in JSON_TYPES:
    _DECODERS[_t] = (
        msgspec.json.Decoder(IngressEvent),
        msgspec.json.Decoder(list[IngressEvent]),
        msgspec.json.Decoder(Event),
        msgspec.json.Decoder(list[Event]),
    )
for _t in MSGPACK_TYPES:
    _DECODERS[_t] = (
        msgspec.msgpack.Decoder(IngressEvent),
        msgspec.msgpack.Decoder(list[IngressEvent]),
        msgspec.msgpack.Decoder(Event),
        msgspec.msgpack.Decoder(list[Event]),
    )


def _where(index: int) -> str:
    return f"[{index}]." if index >= 0 else ""


_encoder = msgspec.json.Encoder()


class Ingress:
    """The two intake routes; components are shared with the server (admission reloads)."""

    def __init__(
        self,
        router: Router,
        admission: Admission,
        metrics: ServerMetrics,
        *,
        max_batch: int,
        journal: EventJournal | None = None,
    ) -> None:
        self.router = router
        self.admission = admission
        self.metrics = metrics
        self.max_batch = max_batch
        self.journal = journal
        self._id_prefix = os.urandom(4).hex()
        self._ids = itertools.count(1)
        self._subjects: dict[str, tuple[str, str, Category | None]] = {}

    # -- validation ----------------------------------------------------------------

    def _subject_info(self, subject: str) -> tuple[str, str, Category | None]:
        """(error, metrics prefix, category its prefix implies) of ``subject``, cached."""
        info = self._subjects.get(subject)
        if info is None:
            try:
                validate_subject(subject)
                error = ""
            except InvalidSubject as exc:
                error = str(exc)
            head = subject.split(".", 1)[0]
            info = (error, prefix_of(subject), _CATEGORY_BY_PREFIX.get(head))
            if len(self._subjects) >= 65_536:
                self._subjects.clear()  # bounded: clients choose subjects
            self._subjects[subject] = info
        return info

    def _check(self, item: IngressEvent | Event, index: int) -> Category | None:
        """Validate what the codec cannot; answer the category the subject implies."""
        error, _, implied = self._subject_info(item.subject)
        if error:
            raise IngressError(422, "invalid_subject", f"{_where(index)}subject: {error}")
        if not PRIORITY_MIN <= item.priority <= PRIORITY_MAX:
            raise IngressError(
                422,
                "invalid_field",
                f"{_where(index)}priority: must be in {PRIORITY_MIN}..{PRIORITY_MAX},"
                f" got {item.priority}",
            )
        if not item.source:
            raise IngressError(422, "invalid_field", f"{_where(index)}source: must not be empty")
        if item.id is not None and not item.id:
            raise IngressError(422, "invalid_field", f"{_where(index)}id: must not be empty")
        return implied

    def to_event(self, item: IngressEvent | Event, index: int = -1) -> Event:
        """The ``events.Event`` of ``item``; raise a 422 IngressError naming the field.

        ``index`` is the item's place in a batch (-1: a single event), for the message.
        """
        implied = self._check(item, index)
        if type(item) is Event:
            return item  # decoded complete: nothing to fill in
        assert isinstance(item, IngressEvent)
        category = item.category
        if category is None:
            category = implied
            if category is None:
                raise IngressError(
                    422,
                    "invalid_field",
                    f"{_where(index)}category: missing, and subject prefix of"
                    f" {item.subject!r} names no category",
                )
        event_id = item.id
        if event_id is None:
            event_id = f"{self._id_prefix}-{next(self._ids):x}"
        # Positional, in Event's field order: measurably cheaper than keywords per event.
        return Event(
            event_id,
            item.subject,
            category,
            item.source,
            item.priority,
            item.payload,
            item.targets,
            item.headers,
            item.seq,
            item.t_intended_ns,
        )

    async def _read(self, request: web.Request, batch: bool) -> Any:
        state = self.admission.state_nowait()
        if state:
            self.admission.rejected[state] += 1
            raise self._unavailable(state)
        # The raw header first: parsing it (request.content_type) costs more than the lookup.
        decoders = _DECODERS.get(request.headers.get("Content-Type", ""))
        if decoders is None:
            decoders = _DECODERS.get(request.content_type)
        if decoders is None:
            known = ", ".join(sorted(JSON_TYPES | MSGPACK_TYPES))
            raise IngressError(
                415,
                "unsupported_media_type",
                f"Content-Type {request.content_type!r} is not one of: {known}",
            )
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge as exc:
            raise IngressError(413, "too_large", f"request body too large: {exc.text}") from None
        try:
            # Complete events (id and category given) decode straight into Event; only
            # bodies that need filling in pay for the second, IngressEvent, decode.
            try:
                return decoders[3 if batch else 2].decode(body)
            except msgspec.ValidationError:
                return decoders[1 if batch else 0].decode(body)
        except msgspec.ValidationError as exc:
            raise IngressError(422, "invalid_field", str(exc)) from None
        except msgspec.DecodeError as exc:
            raise IngressError(400, "malformed", f"malformed body: {exc}") from None

    def _unavailable(self, state: str) -> IngressError:
        retry = self.admission.config.retry_after_s
        if state == DRAINING:
            return IngressError(503, "draining", "the daemon is shutting down", retry)
        if state == REJECT_INVALID:
            return IngressError(422, "invalid", "the router refused the event as invalid")
        if state == RATE_LIMITED:
            return IngressError(429, "rate_limited", "source over its rate limit", retry)
        return IngressError(503, OVERLOADED, f"router refused events: {state}", retry)

    def _admit(self, events: list[Event]) -> None:
        verdict = self.admission.check_batch_nowait(map(_SOURCE, events))
        if verdict:
            for e in events:
                self.metrics.count_ingress(self._subject_info(e.subject)[1], verdict)
            raise self._unavailable(verdict)

    async def _durable(self, events: list[Event]) -> None:
        if self.journal is None or not events:
            return
        try:
            await self.journal.append_nowait(events)
        except OSError as exc:
            raise IngressError(
                503, "journal_failed", f"accepted in memory, journal write failed: {exc}", 1
            ) from None

    # -- routes --------------------------------------------------------------------

    async def post_event(self, request: web.Request) -> web.Response:
        return await self._timed("events", self._one, request)

    async def post_batch(self, request: web.Request) -> web.Response:
        return await self._timed("events:batch", self._batch, request)

    async def _timed(
        self,
        route: str,
        body: Callable[[web.Request], Awaitable[web.Response]],
        request: web.Request,
    ) -> web.Response:
        t0 = time.perf_counter_ns()
        try:
            response = await body(request)
        except IngressError as exc:
            response = from_exception(exc)
        self.metrics.count_request(route, response.status, time.perf_counter_ns() - t0)
        return response

    async def _one(self, request: web.Request) -> web.Response:
        item: IngressEvent | Event = await self._read(request, batch=False)
        event = self.to_event(item)
        self._admit([event])
        ack = self.router.publish(event)
        self.metrics.count_ingress(self._subject_info(event.subject)[1], ack.reason or "accepted")
        if not ack.ok:
            raise self._unavailable(ack.reason)
        if self.journal is not None:
            await self._durable([event])
        return self._answer(Accepted([event.id]))

    async def _batch(self, request: web.Request) -> web.Response:
        items: list[IngressEvent | Event] = await self._read(request, batch=True)
        if not items:
            raise IngressError(422, "empty_batch", "a batch must hold at least one event")
        if len(items) > self.max_batch:
            raise IngressError(
                413, "too_large", f"batch of {len(items)} events exceeds max_batch {self.max_batch}"
            )
        to_event = self.to_event
        events = [to_event(item, i) for i, item in enumerate(items)]
        self._admit(events)
        publish = self.router.publish
        acks = [publish(event) for event in events]
        by_subject = Counter(map(_SUBJECT, events))
        rejected = [
            Rejected(index, events[index].id, ack.reason)
            for index, ack in enumerate(acks)
            if not ack.ok
        ]
        count = self.metrics.count_ingress
        info = self._subject_info
        if rejected:
            for r in rejected:
                subject = events[r.index].subject
                by_subject[subject] -= 1
                count(info(subject)[1], r.reason)
            taken = [event for event, ack in zip(events, acks, strict=True) if ack.ok]
        else:
            taken = events
        for subject, n in by_subject.items():
            if n:
                count(info(subject)[1], "accepted", n)
        if not taken:
            raise self._unavailable(rejected[0].reason)
        if self.journal is not None:
            await self._durable(taken)
        return self._answer(Accepted([event.id for event in taken], rejected))

    @staticmethod
    def _answer(body: Accepted) -> web.Response:
        return web.Response(status=202, body=_encoder.encode(body), content_type="application/json")
