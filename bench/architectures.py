"""The registry through which the bench reaches a router: a name or a dotted factory.

``make("daemon")``, ``make("coordinator")``, ``make("null")``, ``make("jetstream")``
(on the NATS server ``SWITCHYARD_NATS_URL`` names) or
``make("package.module:factory")`` for a router of your own; the factory is
called with no arguments (or ``config=``) and must return an ``events.Router``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Any

from events import Router
from events.errors import SwitchyardError

BUILTIN: dict[str, str] = {
    "daemon": "daemon:CentralRouter",
    "coordinator": "coordinator:CoordinatorRouter",
    "null": "bench.routers.null:NullRouter",
    "jetstream": "daemon.jetstream.environment:router_from_environment",
}


class ArchitectureError(SwitchyardError):
    """Raised when an architecture name or factory path cannot give a Router."""


def needs_nats(archs: Sequence[str]) -> bool:
    """Does any of ``archs`` route through NATS (the registry's ``jetstream``)?"""
    target = BUILTIN["jetstream"]
    return any(BUILTIN.get(arch, arch) == target for arch in archs)


def resolve(name: str) -> Callable[..., Any]:
    """The factory for ``name``; raise :class:`ArchitectureError` saying why not."""
    target = BUILTIN.get(name, name)
    if ":" not in target:
        known = ", ".join(sorted(BUILTIN))
        raise ArchitectureError(
            f"unknown architecture {name!r}: use one of {known} or a 'package.module:factory' path"
        )
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise ArchitectureError(
            f"architecture {name!r}: cannot import {module_name!r}: {exc}"
        ) from exc
    try:
        factory = getattr(module, attr)
    except AttributeError:
        raise ArchitectureError(f"architecture {name!r}: {module_name!r} has no {attr!r}") from None
    if not callable(factory):
        raise ArchitectureError(f"architecture {name!r}: {target!r} is not callable")
    return factory  # type: ignore[no-any-return]


def make(name: str, config: Any = None) -> Router:
    """Build the router ``name`` names; raise :class:`ArchitectureError` on any failure."""
    factory = resolve(name)
    try:
        router = factory() if config is None else factory(config=config)
    except Exception as exc:
        raise ArchitectureError(f"architecture {name!r}: factory raised {exc!r}") from exc
    if not isinstance(router, Router):
        raise ArchitectureError(
            f"architecture {name!r}: factory returned {type(router).__name__}, not an events.Router"
        )
    return router
