"""The router on NATS JetStream: one stream, a durable pull consumer per subscription."""

from __future__ import annotations

from daemon.jetstream.config import JetStreamConfig
from daemon.jetstream.embedded import EmbeddedNats, find_server_binary
from daemon.jetstream.environment import router_from_environment
from daemon.jetstream.errors import EmbeddedServerError, ServerBinaryMissing, TransportError
from daemon.jetstream.router import JetStreamRouter
from daemon.jetstream.stats import JetStreamStats

__all__ = [
    "EmbeddedNats",
    "EmbeddedServerError",
    "JetStreamConfig",
    "JetStreamRouter",
    "JetStreamStats",
    "ServerBinaryMissing",
    "TransportError",
    "find_server_binary",
    "router_from_environment",
]
