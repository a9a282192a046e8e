"""The JetStream transport's settings (the future ``[transport]`` table), validated.

Names decide sharing: routers with the same ``stream`` and ``subject_prefix``
share the stream, and the same subscriptions share their durable consumers
(each event handled once among them). :meth:`JetStreamConfig.in_namespace`
gives a copy whose names no other namespace touches, so independent routers
(tests, bench runs) can use one server side by side.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

import msgspec

from events.errors import ConfigError

#: Stream and consumer names: no dots, wildcards, whitespace or path separators.
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
#: A subject prefix: one or more plain tokens (no wildcards).
_PREFIX = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")
#: A namespace is one token usable in names and subjects alike.
_NAMESPACE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")

MIB = 1024 * 1024


class JetStreamConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Settings of :class:`daemon.jetstream.JetStreamRouter`; every field but ``url`` defaults."""

    #: The NATS server, e.g. ``nats://127.0.0.1:4222`` (user:password in it is redacted in logs).
    url: str = ""
    #: The stream that takes every accepted event.
    stream: str = "SWITCHYARD"
    #: Event subject ``fs.file.created`` is stored as ``<subject_prefix>.fs.file.created``.
    subject_prefix: str = "switchyard"
    #: The stream that dead letters go to (subjects ``<subject_prefix>_dlq.>``).
    dead_letter_stream: str = "SWITCHYARD_DLQ"
    #: Durable consumer names start with this.
    durable_prefix: str = "switchyard"
    #: ``file`` survives a server restart; ``memory`` is faster and does not.
    storage: str = "file"
    #: Stream replicas in a cluster (1 on a single server).
    replicas: int = 1
    #: Events older than this are removed even if unhandled (0 = never; events are kept).
    max_age_s: float = 0.0
    #: Bound of each stream in bytes; a full stream refuses new events (they are retried).
    max_bytes: int = 1024 * MIB
    #: Events with an id seen within this window are stored once (the dedupe rule).
    duplicate_window_s: float = 120.0
    #: A NATS ``.creds`` file path, or ``token:<token>``; empty for none.
    credentials: str = ""
    #: Seconds an un-acked delivery waits before the server redelivers it; raised per
    #: subscription to ``timeout_s + ACK_WAIT_MARGIN_S`` when its handler may run longer.
    ack_wait_s: float = 30.0
    #: Messages a subscription holds un-acked per worker: ``max_ack_pending`` of its
    #: consumer is ``concurrency * prefetch`` (1 gives the strict one-per-worker mapping).
    prefetch: int = 32
    #: Events accepted but not yet confirmed by a PubAck, at most (count and bytes).
    outgoing_max_events: int = 100_000
    outgoing_max_bytes: int = 64 * MIB
    #: Publishes awaiting their PubAck at once.
    acks_in_flight: int = 4096
    #: A PubAck not back after this is presumed lost; the publish is retried (deduped by id).
    publish_timeout_s: float = 5.0
    #: Lifetime of a pull request; an idle consumer renews one this often.
    pull_expires_s: float = 5.0
    #: Seconds to connect (and to wait for each JetStream API reply).
    connect_timeout_s: float = 5.0
    #: Entries the in-memory dead-letter mirror keeps (the DLQ stream keeps them all).
    dead_letter_capacity: int = 10_000
    #: How often the handler-timeout watchdog looks (seconds).
    watchdog_tick_s: float = 0.01
    #: Seed of the backoff jitter; None draws from the OS.
    seed: int | None = None
    #: Drain waits until the shared consumers hold nothing on the server (the whole
    #: backlog handled). False: only until what this process holds is done, the rest
    #: staying in the stream for the other processes (a rolling restart under load).
    drain_backlog: bool = True
    #: Delete both streams when the router drains: for a throwaway namespace (a test or a
    #: bench run) whose stream nobody else shares. Its stream reservations are freed with it.
    ephemeral: bool = False

    def __post_init__(self) -> None:
        for field in ("stream", "dead_letter_stream", "durable_prefix"):
            value = getattr(self, field)
            if not _NAME.match(value):
                raise ConfigError(
                    f"transport.{field} {value!r}: use 1-64 letters, digits, '_' or '-'"
                )
        if self.stream == self.dead_letter_stream:
            raise ConfigError("transport.dead_letter_stream must differ from transport.stream")
        if not _PREFIX.match(self.subject_prefix):
            raise ConfigError(
                f"transport.subject_prefix {self.subject_prefix!r}: use dot-separated tokens"
                " of letters, digits, '_' or '-'"
            )
        if self.url and urlsplit(self.url).scheme not in ("nats", "tls", "ws", "wss"):
            raise ConfigError(f"transport.url {self.redacted_url()!r}: use nats://host:port")
        if self.storage not in ("file", "memory"):
            raise ConfigError(f"transport.storage must be 'file' or 'memory', got {self.storage!r}")
        if not 1 <= self.replicas <= 5:
            raise ConfigError(f"transport.replicas must be in 1..5, got {self.replicas}")
        if self.max_age_s < 0:
            raise ConfigError(f"transport.max_age_s must be >= 0, got {self.max_age_s}")
        if self.max_bytes < MIB:
            raise ConfigError(f"transport.max_bytes must be >= 1 MiB, got {self.max_bytes}")
        if self.duplicate_window_s <= 0:
            raise ConfigError(
                f"transport.duplicate_window_s must be > 0, got {self.duplicate_window_s}"
            )
        if self.max_age_s and self.duplicate_window_s > self.max_age_s:
            raise ConfigError("transport.duplicate_window_s must not exceed max_age_s")
        if self.credentials.startswith("token:") and len(self.credentials) == len("token:"):
            raise ConfigError("transport.credentials 'token:' needs a token after the colon")
        for field in (
            "ack_wait_s",
            "publish_timeout_s",
            "pull_expires_s",
            "connect_timeout_s",
            "watchdog_tick_s",
        ):
            if getattr(self, field) <= 0:
                raise ConfigError(f"transport.{field} must be > 0, got {getattr(self, field)}")
        for field in (
            "prefetch",
            "outgoing_max_events",
            "outgoing_max_bytes",
            "acks_in_flight",
            "dead_letter_capacity",
        ):
            if getattr(self, field) < 1:
                raise ConfigError(f"transport.{field} must be >= 1, got {getattr(self, field)}")

    @property
    def dead_letter_prefix(self) -> str:
        """Subject prefix of the dead-letter stream."""
        return f"{self.subject_prefix}_dlq"

    def in_namespace(self, namespace: str) -> JetStreamConfig:
        """A copy whose stream, dead-letter stream and subjects carry ``namespace``."""
        if not _NAMESPACE.match(namespace):
            raise ConfigError(
                f"jetstream namespace {namespace!r}: use 1-32 letters, digits, '_' or '-'"
            )
        return msgspec.structs.replace(
            self,
            stream=f"{self.stream}_{namespace}"[:64],
            dead_letter_stream=f"{self.dead_letter_stream}_{namespace}"[:64],
            subject_prefix=f"{self.subject_prefix}_{namespace}",
        )

    def redacted_url(self) -> str:
        """``url`` with any password or user token replaced by ``***``."""
        parts = urlsplit(self.url)
        if not parts.username and not parts.password:
            return self.url
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
        return urlunsplit((parts.scheme, f"***@{host}", parts.path, parts.query, parts.fragment))
