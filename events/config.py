"""Loading msgspec configuration Structs from tables of ``configs/*.toml``."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from events.errors import ConfigError

T = TypeVar("T")


def _config_dir() -> Path:
    # The TOML files ship as package data of ``switchyard_configs`` (setup.py maps the
    # repository's ``configs/`` to it), so an installed wheel finds them as a checkout
    # does. Wheels are installed unzipped, so the package is a real folder.
    folder = resources.files("switchyard_configs")
    if not isinstance(folder, Path):
        raise ConfigError(f"the packaged configs are not on a file system ({folder})")
    return folder


#: The shipped ``configs/`` folder: the checkout's in an editable install, the wheel's
#: ``switchyard_configs`` package otherwise. Every default config path starts here.
CONFIG_DIR = _config_dir()


def read_toml(path: str | Path) -> dict[str, Any]:
    """Parse a TOML file; raise :class:`ConfigError` naming the file on any problem."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def convert(data: Any, type_: type[T], where: str) -> T:
    """Validate ``data`` into ``type_``; the error names ``where`` and the field."""
    try:
        return msgspec.convert(data, type_, strict=True)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def load_table(path: str | Path, table: str, type_: type[T]) -> T:
    """Load ``[table]`` of a TOML file as ``type_`` (an absent table means all defaults)."""
    data = read_toml(path)
    section = data.get(table, {})
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: [{table}] must be a table")
    return convert(section, type_, f"{path} [{table}]")
