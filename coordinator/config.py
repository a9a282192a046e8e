"""The coordinator's settings: the ``[coordinator]`` table of ``configs/coordinator.toml``."""

from __future__ import annotations

from pathlib import Path

import msgspec

from events.config import CONFIG_DIR, load_table
from events.errors import ConfigError
from events.model import Category

DEFAULT_PATH = CONFIG_DIR / "coordinator.toml"

_MODULES = frozenset(category.value for category in Category)


class CoordinatorConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Settings of :class:`coordinator.CoordinatorRouter`; every field has a default.

    Each module (one per ``events.Category``) gets ``queue_size`` and ``workers``
    unless ``module_queue_size`` / ``module_workers`` name it.
    """

    #: Events a module's inbound queue holds; a full queue rejects ("overloaded"). None: the
    #: sum of the module's subscription mailboxes, the most its copies could hold anyway, so
    #: the module bound refuses nothing a per-subscription mailbox would accept.
    queue_size: int | None = None
    #: Worker tasks per module, a floor: a module runs at least the largest ``concurrency``
    #: of its subscriptions. One keeps FIFO per subscription (the design being migrated).
    workers: int = 1
    #: Per-module overrides of ``queue_size``, by module name (e.g. ``filesystem``).
    module_queue_size: dict[str, int] = {}
    #: Per-module overrides of ``workers``, by module name.
    module_workers: dict[str, int] = {}
    #: Entries each module's dead-letter store keeps; the oldest is evicted (and counted).
    dead_letter_capacity: int = 10_000
    #: How often the timeout watchdog looks for overdue handlers (seconds).
    watchdog_tick_s: float = 0.01
    #: Subjects whose routing verdict each module caches; a module's cache clears on subscribe.
    match_cache_size: int = 4096
    #: ... and the most bytes those subjects may add up to (invalid subjects are never cached).
    match_cache_bytes: int = 1024 * 1024
    #: Events a worker handles back to back before yielding to the event loop.
    worker_batch: int = 512
    #: A worker yields to the event loop after this long busy (seconds), so a CPU-heavy
    #: backlog cannot hold up publishers and other modules for a whole batch. Checked
    #: every 8th delivery of the inlined case (a clock read each time cost ~45 ns).
    worker_slice_s: float = 0.001
    #: Seed of the backoff jitter (copy i uses seed + i); None draws from the OS.
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.queue_size is not None:
            _at_least("queue_size", self.queue_size, 1)
        _at_least("workers", self.workers, 1)
        _at_least("dead_letter_capacity", self.dead_letter_capacity, 1)
        _at_least("match_cache_size", self.match_cache_size, 1)
        _at_least("match_cache_bytes", self.match_cache_bytes, 1024)
        _at_least("worker_batch", self.worker_batch, 1)
        if self.worker_slice_s <= 0:
            raise ConfigError(f"coordinator.worker_slice_s must be > 0, got {self.worker_slice_s}")
        if self.watchdog_tick_s <= 0:
            raise ConfigError(
                f"coordinator.watchdog_tick_s must be > 0, got {self.watchdog_tick_s}"
            )
        for field, overrides in (
            ("module_queue_size", self.module_queue_size),
            ("module_workers", self.module_workers),
        ):
            for module, value in overrides.items():
                if module not in _MODULES:
                    known = ", ".join(sorted(_MODULES))
                    raise ConfigError(
                        f"coordinator.{field}: unknown module {module!r} (known: {known})"
                    )
                _at_least(f"{field}.{module}", value, 1)

    def queue_size_of(self, module: Category) -> int | None:
        return self.module_queue_size.get(module.value, self.queue_size)

    def workers_of(self, module: Category) -> int:
        return self.module_workers.get(module.value, self.workers)


def _at_least(field: str, value: int, minimum: int) -> None:
    if value < minimum:
        raise ConfigError(f"coordinator.{field} must be >= {minimum}, got {value}")


def load_coordinator_config(path: str | Path = DEFAULT_PATH) -> CoordinatorConfig:
    """The ``[coordinator]`` table of ``path``; raise ``ConfigError`` naming file and field."""
    return load_table(path, "coordinator", CoordinatorConfig)
