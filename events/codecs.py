"""JSON and MessagePack codecs for events, built once (msgspec).

Unknown fields are an error, never silently dropped; bytes travel as base64 in JSON.
"""

from __future__ import annotations

import msgspec

from events.model import Event

json_encoder = msgspec.json.Encoder()
json_decoder = msgspec.json.Decoder(Event)
json_batch_decoder = msgspec.json.Decoder(list[Event])
msgpack_encoder = msgspec.msgpack.Encoder()
msgpack_decoder = msgspec.msgpack.Decoder(Event)
msgpack_batch_decoder = msgspec.msgpack.Decoder(list[Event])

#: Raised by every decoder on malformed input or invalid fields.
DecodeError = msgspec.DecodeError
ValidationError = msgspec.ValidationError


def encode_json(event: Event) -> bytes:
    return json_encoder.encode(event)


def decode_json(data: bytes) -> Event:
    return json_decoder.decode(data)


def encode_msgpack(event: Event) -> bytes:
    return msgpack_encoder.encode(event)


def decode_msgpack(data: bytes) -> Event:
    return msgpack_decoder.decode(data)
