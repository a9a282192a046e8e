"""The whole of ``configs/daemon.toml`` as msgspec Structs, validated at load.

``load_config`` reads the file, converts every table (errors name the file,
table and field), builds each subscriber's ``events.Subscription`` and imports
each in-process handler factory, so ``--check-config`` catches everything a
start would.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import msgspec

from daemon.router.config import RouterConfig
from events.config import convert, read_toml
from events.errors import ConfigError
from events.subscription import Subscription

DEFAULT_PORT = 8470


class ServerConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The HTTP listener and its request limits."""

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    client_max_size: int = 4 * 1024 * 1024
    max_batch: int = 10_000
    access_log: bool = False
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


class SourceLimit(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A token bucket: ``rate`` events/s sustained, ``burst`` at once."""

    rate: float
    burst: float

    def __post_init__(self) -> None:
        if self.rate <= 0:
            raise ConfigError(f"admission source rate must be > 0, got {self.rate}")
        if self.burst < 1:
            raise ConfigError(f"admission source burst must be >= 1, got {self.burst}")


class AdmissionConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """When the ingress answers 503 (high water) or 429 (a source over its bucket)."""

    high_water: float = 0.8
    retry_after_s: int = 1
    sample_interval_s: float = 0.05
    default_limit: SourceLimit | None = None
    sources: dict[str, SourceLimit] = {}
    max_tracked_sources: int = 10_000

    def __post_init__(self) -> None:
        if not 0.0 < self.high_water <= 1.0:
            raise ConfigError(f"admission.high_water must be in (0, 1], got {self.high_water}")
        if self.retry_after_s < 1:
            raise ConfigError(f"admission.retry_after_s must be >= 1, got {self.retry_after_s}")
        if self.sample_interval_s <= 0:
            raise ConfigError(
                f"admission.sample_interval_s must be > 0, got {self.sample_interval_s}"
            )
        if self.max_tracked_sources < 1:
            raise ConfigError("admission.max_tracked_sources must be >= 1")


class HealthConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The event-loop lag watchdog behind ``/healthz``."""

    tick_s: float = 0.1
    lag_threshold_s: float = 0.5

    def __post_init__(self) -> None:
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
            raise ConfigError(f"webhook {self.service!r}: url must be http(s), got {self.url!r}")


class WebhooksConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The one pooled client session all webhooks share."""

    pool_size: int = 100
    timeout_s: float = 5.0

    def __post_init__(self) -> None:
        if self.pool_size < 1:
            raise ConfigError(f"webhook_client.pool_size must be >= 1, got {self.pool_size}")
        if self.timeout_s <= 0:
            raise ConfigError(f"webhook_client.timeout_s must be > 0, got {self.timeout_s}")


class DaemonConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Everything in ``configs/daemon.toml``."""

    router: RouterConfig = msgspec.field(default_factory=RouterConfig)
    server: ServerConfig = ServerConfig()
    admission: AdmissionConfig = AdmissionConfig()
    health: HealthConfig = HealthConfig()
    lifecycle: LifecycleConfig = LifecycleConfig()
    journal: JournalConfig = JournalConfig()
    logging: LoggingConfig = LoggingConfig()
    streams: StreamsConfig = StreamsConfig()
    webhook_client: WebhooksConfig = WebhooksConfig()
    handlers: list[HandlerConfig] = []
    webhooks: list[WebhookConfig] = []


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
RESTART_TABLES = ("router", "server", "journal", "lifecycle", "streams", "webhook_client")


def restart_required(old: DaemonConfig, new: DaemonConfig) -> list[str]:
    return [name for name in RESTART_TABLES if getattr(old, name) != getattr(new, name)]


def validate(config: DaemonConfig, path: str) -> Loaded:
    """Check what Struct validation alone cannot: subscriptions, factories, unique keys."""
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
    return Loaded(config=config, path=path, handler_subs=handler_subs, webhook_subs=webhook_subs)


def load_config(path: str | Path) -> Loaded:
    """Read and validate ``path``; raise ConfigError naming the file, table and field."""
    data = read_toml(path)
    config = convert(data, DaemonConfig, str(path))
    return validate(config, str(path))
