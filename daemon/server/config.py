"""The whole of ``configs/daemon.toml`` as msgspec Structs, validated at load.

``load_config`` reads the file, converts every table (errors name the file,
table and field), builds each subscriber's ``events.Subscription`` and imports
each in-process handler factory, so ``--check-config`` catches everything a
start would.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import msgspec

from daemon.jetstream.config import MIB, JetStreamConfig
from daemon.router.config import RouterConfig
from daemon.server.redact import redact
from events.config import convert, read_toml
from events.errors import ConfigError, InvalidSubject
from events.subjects import validate_pattern
from events.subscription import Subscription

DEFAULT_PORT = 8470


class ServerConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The HTTP listener and its request limits."""

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    client_max_size: int = 4 * 1024 * 1024
    max_batch: int = 10_000
    access_log: bool = False
    #: An id accepted within this many seconds is not routed again (answered as a duplicate).
    duplicate_window_s: float = 120.0
    #: Bounds of the duplicate window's memory; past either, the oldest ids are forgotten early.
    duplicate_max_ids: int = 1_000_000
    duplicate_max_bytes: int = 128 * 1024 * 1024
    #: ``Origin`` values a WebSocket upgrade may carry (``scheme://host[:port]``); none:
    #: only clients that send no ``Origin`` (browsers always do) may subscribe.
    allowed_origins: list[str] = []
    #: ``Host`` names served besides ``host``, ``localhost`` and loopback addresses (421 else).
    allowed_hosts: list[str] = []
    #: Seconds a client has to send a request's line and headers (from accept, or
    #: from the first byte of a next request on a kept-alive connection).
    header_timeout_s: float = 10.0
    #: Seconds a client has to send a request's body once its headers are in.
    body_timeout_s: float = 30.0
    #: Seconds an idle kept-alive connection is held waiting for a next request.
    keepalive_timeout_s: float = 75.0
    #: Connections open at once; past it a new one gets 503 and is closed. Lowered at
    #: start (with a warning) to stay below the process's file descriptor limit.
    max_connections: int = 1000

    def __post_init__(self) -> None:
        for origin in self.allowed_origins:
            if not _ORIGIN.fullmatch(origin):
                raise ConfigError(
                    f"server.allowed_origins: {origin!r} is not an origin (scheme://host[:port])"
                )
        for name in self.allowed_hosts:
            if not name or "/" in name or any(c.isspace() for c in name):
                raise ConfigError(f"server.allowed_hosts: {name!r} is not a host name")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"server.port must be in 0..65535, got {self.port}")
        for name in ("header_timeout_s", "body_timeout_s", "keepalive_timeout_s"):
            value = getattr(self, name)
            if not 0 < value <= 3600:
                raise ConfigError(f"server.{name} must be in (0, 3600], got {value}")
        if self.max_connections < 1:
            raise ConfigError(f"server.max_connections must be >= 1, got {self.max_connections}")
        if self.client_max_size < 1024:
            raise ConfigError(f"server.client_max_size must be >= 1024, got {self.client_max_size}")
        if self.max_batch < 1:
            raise ConfigError(f"server.max_batch must be >= 1, got {self.max_batch}")
        if self.duplicate_window_s < 0:
            raise ConfigError(
                f"server.duplicate_window_s must be >= 0, got {self.duplicate_window_s}"
            )
        if self.duplicate_max_ids < 1 or self.duplicate_max_bytes < 1:
            raise ConfigError("server.duplicate_max_ids and duplicate_max_bytes must be >= 1")


_ORIGIN = re.compile(r"[a-z][a-z0-9+.-]*://[^/\s?#]+")
_SHA256 = re.compile(r"[0-9a-f]{64}")
#: Principal names: they appear in metrics labels, logs and 403 bodies.
_NAME = re.compile(r"[A-Za-z0-9._@:-]{1,64}")
#: The principal of every request while ``[auth] enabled = false``.
ANONYMOUS = "anonymous"


class RateLimit(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A token bucket: ``rate`` events/s sustained, ``burst`` at once."""

    rate: float
    burst: float

    def __post_init__(self) -> None:
        if self.rate <= 0:
            raise ConfigError(f"admission rate must be > 0, got {self.rate}")
        if self.burst < 1:
            raise ConfigError(f"admission burst must be >= 1, got {self.burst}")


class AdmissionConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """When the ingress answers 503 (high water) or 429 (a principal over its bucket)."""

    high_water: float = 0.8
    retry_after_s: int = 1
    sample_interval_s: float = 0.05
    #: The bucket of every principal not listed in ``principals``; None: unlimited.
    default_limit: RateLimit | None = None
    #: Token buckets by principal: a token's name, or ``anonymous`` while auth is off.
    principals: dict[str, RateLimit] = {}
    #: WebSocket streams one principal may hold open at once (429 past it); None: only
    #: ``streams.max_streams`` bounds them (with auth off every client is one principal).
    max_streams_per_principal: int | None = None

    def __post_init__(self) -> None:
        if not 0.0 < self.high_water <= 1.0:
            raise ConfigError(f"admission.high_water must be in (0, 1], got {self.high_water}")
        if self.retry_after_s < 1:
            raise ConfigError(f"admission.retry_after_s must be >= 1, got {self.retry_after_s}")
        if self.sample_interval_s <= 0:
            raise ConfigError(
                f"admission.sample_interval_s must be > 0, got {self.sample_interval_s}"
            )
        if self.max_streams_per_principal is not None and self.max_streams_per_principal < 1:
            raise ConfigError("admission.max_streams_per_principal must be >= 1")


class TokenConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One bearer token: a principal and what it may do (NATS-style allow lists)."""

    name: str
    #: Lowercase hex SHA-256 of the token's UTF-8 bytes; the token itself is never stored.
    sha256: str
    publish: list[str] = []
    subscribe: list[str] = []
    #: May read ``/metrics``, ``/v1/status`` and start or stop recordings.
    monitor: bool = False

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise ConfigError(
                f"auth.tokens: name {self.name!r} must be 1-64 of A-Z a-z 0-9 . _ @ : -"
            )
        if not _SHA256.fullmatch(self.sha256):
            raise ConfigError(
                f"auth.tokens {self.name!r}: sha256 must be 64 lowercase hex digits"
                " (`python -m daemon token --name NAME` prints one)"
            )
        for field, patterns in (("publish", self.publish), ("subscribe", self.subscribe)):
            for pattern in patterns:
                try:
                    validate_pattern(pattern)
                except InvalidSubject as exc:
                    raise ConfigError(f"auth.tokens {self.name!r}: {field}: {exc}") from None


class AuthConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Bearer-token authentication; off: every client is the principal ``anonymous``."""

    enabled: bool = False
    tokens: list[TokenConfig] = []

    def __post_init__(self) -> None:
        names: set[str] = set()
        digests: set[str] = set()
        for token in self.tokens:
            if token.name in names:
                raise ConfigError(f"auth.tokens: name {token.name!r} is configured twice")
            if token.sha256 in digests:
                raise ConfigError(f"auth.tokens {token.name!r}: same sha256 as another token")
            names.add(token.name)
            digests.add(token.sha256)
        if self.enabled and not self.tokens:
            raise ConfigError("auth.enabled is true but no [[auth.tokens]] is configured")


class HealthConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The event-loop lag watchdog behind ``/healthz``."""

    tick_s: float = 0.1
    lag_threshold_s: float = 0.5
    #: /readyz answers 503 while more than ``refusal_ratio`` of at least
    #: ``refusal_min_requests`` ingress requests over the last ``refusal_window_s``
    #: seconds were answered 503 or 429.
    refusal_window_s: float = 10.0
    refusal_ratio: float = 0.5
    refusal_min_requests: int = 20

    def __post_init__(self) -> None:
        if self.refusal_window_s <= 0:
            raise ConfigError(f"health.refusal_window_s must be > 0, got {self.refusal_window_s}")
        if not 0.0 <= self.refusal_ratio < 1.0:
            raise ConfigError(f"health.refusal_ratio must be in [0, 1), got {self.refusal_ratio}")
        if self.refusal_min_requests < 1:
            raise ConfigError("health.refusal_min_requests must be >= 1")
        if self.tick_s < 0.005:
            raise ConfigError(f"health.tick_s must be >= 0.005, got {self.tick_s}")
        if self.lag_threshold_s <= 0:
            raise ConfigError(f"health.lag_threshold_s must be > 0, got {self.lag_threshold_s}")


class LifecycleConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Shutdown: how long to drain, where undelivered events are spilled."""

    drain_timeout_s: float = 10.0
    dead_letter_journal: str = "var/dead-letters.jsonl"
    final_report: str = ""

    def __post_init__(self) -> None:
        if self.drain_timeout_s <= 0:
            raise ConfigError(f"lifecycle.drain_timeout_s must be > 0, got {self.drain_timeout_s}")
        if not self.dead_letter_journal:
            raise ConfigError("lifecycle.dead_letter_journal must name a file")


class JournalConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Optional write-ahead journal: accept = appended; fsync batched; replayed at start."""

    enabled: bool = False
    path: str = "var/journal.jsonl"
    fsync_interval_s: float = 0.005
    checkpoint_interval_s: float = 1.0
    #: A segment is closed past this size and deleted once all its events ended.
    segment_bytes: int = 64 * 1024 * 1024

    def __post_init__(self) -> None:
        if self.segment_bytes < 4096:
            raise ConfigError(f"journal.segment_bytes must be >= 4096, got {self.segment_bytes}")
        if self.fsync_interval_s <= 0:
            raise ConfigError(f"journal.fsync_interval_s must be > 0, got {self.fsync_interval_s}")
        if self.checkpoint_interval_s <= 0:
            raise ConfigError("journal.checkpoint_interval_s must be > 0")


class RecordConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Recording accepted events as a trace (docs/traces.md): sampled, rotated, off the hot path.

    ``enabled`` records from start-up; ``POST /v1/record:start`` and ``:stop`` switch
    it at run time either way. ``path`` is the newest finished file; older ones are
    ``path.1`` … ``path.{files-1}``; the one being written is a hidden file beside
    them, so the files on disk stay under ``max_bytes`` (each holds
    ``max_bytes / (files + 1)`` at most, unless one event line alone is larger).
    """

    enabled: bool = False
    path: str = "var/record/trace.jsonl"
    #: Fraction of accepted events kept, each independently, seeded by ``seed``.
    sample: float = 1.0
    seed: int = 1
    max_bytes: int = 1024 * 1024 * 1024
    files: int = 4
    payloads: bool = False
    #: Sampled events held for the writer; beyond it they are counted as dropped.
    buffer: int = 50_000
    flush_interval_s: float = 0.2

    def __post_init__(self) -> None:
        if not self.path:
            raise ConfigError("record.path must name a file")
        if self.path.endswith(".gz"):
            raise ConfigError(f"record.path: traces are written uncompressed, got {self.path!r}")
        if not 0.0 < self.sample <= 1.0:
            raise ConfigError(f"record.sample must be in (0, 1], got {self.sample}")
        if self.files < 1:
            raise ConfigError(f"record.files must be >= 1, got {self.files}")
        if self.max_bytes // (self.files + 1) < 4096:
            raise ConfigError(
                f"record.max_bytes must leave each of files + 1 = {self.files + 1} files"
                f" at least 4096 bytes, got {self.max_bytes}"
            )
        if self.buffer < 1:
            raise ConfigError(f"record.buffer must be >= 1, got {self.buffer}")
        if self.flush_interval_s <= 0:
            raise ConfigError(f"record.flush_interval_s must be > 0, got {self.flush_interval_s}")


class LoggingConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """structlog: JSON lines in production, console on a TTY (``auto``)."""

    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"


class StreamsConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """WebSocket subscribers (``GET /v1/subscribe``)."""

    send_buffer: int = 1000
    #: The most bytes (of JSON text) a socket's send buffer holds; past it, or past
    #: ``send_buffer`` messages, the socket is a slow consumer: closed with 1008.
    send_buffer_bytes: int = 4 * 1024 * 1024
    max_streams: int = 100
    mailbox: int = 10_000

    def __post_init__(self) -> None:
        if self.send_buffer < 1:
            raise ConfigError(f"streams.send_buffer must be >= 1, got {self.send_buffer}")
        if self.send_buffer_bytes < 1024:
            raise ConfigError(
                f"streams.send_buffer_bytes must be >= 1024, got {self.send_buffer_bytes}"
            )
        if self.max_streams < 0:
            raise ConfigError(f"streams.max_streams must be >= 0, got {self.max_streams}")
        if self.mailbox < 1:
            raise ConfigError(f"streams.mailbox must be >= 1, got {self.mailbox}")


class HandlerConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """An in-process subscriber: ``factory`` is ``module:callable`` returning a handler.

    The factory is called with ``args`` as keyword arguments. ``policy`` holds
    any ``events.Subscription`` field but ``service`` and ``pattern``.
    """

    service: str
    pattern: str
    factory: str
    args: dict[str, Any] = {}
    policy: dict[str, Any] = {}


class WebhookConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A subscriber reached by ``POST url`` with the event as JSON; non-2xx fails the attempt."""

    service: str
    pattern: str
    url: str
    headers: dict[str, str] = {}
    policy: dict[str, Any] = {}

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise ConfigError(
                f"webhook {self.service!r}: url must be http(s), got {redact(self.url)!r}"
            )


class WebhooksConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The one pooled client session all webhooks share."""

    pool_size: int = 100
    timeout_s: float = 5.0

    def __post_init__(self) -> None:
        if self.pool_size < 1:
            raise ConfigError(f"webhook_client.pool_size must be >= 1, got {self.pool_size}")
        if self.timeout_s <= 0:
            raise ConfigError(f"webhook_client.timeout_s must be > 0, got {self.timeout_s}")


class TransportConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Where events go between ingress and handlers: this process's memory, or JetStream.

    With ``kind = "jetstream"`` every daemon started with the same table shares the
    stream and the durable consumers (each event handled once among them) and 202
    means the stream stored the event. The other fields are those of
    ``daemon.jetstream.JetStreamConfig`` a deployment sets; they are ignored for
    ``memory``.
    """

    kind: Literal["memory", "jetstream"] = "memory"
    url: str = ""
    stream: str = "SWITCHYARD"
    subject_prefix: str = "switchyard"
    dead_letter_stream: str = "SWITCHYARD_DLQ"
    replicas: int = 1
    max_age_s: float = 0.0
    max_bytes: int = 1024 * MIB
    storage: str = "file"
    #: A NATS ``.creds`` file path, or ``token:<token>``.
    credentials: str = ""
    ack_wait_s: float = 30.0
    prefetch: int = 32
    drain_backlog: bool = False
    #: ``--embedded-nats`` keeps the server's store here (empty: a temporary folder).
    embedded_store_dir: str = ""

    def __post_init__(self) -> None:
        if self.kind != "jetstream":
            return
        if not self.url:
            raise ConfigError(
                "transport.url is required with kind = 'jetstream' (e.g. nats://127.0.0.1:4222)"
            )
        creds = self.credentials
        if creds and not creds.startswith("token:") and not Path(creds).is_file():
            raise ConfigError(
                f"transport.credentials {creds!r}: no such file (a .creds path, or token:<token>)"
            )
        self.jetstream()  # the transport's own checks, named transport.<field>

    def jetstream(self) -> JetStreamConfig:
        """The router's config; raise ConfigError naming the field when a value is refused."""
        return JetStreamConfig(
            url=self.url,
            stream=self.stream,
            subject_prefix=self.subject_prefix,
            dead_letter_stream=self.dead_letter_stream,
            replicas=self.replicas,
            max_age_s=self.max_age_s,
            max_bytes=self.max_bytes,
            storage=self.storage,
            credentials=self.credentials,
            ack_wait_s=self.ack_wait_s,
            prefetch=self.prefetch,
            drain_backlog=self.drain_backlog,
        )


class DaemonConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Everything in ``configs/daemon.toml``."""

    router: RouterConfig = msgspec.field(default_factory=RouterConfig)
    server: ServerConfig = ServerConfig()
    admission: AdmissionConfig = AdmissionConfig()
    auth: AuthConfig = AuthConfig()
    health: HealthConfig = HealthConfig()
    lifecycle: LifecycleConfig = LifecycleConfig()
    journal: JournalConfig = JournalConfig()
    record: RecordConfig = RecordConfig()
    logging: LoggingConfig = LoggingConfig()
    streams: StreamsConfig = StreamsConfig()
    webhook_client: WebhooksConfig = WebhooksConfig()
    transport: TransportConfig = TransportConfig()
    handlers: list[HandlerConfig] = []
    webhooks: list[WebhookConfig] = []

    def configured_paths(self) -> dict[str, str]:
        """Every file path this config names, by the key that names it (one place to add one)."""
        paths = {
            "lifecycle.dead_letter_journal": self.lifecycle.dead_letter_journal,
            "journal.path": self.journal.path,
        }
        if self.lifecycle.final_report:
            paths["lifecycle.final_report"] = self.lifecycle.final_report
        if self.record.path:
            # Even with recording off: POST /v1/record:start may begin it at run time.
            paths["record.path"] = self.record.path
        return paths


def _resolved_paths(config: DaemonConfig, config_path: str) -> dict[str, tuple[str, str]]:
    """Every configured path and the config file: key -> (as written, resolved)."""
    paths = {**config.configured_paths(), "the config file": config_path}
    return {key: (path, str(Path(path).resolve())) for key, path in paths.items()}


def check_paths(config: DaemonConfig, config_path: str) -> None:
    """Refuse a journal path equal to, or a prefix of, another configured path.

    The journal writes ``<path>.<number>`` files and deletes them once their events
    ended: another file under such a name would be read as a segment. The config
    file itself counts as a configured path. Raise ConfigError naming both keys.
    """
    paths = _resolved_paths(config, config_path)
    journal = paths.pop("journal.path")[1]
    for key, (other, resolved) in paths.items():
        if resolved.startswith(journal):
            how = "equal to" if resolved == journal else "a prefix of"
            raise ConfigError(
                f"{config_path}: journal.path {config.journal.path!r} is {how} {key}"
                f" {other!r}: the journal would read or delete that file; choose another path"
            )


class Loaded(msgspec.Struct, frozen=True):
    """A validated config with what it takes to start: subscriptions and handler factories."""

    config: DaemonConfig
    path: str
    handler_subs: list[tuple[Subscription, HandlerConfig]]
    webhook_subs: list[tuple[Subscription, WebhookConfig]]

    def subscriptions(self) -> list[Subscription]:
        return [s for s, _ in self.handler_subs] + [s for s, _ in self.webhook_subs]


def build_subscription(
    service: str, pattern: str, policy: dict[str, Any], where: str
) -> Subscription:
    """A Subscription from a subscriber's table; the error names ``where`` and the field."""
    if "service" in policy or "pattern" in policy:
        raise ConfigError(f"{where}.policy: service and pattern belong to the subscriber itself")
    try:
        return convert({**policy, "service": service, "pattern": pattern}, Subscription, where)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def resolve_factory(path: str, where: str) -> Callable[..., Any]:
    """Import ``module:callable``; raise ConfigError naming ``where`` when that fails."""
    module_name, sep, attr = path.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(f"{where}.factory: {path!r} is not a 'module:callable' path")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise ConfigError(f"{where}.factory: cannot import {module_name!r}: {exc}") from None
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise ConfigError(f"{where}.factory: {path!r} is not a callable")
    return factory  # type: ignore[no-any-return]


class SubscriberDiff(msgspec.Struct, frozen=True):
    """What a reload changes: subscribers to build (``fresh``: added and changed ones) by key."""

    fresh: Loaded
    added: list[str]
    changed: list[str]
    removed: list[str]


def diff_subscribers(
    active: dict[str, tuple[Subscription, HandlerConfig | WebhookConfig]], loaded: Loaded
) -> SubscriberDiff:
    """Compare running subscribers (by key) with a newly loaded config.

    A changed subscriber (same service and pattern, another policy or handler) is
    replaced: unsubscribed, then subscribed anew with a new mailbox. Only unchanged
    ones keep theirs.
    """
    wanted: dict[str, tuple[Subscription, HandlerConfig | WebhookConfig]] = {}
    for sub, h in loaded.handler_subs:
        wanted[sub.key] = (sub, h)
    for sub, w in loaded.webhook_subs:
        wanted[sub.key] = (sub, w)
    added = [key for key in wanted if key not in active]
    changed = [key for key, pair in wanted.items() if key in active and active[key] != pair]
    fresh = [wanted[key] for key in added + changed]
    subset = Loaded(
        config=loaded.config,
        path=loaded.path,
        handler_subs=[(s, c) for s, c in fresh if isinstance(c, HandlerConfig)],
        webhook_subs=[(s, c) for s, c in fresh if isinstance(c, WebhookConfig)],
    )
    return SubscriberDiff(
        fresh=subset,
        added=sorted(added),
        changed=sorted(changed),
        removed=sorted(active.keys() - wanted.keys()),
    )


#: Tables a running daemon cannot swap in: a change to them needs a restart.
RESTART_TABLES = (
    "router",
    "server",
    "journal",
    "lifecycle",
    "streams",
    "webhook_client",
    "record",
    "transport",
)


def restart_required(old: DaemonConfig, new: DaemonConfig) -> list[str]:
    tables = [name for name in RESTART_TABLES if getattr(old, name) != getattr(new, name)]
    # Tokens reload; switching auth on or off does not (see auth.Authenticator).
    return tables + (["auth.enabled"] if old.auth.enabled != new.auth.enabled else [])


def validate(config: DaemonConfig, path: str) -> Loaded:
    """Check what Struct validation alone cannot: paths, subscriptions, factories, unique keys."""
    check_paths(config, path)
    if config.transport.kind == "jetstream" and config.journal.enabled:
        raise ConfigError(
            f"{path}: [journal] enabled = true with [transport] kind = 'jetstream':"
            " the stream is the durable store (202 = stored); disable the journal"
        )
    handler_subs: list[tuple[Subscription, HandlerConfig]] = []
    webhook_subs: list[tuple[Subscription, WebhookConfig]] = []
    seen: set[str] = set()
    for index, h in enumerate(config.handlers):
        where = f"{path} handlers[{index}] ({h.service})"
        sub = build_subscription(h.service, h.pattern, h.policy, where)
        resolve_factory(h.factory, where)
        handler_subs.append((sub, h))
    for index, w in enumerate(config.webhooks):
        where = f"{path} webhooks[{index}] ({w.service})"
        webhook_subs.append((build_subscription(w.service, w.pattern, w.policy, where), w))
    for sub in [s for s, _ in handler_subs] + [s for s, _ in webhook_subs]:
        if sub.key in seen:
            raise ConfigError(f"{path}: subscription {sub.key!r} is configured twice")
        seen.add(sub.key)
    principals = {ANONYMOUS} | {token.name for token in config.auth.tokens}
    for name in config.admission.principals:
        if name not in principals:
            raise ConfigError(
                f"{path} [admission.principals] {name!r}: names no [[auth.tokens]] name"
                f" (nor {ANONYMOUS!r}, the principal while auth is off)"
            )
    check_record_path(config, path)
    return Loaded(config=config, path=path, handler_subs=handler_subs, webhook_subs=webhook_subs)


def check_record_path(config: DaemonConfig, path: str) -> None:
    """Raise ConfigError when the record files could land on another configured file.

    The recorder writes ``record.path`` and ``record.path.N``, so a record path equal
    to or a prefix of another configured path (or the other way round) is refused.
    """
    paths = _resolved_paths(config, path)
    if "record.path" not in paths:
        return
    record = paths.pop("record.path")[1]
    for name, (other, resolved) in paths.items():
        if resolved.startswith(record) or record.startswith(resolved):
            raise ConfigError(
                f"{path}: record.path {config.record.path!r} overlaps {name} {other!r}:"
                " one is the other or a prefix of it, so their files could collide"
            )


def load_config(path: str | Path) -> Loaded:
    """Read and validate ``path``; raise ConfigError naming the file, table and field."""
    data = read_toml(path)
    admission = data.get("admission")
    for old in ("sources", "max_tracked_sources"):
        if isinstance(admission, dict) and old in admission:
            raise ConfigError(
                f"{path} [admission] {old}: renamed; token buckets key on the authenticated"
                " principal, never on the event's source: use [admission.principals]"
            )
    config = convert(data, DaemonConfig, str(path))
    return validate(config, str(path))
