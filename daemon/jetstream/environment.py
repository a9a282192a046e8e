"""Building a JetStream router from the environment: how the bench registry reaches it.

``SWITCHYARD_NATS_URL`` names the server (required). Each router built here
gets a namespace of its own (a fresh stream, dead-letter stream and subject
prefix, deleted when it drains), so runs never see each other's events, unless
``SWITCHYARD_NATS_NAMESPACE`` names one to share (processes of one run).
"""

from __future__ import annotations

import os
import secrets

from daemon.jetstream.config import JetStreamConfig
from daemon.jetstream.router import JetStreamRouter
from events.errors import ConfigError

URL_VARIABLE = "SWITCHYARD_NATS_URL"
NAMESPACE_VARIABLE = "SWITCHYARD_NATS_NAMESPACE"


def config_from_environment() -> JetStreamConfig:
    """The config the environment names; raise ``ConfigError`` naming the variable if unset."""
    url = os.environ.get(URL_VARIABLE, "").strip()
    if not url:
        raise ConfigError(
            f"the jetstream architecture needs a NATS server: set {URL_VARIABLE}"
            " (e.g. nats://127.0.0.1:4222)"
        )
    shared = os.environ.get(NAMESPACE_VARIABLE, "").strip()
    if shared:
        return JetStreamConfig(url=url).in_namespace(shared)
    return JetStreamConfig(url=url, ephemeral=True).in_namespace(secrets.token_hex(4))


def router_from_environment(config: JetStreamConfig | None = None) -> JetStreamRouter:
    """A router on ``config``, or on the environment's server in a namespace of its own."""
    return JetStreamRouter(config if config is not None else config_from_environment())
