"""CoordinatorConfig: defaults, the shipped TOML, and errors naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from coordinator import CoordinatorConfig, CoordinatorRouter, load_coordinator_config
from events import Category, ConfigError, Event, Subscription


def test_shipped_config_loads() -> None:
    """configs/coordinator.toml loads as a valid CoordinatorConfig with one worker per module."""
    config = load_coordinator_config()
    assert (config.workers, config.queue_size) == (1, None)


def test_default_queue_bound_follows_mailboxes() -> None:
    """Unset, a module's queue bound is the sum of its registrations' mailboxes."""
    router = CoordinatorRouter()
    router.subscribe(Subscription(service="a", pattern=">", mailbox=5), _noop)
    router.subscribe(Subscription(service="b", pattern="fs.>", mailbox=7), _noop)
    sizes = {m.name: m.queue_bound for m in router.modules.values()}
    assert (sizes["filesystem"], sizes["database"]) == (12, 5)


async def _noop(event: Event) -> None:
    return None


def test_module_overrides_apply() -> None:
    """Per-module overrides change only the named module."""
    config = CoordinatorConfig(module_queue_size={"filesystem": 7}, module_workers={"mcp": 3})
    router = CoordinatorRouter(config)
    fs, db, mcp = (
        router.modules[c] for c in (Category.FILESYSTEM, Category.DATABASE, Category.MCP)
    )
    assert (fs.queue_size, db.queue_size_config, mcp.n_workers, db.n_workers) == (7, None, 3, 1)


def test_unknown_module_is_named(tmp_path: Path) -> None:
    """An override for a module that does not exist is an error naming it."""
    path = tmp_path / "c.toml"
    path.write_text("[coordinator]\nmodule_workers = { files = 2 }\n")
    with pytest.raises(ConfigError, match="unknown module 'files'"):
        load_coordinator_config(path)


def test_bad_value_is_named(tmp_path: Path) -> None:
    """A non-positive queue size is refused with the field's name."""
    path = tmp_path / "c.toml"
    path.write_text("[coordinator]\nqueue_size = 0\n")
    with pytest.raises(ConfigError, match="queue_size"):
        load_coordinator_config(path)


def test_unknown_field_is_refused(tmp_path: Path) -> None:
    """A misspelt field is an error, not silently ignored."""
    path = tmp_path / "c.toml"
    path.write_text("[coordinator]\nqueue_sise = 5\n")
    with pytest.raises(ConfigError, match="queue_sise"):
        load_coordinator_config(path)
