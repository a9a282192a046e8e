"""RouterConfig: defaults, the [router] table of configs/daemon.toml, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon import RouterConfig, load_router_config
from events import ConfigError


def test_project_config_loads() -> None:
    """configs/daemon.toml's [router] table is a valid RouterConfig."""
    assert isinstance(load_router_config(), RouterConfig)


def test_fields_are_read(tmp_path: Path) -> None:
    """Values in the table override the defaults."""
    path = tmp_path / "d.toml"
    path.write_text("[router]\nmatch_cache_size = 16\nseed = 7\n")
    config = load_router_config(path)
    assert (config.match_cache_size, config.seed, config.watchdog_tick_s) == (16, 7, 0.01)


@pytest.mark.parametrize(
    ("line", "named"),
    [("watchdog_tick_s = 0", "watchdog_tick_s"), ("bogus = 1", "bogus"), ("seed = 'x'", "seed")],
)
def test_bad_values_name_the_field(tmp_path: Path, line: str, named: str) -> None:
    """A bad or unknown field is a ConfigError naming the file and the field."""
    path = tmp_path / "d.toml"
    path.write_text(f"[router]\n{line}\n")
    with pytest.raises(ConfigError, match=named) as info:
        load_router_config(path)
    assert str(path) in str(info.value)
