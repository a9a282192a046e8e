"""The ingress wire format: what clients send, what the 202 answers, the decoders."""

from __future__ import annotations

from typing import Any

import msgspec

from events.model import Category, Event

JSON_TYPES = frozenset({"application/json"})
MSGPACK_TYPES = frozenset({"application/msgpack", "application/x-msgpack"})


class IngressEvent(msgspec.Struct, frozen=True, gc=False, forbid_unknown_fields=True):
    """An event as a client sends it: ``id`` and ``category`` may be omitted.

    The integer fields also decode from a float: JSON (and so the OpenAPI schema)
    counts ``2.0`` as the integer 2, so it is taken as 2; a float with a fraction is
    refused (422) by the ingress.
    """

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


class Rejected(msgspec.Struct, frozen=True):
    index: int
    id: str
    reason: str


class Accepted(msgspec.Struct, frozen=True, omit_defaults=True):
    """The 202 body: ids accepted, (batch only) items the router refused, and ids not
    routed again because they were accepted within the duplicate window."""

    accepted: list[str]
    rejected: list[Rejected] = []
    duplicates: list[str] = []


#: Per content type: decoders of (one IngressEvent, a batch of them, one Event, a batch
#: of Events), then the encoded ``id`` and ``category`` keys: a body holding neither
#: cannot decode as complete Events.
DECODERS: dict[str, tuple[Any, ...]] = {}
for _t in JSON_TYPES:
    DECODERS[_t] = (
        msgspec.json.Decoder(IngressEvent),
        msgspec.json.Decoder(list[IngressEvent]),
        msgspec.json.Decoder(Event),
        msgspec.json.Decoder(list[Event]),
        b'"id"',
        b'"category"',
    )
for _t in MSGPACK_TYPES:
    DECODERS[_t] = (
        msgspec.msgpack.Decoder(IngressEvent),
        msgspec.msgpack.Decoder(list[IngressEvent]),
        msgspec.msgpack.Decoder(Event),
        msgspec.msgpack.Decoder(list[Event]),
        msgspec.msgpack.encode("id"),
        msgspec.msgpack.encode("category"),
    )
