"""Names, streams and durable consumers: how subscriptions and events map onto JetStream.

An event on ``fs.file.created`` is stored as ``<prefix>.fs.file.created``; a
subscription (or a queue group) is a durable consumer with a stable name.

Both streams use ``discard = new`` with a byte bound: a full stream refuses new
messages (the publisher retries, and back-pressure reaches ``publish`` as
``overloaded``) instead of silently deleting old ones. The event stream keeps
a message while some consumer still has to ack it (interest retention), so a
handled event does not stay on disk and one no subscription wants is not kept.
Every router with the same config declares the same streams and consumers;
declaring an existing one with the same settings is a no-op, and a changed one
is updated where JetStream allows it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

from nats.js import JetStreamContext
from nats.js import api as js_api
from nats.js.errors import APIError, BadRequestError, NotFoundError

from daemon.jetstream.config import JetStreamConfig
from daemon.jetstream.errors import TransportError
from events.subjects import patterns_overlap

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def stored_subject(prefix: str, subject: str) -> str:
    """The NATS subject an event on ``subject`` is stored under."""
    return f"{prefix}.{subject}"


def durable_name(durable_prefix: str, key: str) -> str:
    """A valid, stable consumer name for ``key``: readable slug plus a hash for uniqueness.

    Consumer names may not hold dots, wildcards or whitespace, so the slug keeps
    only safe characters; the hash keeps keys that differ only in those apart.
    """
    digest = hashlib.sha256(key.encode()).hexdigest()[:10]
    slug = _UNSAFE.sub("_", key).strip("_")[:32] or "sub"
    return f"{durable_prefix}-{slug}-{digest}"


def filter_subjects(prefix: str, patterns: Iterable[str]) -> list[str]:
    """The consumer filter for subscriptions on ``patterns`` (one lane's members).

    JetStream refuses overlapping filters in one consumer, so overlapping
    patterns share the whole prefix (``<prefix>.>``) and the lane matches each
    message against its members itself.
    """
    unique = sorted(set(patterns))
    for i, first in enumerate(unique):
        for second in unique[i + 1 :]:
            if patterns_overlap(first, second):
                return [f"{prefix}.>"]
    return [stored_subject(prefix, pattern) for pattern in unique]


#: JetStream's error code for "stream name already in use with a different configuration".
STREAM_NAME_IN_USE = 10058


def stream_configs(config: JetStreamConfig) -> tuple[js_api.StreamConfig, js_api.StreamConfig]:
    """The event stream's and the dead-letter stream's configuration."""
    storage = js_api.StorageType(config.storage)
    common = {
        "storage": storage,
        "num_replicas": config.replicas,
        "max_bytes": config.max_bytes,
        "discard": js_api.DiscardPolicy.NEW,
        "duplicate_window": config.duplicate_window_s,
    }
    events = js_api.StreamConfig(
        name=config.stream,
        subjects=[f"{config.subject_prefix}.>"],
        retention=js_api.RetentionPolicy.INTEREST,
        max_age=config.max_age_s or None,
        **common,  # type: ignore[arg-type]
    )
    dead = js_api.StreamConfig(
        name=config.dead_letter_stream,
        subjects=[f"{config.dead_letter_prefix}.>"],
        retention=js_api.RetentionPolicy.LIMITS,
        **common,  # type: ignore[arg-type]
    )
    return events, dead


async def ensure_streams(js: JetStreamContext, config: JetStreamConfig) -> None:
    """Create both streams or update them to ``config``; raise ``TransportError`` if refused."""
    for stream in stream_configs(config):
        try:
            await js.add_stream(stream)
        except BadRequestError as exc:
            if exc.err_code != STREAM_NAME_IN_USE:
                raise TransportError(f"stream {stream.name!r}: {exc.description}") from exc
            try:
                await js.update_stream(stream)
            except APIError as update_exc:
                raise TransportError(
                    f"stream {stream.name!r} exists with settings that cannot change:"
                    f" {update_exc.description}"
                ) from update_exc
        except APIError as exc:
            raise TransportError(f"stream {stream.name!r}: {exc.description}") from exc


async def ensure_consumer(
    js: JetStreamContext,
    config: JetStreamConfig,
    *,
    durable: str,
    filters: list[str],
    ack_wait_s: float,
    max_ack_pending: int,
    deliver_new: bool = False,
    inactive_s: float | None = None,
) -> bool:
    """Create (or update) the durable pull consumer ``durable`` on the event stream.

    Answers whether it was created (False: it existed and was updated). A new one
    starts at the first message of the stream, or, with ``deliver_new``, at the
    next one stored (a consumer declared after start: what was stored before was
    not routed to it). An existing one keeps where it starts (JetStream cannot
    change that), so every process sharing it can declare it alike.
    ``max_deliver`` stays unlimited: the router itself terminates a message after
    its last attempt and dead-letters it, so the server never gives up silently.
    With ``inactive_s`` the consumer is ephemeral: named, not durable, and removed by
    the server once nobody has pulled from it for that long (a process that died).
    """
    try:
        existing: js_api.ConsumerInfo | None = await js.consumer_info(config.stream, durable)
    except NotFoundError:
        existing = None
    except APIError as exc:
        raise TransportError(
            f"consumer {durable!r} on stream {config.stream!r}: {exc.description}"
        ) from exc
    deliver = js_api.DeliverPolicy.NEW if deliver_new else js_api.DeliverPolicy.ALL
    start_seq = start_time = None
    if existing is not None and existing.config.deliver_policy is not None:
        deliver = existing.config.deliver_policy
        start_seq, start_time = existing.config.opt_start_seq, existing.config.opt_start_time
    consumer = js_api.ConsumerConfig(
        name=durable,
        durable_name=None if inactive_s else durable,
        inactive_threshold=inactive_s,
        deliver_policy=deliver,
        opt_start_seq=start_seq,
        opt_start_time=start_time,
        ack_policy=js_api.AckPolicy.EXPLICIT,
        ack_wait=ack_wait_s,
        max_deliver=-1,
        max_ack_pending=max_ack_pending,
        max_waiting=512,
        filter_subject=filters[0] if len(filters) == 1 else None,
        filter_subjects=filters if len(filters) > 1 else None,
    )
    try:
        await js.add_consumer(config.stream, consumer)
    except APIError as exc:
        raise TransportError(
            f"consumer {durable!r} on stream {config.stream!r}: {exc.description}"
        ) from exc
    return existing is None


async def last_sequence(js: JetStreamContext, config: JetStreamConfig) -> int:
    """The sequence of the last message stored in the event stream (0 if none yet)."""
    try:
        info = await js.stream_info(config.stream)
    except APIError as exc:
        raise TransportError(f"stream {config.stream!r}: {exc.description}") from exc
    return int(info.state.last_seq)


async def delete_consumer(js: JetStreamContext, config: JetStreamConfig, name: str) -> None:
    """Remove consumer ``name`` (a local one leaving); one already gone is fine."""
    try:
        await js.delete_consumer(config.stream, name)
    except NotFoundError:
        pass
    except APIError as exc:
        raise TransportError(f"deleting consumer {name!r}: {exc.description}") from exc
