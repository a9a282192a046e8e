"""What subscribes in a run: the simulated services, one no-op subscriber, or your own handlers.

``--services`` takes ``sim`` (the profile's simulated services, the default),
``noop`` (one subscriber on ``>`` that only records: the harness floor) or
``module:factory``: your own handlers in place of the simulated ones. The
factory is called once per service of the profile, as
``factory(spec, seed)`` with the service's :class:`workload.ServiceSpec` (its
name, subscription, service-time model and share of the events) and the run's
seed for it; it returns an async handler, ``async def handler(event) -> None``.
The subscriptions (patterns, concurrency, retry, breaker) stay the profile's,
so both architectures route the same events to the same handlers.

``module`` is a dotted module importable from the working directory (each run
worker has it on ``PYTHONPATH``), or a path to a ``.py`` file
(``./my_services.py:make_handler``), kept absolute so every worker loads the
same file. A handler returning normally is a completion; raising is a failed
attempt (the router retries or dead-letters it, as for the simulated services).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.run.recorder import noop_services
from events import Event, Handler, Subscription
from events.errors import ConfigError
from workload import ServiceSpec

BUILTIN = ("sim", "noop")
#: One service's handler factory: (spec, seed) -> async handler.
Factory = Callable[[ServiceSpec, int], Any]
Subscribers = list[tuple[Subscription, Handler]]


def normalise(text: str) -> str:
    """``sim``, ``noop``, ``package.module:factory`` or ``path/file.py:factory`` (made absolute).

    Only the form is checked here; :func:`load_factory` imports it.
    """
    text = text.strip()
    if text in BUILTIN:
        return text
    module, sep, attr = text.rpartition(":")
    if not sep or not module or not attr.isidentifier():
        raise ConfigError(
            f"--services {text!r}: use sim, noop or module:factory"
            " (a dotted module or a .py file, then the factory's name)"
        )
    if _is_path(module):
        module = str(Path(module).expanduser().resolve())
    return f"{module}:{attr}"


def _is_path(module: str) -> bool:
    return module.endswith(".py") or "/" in module or "\\" in module


def _import(module: str, where: str) -> Any:
    if _is_path(module):
        path = Path(module)
        if not path.is_file():
            raise ConfigError(f"{where}: no such file {module}")
        name = "switchyard_services_" + hashlib.sha256(str(path).encode()).hexdigest()[:12]
        if name in sys.modules:
            return sys.modules[name]
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ConfigError(f"{where}: cannot load {module} as a module")
        loaded = importlib.util.module_from_spec(spec)
        sys.modules[name] = loaded
        try:
            spec.loader.exec_module(loaded)
        except Exception as exc:
            del sys.modules[name]
            raise ConfigError(f"{where}: importing {module} raised {exc!r}") from exc
        return loaded
    try:
        return importlib.import_module(module)
    except Exception as exc:
        raise ConfigError(f"{where}: cannot import {module!r}: {exc}") from exc


def load_factory(services: str) -> Factory:
    """The factory ``module:factory`` names; :class:`ConfigError` saying why not."""
    where = f"--services {services}"
    module_name, _, attr = services.rpartition(":")
    module = _import(module_name, where)
    try:
        factory = getattr(module, attr)
    except AttributeError:
        raise ConfigError(f"{where}: {module_name!r} has no {attr!r}") from None
    if not callable(factory):
        raise ConfigError(f"{where}: {attr!r} is not callable")
    return factory  # type: ignore[no-any-return]


def is_async_handler(handler: object) -> bool:
    """True for an ``async def`` function, or an object whose ``__call__`` is one."""
    if inspect.iscoroutinefunction(handler):
        return True
    call = getattr(handler, "__call__", None)  # noqa: B004 - the method itself is inspected
    return call is not None and inspect.iscoroutinefunction(call)


def factory_handler(factory: Factory, spec: ServiceSpec, seed: int, services: str) -> Handler:
    """``factory(spec, seed)``, checked to be an async handler."""
    where = f"--services {services}"
    try:
        handler = factory(spec, seed)
    except Exception as exc:
        raise ConfigError(f"{where}: the factory raised {exc!r} for service {spec.name!r}") from exc
    if not is_async_handler(handler):
        raise ConfigError(
            f"{where}: the factory returned {type(handler).__name__} for service {spec.name!r},"
            " not an async handler (async def handler(event) -> None)"
        )
    return handler  # type: ignore[no-any-return]


def _recording(handler: Handler, record: Callable[[Event], None]) -> Handler:
    # Your handler cannot call the recorder itself, so a wrapping coroutine stamps the
    # completion (a cost the simulated handlers avoid; both architectures pay it alike).
    async def recorded(event: Event) -> None:
        await handler(event)
        record(event)

    return recorded


def check(services: str, specs: Sequence[ServiceSpec], seed: int) -> None:
    """Import a factory and build every service's handler once: a factory that does not
    import, raises or returns no async handler fails here, before any run."""
    if services in BUILTIN:
        return
    factory = load_factory(services)
    for index, spec in enumerate(specs):
        factory_handler(factory, spec, seed + index, services)


def subscribers(
    services: str, specs: Sequence[ServiceSpec], seed: int, record: Callable[[Event], None]
) -> Subscribers:
    """The subscriptions and handlers of a run; each handler calls ``record`` on success.

    ``noop`` ignores ``specs``; ``sim`` and a factory give one handler per spec,
    seeded ``seed + index`` as the simulated services always were.
    """
    if services == "noop":
        return noop_services(record)
    if services == "sim":
        return [
            (spec.subscription, spec.make_handler(seed + index, record))
            for index, spec in enumerate(specs)
        ]
    factory = load_factory(services)
    return [
        (spec.subscription, _recording(factory_handler(factory, spec, seed + i, services), record))
        for i, spec in enumerate(specs)
    ]
