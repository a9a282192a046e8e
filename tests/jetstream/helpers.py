"""Builders shared by the JetStream tests: configs in fresh namespaces, events, stream reads."""

from __future__ import annotations

import secrets
from typing import Any

import nats

from daemon.jetstream import JetStreamConfig
from events import Category, Event


def fresh_config(url: str, **fields: Any) -> JetStreamConfig:
    """A config on ``url`` in a namespace no other test uses (so tests can run side by side).

    Streams of 64 MiB: each stream reserves its bound in the server's storage for as
    long as it exists, and a session's tests leave some behind.
    """
    fields.setdefault("max_bytes", 64 * 1024 * 1024)
    return JetStreamConfig(url=url, **fields).in_namespace(secrets.token_hex(4))


def fs_event(n: int, **fields: Any) -> Event:
    """Event ``e<n>`` on ``fs.file.created``."""
    fields.setdefault("id", f"e{n}")
    return Event(
        subject="fs.file.created", category=Category.FILESYSTEM, source="test", seq=n, **fields
    )


async def stream_messages(url: str, stream: str) -> list[tuple[str, dict[str, str], bytes]]:
    """Every message of ``stream`` as (subject, headers, data), read with a separate connection."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        info = await js.stream_info(stream)
        found = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            msg = await js.get_msg(stream, seq)
            found.append((msg.subject or "", dict(msg.headers or {}), msg.data or b""))
        return found
    finally:
        await nc.close()


async def consumer_backlog(url: str, stream: str, durable: str) -> int:
    """What the server holds for ``durable`` (queued plus un-acked), read separately."""
    nc = await nats.connect(url)
    try:
        info = await nc.jetstream().consumer_info(stream, durable)
        return info.num_pending + info.num_ack_pending
    finally:
        await nc.close()
