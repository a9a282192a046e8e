"""The core router's settings: the ``[router]`` table of ``configs/daemon.toml``."""

from __future__ import annotations

from pathlib import Path

import msgspec

from events.config import CONFIG_DIR, load_table
from events.errors import ConfigError

DEFAULT_PATH = CONFIG_DIR / "daemon.toml"


class RouterConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Settings of :class:`daemon.CentralRouter`; every field has a default."""

    #: Entries the in-memory dead-letter store keeps; the oldest is evicted (and counted).
    dead_letter_capacity: int = 10_000
    #: How often the timeout watchdog looks for overdue handlers (seconds).
    watchdog_tick_s: float = 0.01
    #: Subjects whose routing verdict is cached; the cache is cleared on subscribe.
    match_cache_size: int = 4096
    #: ... and the most bytes those subjects may add up to (invalid subjects are never cached).
    match_cache_bytes: int = 1024 * 1024
    #: Deliveries a worker runs back to back before yielding to the event loop.
    worker_batch: int = 512
    #: A worker yields to the event loop after this long busy (seconds), so a CPU-heavy
    #: backlog cannot hold up publishers and other workers for a whole batch. Checked
    #: every 8th delivery (a clock read each time cost ~45 ns a delivery).
    worker_slice_s: float = 0.001
    #: Seed of the backoff jitter (subscription i uses seed + i); None draws from the OS.
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.dead_letter_capacity < 1:
            raise ConfigError(
                f"router.dead_letter_capacity must be >= 1, got {self.dead_letter_capacity}"
            )
        if self.watchdog_tick_s <= 0:
            raise ConfigError(f"router.watchdog_tick_s must be > 0, got {self.watchdog_tick_s}")
        if self.match_cache_size < 1:
            raise ConfigError(f"router.match_cache_size must be >= 1, got {self.match_cache_size}")
        if self.match_cache_bytes < 1024:
            raise ConfigError(
                f"router.match_cache_bytes must be >= 1024, got {self.match_cache_bytes}"
            )
        if self.worker_batch < 1:
            raise ConfigError(f"router.worker_batch must be >= 1, got {self.worker_batch}")
        if self.worker_slice_s <= 0:
            raise ConfigError(f"router.worker_slice_s must be > 0, got {self.worker_slice_s}")


def load_router_config(path: str | Path = DEFAULT_PATH) -> RouterConfig:
    """The ``[router]`` table of ``path``; raise ``ConfigError`` naming file and field."""
    return load_table(path, "router", RouterConfig)
