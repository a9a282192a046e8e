"""``POST /v1/events`` and ``POST /v1/events:batch``: decode, validate, admit, publish.

Bodies are JSON or MessagePack by ``Content-Type``. An event may omit ``id``
(the ingress assigns one) and ``category`` (inferred from the subject prefix).
A batch is validated all or nothing (one bad item: 422 naming its index, nothing
published) and rate-limited all or nothing (429), then published item by item:
the answer lists the accepted ids and any item the router refused, with the
reason; if the router refused every item the answer is 503.
"""

from __future__ import annotations

import asyncio
import itertools
import operator
import os
import time
from collections.abc import Callable
from typing import Any, cast

import msgspec
from aiohttp import web

from daemon.jetstream.outgoing import NotStored
from daemon.journal.event_journal import EventJournal
from daemon.server.admission import DRAINING, OVERLOADED, RATE_LIMITED, Admission
from daemon.server.auth import Principal
from daemon.server.duplicates import DuplicateWindow
from daemon.server.http.body import read_body, received_body_nowait
from daemon.server.http.errors import IngressError, from_exception
from daemon.server.http.guard import Access
from daemon.server.http.wire import (
    DECODERS,
    JSON_TYPES,
    MSGPACK_TYPES,
    Accepted,
    IngressEvent,
    Rejected,
)
from daemon.server.metrics import ServerMetrics, prefix_of
from daemon.server.recorder import Recorder
from events.errors import InvalidSubject
from events.model import (
    CATEGORY_PATTERNS,
    PRIORITY_MAX,
    PRIORITY_MIN,
    REJECT_INVALID,
    Ack,
    Category,
    Event,
)
from events.router import Router
from events.subjects import validate_subject

_SUBJECT = operator.attrgetter("subject")
_CATEGORY_BY_PREFIX = {p.split(".", 1)[0]: c for c, ps in CATEGORY_PATTERNS.items() for p in ps}
_encoder = msgspec.json.Encoder()
#: Bounds of the ingress's cache of valid subjects (entries, and their lengths added up).
SUBJECT_CACHE_ENTRIES = 65_536
SUBJECT_CACHE_BYTES = 4 * 1024 * 1024


def _where(index: int) -> str:
    return f"[{index}]." if index >= 0 else ""


def _whole_numbers(item: IngressEvent, index: int) -> tuple[int, int, int]:
    """``item``'s integer fields as ints: a float sent for one must be whole (422 otherwise)."""
    numbers = []
    for name in ("priority", "seq", "t_intended_ns"):
        value = getattr(item, name)
        if type(value) is float:
            if not value.is_integer():
                raise IngressError(
                    422, "invalid_field", f"{_where(index)}{name}: expected an integer, got {value}"
                )
            value = int(value)
        numbers.append(value)
    return numbers[0], numbers[1], numbers[2]


class Ingress:
    """The two intake routes; components are shared with the server (admission reloads)."""

    def __init__(
        self,
        router: Router,
        admission: Admission,
        metrics: ServerMetrics,
        *,
        max_batch: int,
        access: Access,
        journal: EventJournal | None = None,
        duplicates: DuplicateWindow | None = None,
        recorder: Recorder | None = None,
        stored: Callable[[int], asyncio.Future[None]] | None = None,
        max_body: int = 4 * 1024 * 1024,
    ) -> None:
        self.router = router
        self.duplicates = duplicates if duplicates is not None else DuplicateWindow(120.0)
        self.recorder = recorder
        self.admission = admission
        self.access = access
        self.metrics = metrics
        self.max_batch = max_batch
        #: ``server.client_max_size``: the most bytes a body may inflate to.
        self.max_body = max_body
        self.journal = journal
        # 64 random bits per process: server-made ids stay unique across restarts.
        self._id_prefix = os.urandom(8).hex()
        #: On JetStream: a future set once the last n accepted events are stored.
        self.stored = stored
        #: 202 waits (journal fsync or PubAck) before it is answered.
        self.waits = journal is not None or stored is not None
        self._ids = itertools.count(1)
        self._subjects: dict[str, tuple[str, str, Category | None]] = {}
        self._subject_bytes = 0

    # -- validation ----------------------------------------------------------------

    def _subject_info(self, subject: str) -> tuple[str, str, Category | None]:
        """(error, metrics prefix, category its prefix implies) of ``subject``.

        Valid subjects are cached, bounded in entries and bytes (clients choose
        subjects); an invalid one is not, so however many a client sends they cost
        no memory, and its error quotes at most the start of it.
        """
        info = self._subjects.get(subject)
        if info is None:
            try:
                validate_subject(subject)
            except InvalidSubject as exc:
                return (f"{exc} (rule: {exc.rule})", "", None)
            head = subject.split(".", 1)[0]
            info = ("", prefix_of(subject), _CATEGORY_BY_PREFIX.get(head))
            size = len(subject)
            if (
                len(self._subjects) >= SUBJECT_CACHE_ENTRIES
                or self._subject_bytes + size > SUBJECT_CACHE_BYTES
            ):
                self._subjects.clear()
                self._subject_bytes = 0
            self._subjects[subject] = info
            self._subject_bytes += size
        return info

    def _check(self, item: IngressEvent | Event, index: int) -> Category | None:
        """Validate what the codec cannot; answer the category the subject implies."""
        info = self._subjects.get(item.subject)  # the cache hit inlined: once per event
        error, _, implied = info if info is not None else self._subject_info(item.subject)
        if error:
            raise IngressError(422, "invalid_subject", f"{_where(index)}subject: {error}")
        if not PRIORITY_MIN <= item.priority <= PRIORITY_MAX or not item.source or item.id == "":
            self._refuse_field(item, index)
        return implied

    @staticmethod
    def _refuse_field(item: IngressEvent | Event, index: int) -> None:
        where = _where(index)
        if not PRIORITY_MIN <= item.priority <= PRIORITY_MAX:
            raise IngressError(
                422,
                "invalid_field",
                f"{where}priority: must be in {PRIORITY_MIN}..{PRIORITY_MAX}, got {item.priority}",
            )
        if not item.source:
            raise IngressError(422, "invalid_field", f"{where}source: must not be empty")
        raise IngressError(422, "invalid_field", f"{where}id: must not be empty")

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
            remembered = self.duplicates.remembered
            while event_id in remembered:  # a client sent this id first
                event_id = f"{self._id_prefix}-{next(self._ids):x}"
        priority, seq, t_intended_ns = item.priority, item.seq, item.t_intended_ns
        if type(priority) is not int or type(seq) is not int or type(t_intended_ns) is not int:
            priority, seq, t_intended_ns = _whole_numbers(item, index)
        # Positional, in Event's field order: measurably cheaper than keywords per event.
        return Event(
            event_id,
            item.subject,
            category,
            item.source,
            priority,
            item.payload,
            item.targets,
            item.headers,
            seq,
            t_intended_ns,
        )

    def _decoders_nowait(self, request: web.Request) -> tuple[Any, ...]:
        """Refuse early (draining, overloaded, unknown type) before reading the body."""
        state = self.admission.state_nowait()
        if state:
            self.admission.rejected[state] += 1
            raise self._unavailable(state)
        # The raw header first: parsing it (request.content_type) costs more than the lookup.
        decoders = DECODERS.get(request.headers.get("Content-Type", ""))
        if decoders is None:
            decoders = DECODERS.get(request.content_type)
        if decoders is None:
            known = ", ".join(sorted(JSON_TYPES | MSGPACK_TYPES))
            raise IngressError(
                415,
                "unsupported_media_type",
                f"Content-Type {request.content_type!r} is not one of: {known}",
            )
        return decoders

    @staticmethod
    def _decode_nowait(decoders: tuple[Any, ...], body: bytes, batch: bool) -> Any:
        try:
            # Complete events (id and category given) decode straight into Event. A
            # byte search (JSON keys, or their MessagePack fixstr forms) skips that try
            # when the body cannot be complete: a failed decode raises, and raising
            # costs more than searching.
            if decoders[4] in body and decoders[5] in body:
                try:
                    return decoders[3 if batch else 2].decode(body)
                except msgspec.ValidationError:
                    pass
            return decoders[1 if batch else 0].decode(body)
        except msgspec.ValidationError as exc:
            raise IngressError(422, "invalid_field", str(exc)) from None
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            # msgspec's MessagePack decoder raises UnicodeDecodeError on a str that is
            # not UTF-8 (found by the ingress fuzz test): malformed too, not a 500.
            raise IngressError(400, "malformed", f"malformed body: {exc}") from None

    def _unavailable(self, state: str) -> IngressError:
        retry = self.admission.config.retry_after_s
        if state == DRAINING:
            return IngressError(503, "draining", "the daemon is shutting down", retry)
        if state == REJECT_INVALID:
            return IngressError(422, "invalid", "the router refused the event as invalid")
        if state == RATE_LIMITED:
            return IngressError(429, "rate_limited", "principal over its rate limit", retry)
        return IngressError(503, OVERLOADED, f"router refused events: {state}", retry)

    def _admit(self, events: list[Event], principal: Principal) -> None:
        """Refuse the whole request (403, 429, 503) or let every event through."""
        self.access.authorise_publish_nowait(principal, events)
        self._limit(events, principal)

    def _limit(self, events: list[Event], principal: Principal) -> None:
        """Refuse the whole request past a rate limit (429); count the events admitted."""
        if not self.admission.unlimited:
            verdict = self.admission.check_nowait(principal.name, len(events))
            if verdict:
                for e in events:
                    self.metrics.count_ingress(self._subject_info(e.subject)[1], verdict)
                self.access.count_nowait(principal.name, verdict, len(events))
                raise self._unavailable(verdict)
        # draining and high water were checked before the body was read
        self.access.count_nowait(principal.name, "admitted", len(events))

    async def _durable(self, events: list[Event]) -> None:
        """Wait until ``events``, already published, are in the journal (or the stream).

        On JetStream (``stored``) 202 means the stream's PubAck arrived for each of
        them; a publish that fails is retried by the router (deduped by id), so the
        wait ends stored, or 503 ``not_stored`` if the daemon stops first.

        The order (publish, then append) cannot be swapped safely: only ``publish``
        decides acceptance (overloaded, draining), so an event journaled first and
        then refused would be replayed after a crash although its client was told
        503, and waiting for the fsync before publishing would add the group-commit
        interval to every delivery. So a failed write answers 503 ``journal_failed``
        for events the router has accepted and will most likely deliver: the answer
        says so, and the OpenAPI document tells clients to resend the same event
        ids (which subscribers dedupe on) rather than new ones.
        """
        if self.stored is not None:
            if not events:
                return  # a duplicate: its first copy's request waited for the PubAck
            # Before any await: these are still the last events the router accepted.
            waiting = self.stored(len(events))
            try:
                await waiting
            except NotStored as exc:
                raise IngressError(
                    503,
                    "not_stored",
                    f"{len(events)} event(s) accepted but the daemon stopped before the stream"
                    f" confirmed them ({exc}); they are dead-lettered here as unpublished:"
                    " resend the same event ids (the stream dedupes them)",
                    1,
                ) from None
            return
        if self.journal is None:
            return
        try:
            # Even with no event: a duplicate's answer waits for the write that
            # holds its first copy (a barrier), so "accepted" always means durable.
            await self.journal.append_nowait(events)
        except OSError as exc:
            self.duplicates.forget_nowait(e.id for e in events)  # a resend must route
            raise IngressError(
                503,
                "journal_failed",
                f"{len(events)} event(s) accepted by the router and will likely be delivered,"
                f" but the journal write failed ({exc}), so they are not durable; a retry"
                " delivers them again: resend the same event ids so subscribers can dedupe",
                1,
            ) from None

    async def _read(self, request: web.Request) -> bytes:
        """The body still arriving, or encoded: read (and inflated) as it streams in."""
        try:
            return await read_body(request, self.max_body)
        except web.HTTPRequestEntityTooLarge as exc:
            raise IngressError(413, "too_large", f"body too large: {exc.text}") from None

    # -- routes --------------------------------------------------------------------
    # Both routes are written out flat: each coroutine layer costs about a microsecond,
    # a measurable share of a single-event request.

    async def post_event(self, request: web.Request, principal: Principal) -> web.Response:
        t0 = time.perf_counter_ns()
        try:
            decoders = self._decoders_nowait(request)
            body = received_body_nowait(request, self.max_body)
            if body is None:
                body = await self._read(request)
            event, fresh = self._publish_one_nowait(
                self._decode_nowait(decoders, body, False), principal
            )
            if self.waits:
                await self._durable([event] if fresh else [])
            # The one-id answer spelled out: cheaper than building an Accepted struct.
            if fresh:
                response = self._raw_answer(b'{"accepted":[' + _encoder.encode(event.id) + b"]}")
            else:
                response = self._answer(Accepted([], duplicates=[event.id]))
        except IngressError as exc:
            response = from_exception(exc)
        self.metrics.count_request("events", response.status, time.perf_counter_ns() - t0)
        return response

    async def post_batch(self, request: web.Request, principal: Principal) -> web.Response:
        t0 = time.perf_counter_ns()
        try:
            decoders = self._decoders_nowait(request)
            body = received_body_nowait(request, self.max_body)
            if body is None:
                body = await self._read(request)
            taken, rejected, dups = self._publish_batch_nowait(
                self._decode_nowait(decoders, body, True), principal
            )
            if self.waits:
                await self._durable(taken)
            response = self._answer(Accepted([event.id for event in taken], rejected, dups))
        except IngressError as exc:
            response = from_exception(exc)
        self.metrics.count_request("events:batch", response.status, time.perf_counter_ns() - t0)
        return response

    def _publish_one_nowait(
        self, item: IngressEvent | Event, principal: Principal
    ) -> tuple[Event, bool]:
        """Publish one event; answer it and False when it is a duplicate (not routed)."""
        event = self.to_event(item)
        # _admit for one event, its common case inlined: this runs once per request.
        if not (principal.publish_all or principal.verdicts.get(event.subject)):
            self.access.authorise_publish_nowait(principal, [event])  # 403 when forbidden
        if self.admission.unlimited:
            counts = self.access.events
            key = principal.admitted
            counts[key] = counts.get(key, 0) + 1
        else:
            self._limit([event], principal)
        if item.id is None:  # made here and checked against the window by to_event
            ack: Ack | None = self.duplicates.publish_new_nowait(event, self.router.publish)
        else:
            ack = self.duplicates.publish_one_nowait(event, self.router.publish)
        if ack is None:
            self.metrics.count_ingress(self._subject_info(event.subject)[1], "duplicate")
            return event, False
        if not ack.ok:
            self.metrics.count_ingress(self._subject_info(event.subject)[1], ack.reason)
            raise self._unavailable(ack.reason)
        accepted = self.metrics.accepted_subjects
        accepted[event.subject] += 1  # a Counter: missing keys count from 0
        if len(accepted) > 65_536:
            self.metrics.fold_accepted()  # bounded: clients choose subjects
        recorder = self.recorder
        if recorder is not None and recorder.active:
            recorder.offer_nowait([event])
        return event, True

    def _publish_batch_nowait(
        self, items: list[IngressEvent | Event], principal: Principal
    ) -> tuple[list[Event], list[Rejected], list[str]]:
        """Validate all, admit all, then publish each; answer (accepted, refused, duplicate ids)."""
        if not items:
            raise IngressError(422, "empty_batch", "a batch must hold at least one event")
        if len(items) > self.max_batch:
            raise IngressError(
                413, "too_large", f"batch of {len(items)} events exceeds max_batch {self.max_batch}"
            )
        subjects = self._subjects
        for item in items:
            # to_event's common case inlined (a complete Event on a cached, so valid,
            # subject): when every item is one, the decoded list is the events list.
            if not (
                type(item) is Event
                and item.subject in subjects
                and PRIORITY_MIN <= item.priority <= PRIORITY_MAX
                and item.source
                and item.id
            ):
                to_event = self.to_event
                events = [to_event(item, i) for i, item in enumerate(items)]
                break
        else:
            events = cast("list[Event]", items)
        self._admit(events, principal)
        taken, refused, duplicates = self.duplicates.publish_nowait(events, self.router.publish)
        rejected = [Rejected(index, events[index].id, ack.reason) for index, ack in refused]
        for r in rejected:
            subject = events[r.index].subject
            self.metrics.count_ingress(self._subject_info(subject)[1], r.reason)
        for d in duplicates:
            self.metrics.count_ingress(self._subject_info(d.subject)[1], "duplicate")
        self.metrics.count_accepted(map(_SUBJECT, taken))
        recorder = self.recorder
        if recorder is not None and recorder.active and taken:
            recorder.offer_nowait(taken)
        if not taken and not duplicates:
            raise self._unavailable(rejected[0].reason)
        return taken, rejected, [d.id for d in duplicates]

    @staticmethod
    def _raw_answer(body: bytes) -> web.Response:
        return web.Response(status=202, body=body, content_type="application/json")

    @staticmethod
    def _answer(body: Accepted) -> web.Response:
        return web.Response(status=202, body=_encoder.encode(body), content_type="application/json")
