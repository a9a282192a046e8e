"""Connecting to NATS: bounded first connect, endless reconnects, credentials from config."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Any

import nats.errors
from nats.aio.client import Client

from daemon.jetstream.config import JetStreamConfig
from daemon.jetstream.errors import TransportError


async def connect(
    config: JetStreamConfig,
    on_error: Callable[[Exception], Awaitable[None]],
    on_reconnected: Callable[[], Awaitable[None]],
) -> Client:
    """A connection to ``config.url`` made within ``connect_timeout_s``.

    nats-py retries a first connect as often as a reconnect (forever, here), so
    the first one is bounded: a server that is not there is a
    :class:`TransportError` naming it (password redacted). Once connected,
    losing the server reconnects without end; pull requests are renewed then.
    ``credentials`` is a ``.creds`` file path or ``token:<token>``.
    """
    options: dict[str, Any] = {
        "servers": [config.url],
        "name": f"switchyard-{os.getpid()}",
        "connect_timeout": config.connect_timeout_s,
        "allow_reconnect": True,
        "max_reconnect_attempts": -1,
        "reconnect_time_wait": 0.5,
        "error_cb": on_error,
        "reconnected_cb": on_reconnected,
        # Every subject this client sends is already valid: event subjects pass
        # events.subjects.is_valid_subject before publish, prefixes and names are
        # validated in config, inboxes are nats-py's and ack subjects the server's.
        # nats-py's own check would cost ~0.3 us three times per event.
        "skip_subject_validation": True,
    }
    if config.credentials.startswith("token:"):
        options["token"] = config.credentials.removeprefix("token:")
    elif config.credentials:
        options["user_credentials"] = config.credentials
    nc = Client()
    last_error: list[Exception] = []
    connecting = True

    async def errors(exc: Exception) -> None:
        # While connecting, each failed try is kept for one error message, not logged.
        if connecting:
            last_error[:] = [exc]
        else:
            await on_error(exc)

    options["error_cb"] = errors
    try:
        async with asyncio.timeout(config.connect_timeout_s):
            await nc.connect(**options)
    except (nats.errors.Error, OSError, TimeoutError) as exc:
        await nc.close()
        cause = repr(last_error[0]) if last_error else repr(exc)
        raise TransportError(
            f"cannot connect to NATS at {config.redacted_url()}"
            f" within {config.connect_timeout_s}s: {cause}"
        ) from exc
    connecting = False
    return nc
