"""In-process subscribers: a ``module:callable`` factory, called with the config's args."""

from __future__ import annotations

import inspect

from daemon.server.config import HandlerConfig, resolve_factory
from events.delivery import Handler
from events.errors import ConfigError


def build_handler(cfg: HandlerConfig, where: str) -> Handler:
    """Call ``cfg.factory(**cfg.args)``; it must return an ``async def handler(event)``."""
    factory = resolve_factory(cfg.factory, where)
    try:
        handler = factory(**cfg.args)
    except ConfigError as exc:
        raise ConfigError(f"{where}.factory {cfg.factory!r}: {exc}") from None
    except TypeError as exc:
        raise ConfigError(f"{where}.args do not fit {cfg.factory!r}: {exc}") from None
    except Exception as exc:
        # Whatever a factory raises, the config cannot start: say which entry and why.
        raise ConfigError(f"{where}.factory {cfg.factory!r} raised {exc!r}") from exc
    if not callable(handler) or not (
        inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(type(handler).__call__)
    ):
        raise ConfigError(f"{where}.factory {cfg.factory!r} did not return an async handler")
    return handler  # type: ignore[no-any-return]
