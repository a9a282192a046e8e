"""Factories for ``[[handlers]]`` entries: the workload's simulated services, and a sink.

``service(name, profile, seed)`` wraps one of ``workload.build_services(profile)``
by name, so configs/daemon.toml runs the same service-time models the bench
offers both routers. ``sink()`` does no work at all: it is what a config uses to
measure the ingress itself.
"""

from __future__ import annotations

from events.delivery import Handler
from events.errors import ConfigError
from events.model import Event


def service(name: str, profile: str = "light", seed: int = 0) -> Handler:
    """The handler of simulated service ``name`` of workload profile ``profile``."""
    from workload import build_services  # imported here: only configs that use it pay

    specs = {spec.name: spec for spec in build_services(profile)}
    spec = specs.get(name)
    if spec is None:
        known = ", ".join(sorted(specs))
        raise ConfigError(f"profile {profile!r} has no service {name!r}; it has: {known}")
    return spec.make_handler(seed)


class Sink:
    """A handler that only counts what reaches it."""

    def __init__(self) -> None:
        self.count = 0

    async def __call__(self, event: Event) -> None:
        self.count += 1


def sink() -> Handler:
    return Sink()
