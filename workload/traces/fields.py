"""A log line's fields: where they are (``--map`` paths) and how their values are read.

A path is dotted keys, ``a.b.c``, with an optional leading ``$.``; ``[N]``
indexes a list and ``["a.b"]`` names a key holding dots. Readers raise
:class:`BadValue` with the reason; the importer adds the line. Timestamps are
read in ``workload.traces.timestamps``.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from events.errors import ConfigError

#: Fields a log line can give, in the order the docs list them.
FIELDS = ("ts", "subject", "size", "payload", "source", "priority", "category", "headers_size")

FieldPath = tuple[str | int, ...]

_STEP = re.compile(r"""\.?([^.\[\]]+)|\[(\d+)\]|\["([^"]*)"\]""")


class BadValue(Exception):
    """A line's ``field`` cannot be read; the message says why (the importer adds the line).

    ``field`` is a field name, or ``json`` / ``csv`` when the line itself is broken.
    """

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field


def parse_path(text: str) -> FieldPath:
    """``a.b[0]["c.d"]`` -> ("a", "b", 0, "c.d"); ConfigError when it is not a path."""
    body = text[2:] if text.startswith("$.") else text
    steps: list[str | int] = []
    pos = 0
    while pos < len(body):
        match = _STEP.match(body, pos)
        if match is None or (pos == 0 and body.startswith(".")):
            raise ConfigError(f'--map: {text!r} is not a field path (e.g. a.b.c or a[0]["x.y"])')
        key, index, quoted = match.groups()
        steps.append(int(index) if index is not None else key if key is not None else quoted)
        pos = match.end()
    if not steps:
        raise ConfigError(f"--map: empty field path in {text!r}")
    return tuple(steps)


def parse_map(specs: list[str]) -> dict[str, FieldPath]:
    """``PATH=FIELD`` options -> {field: path}; each field mapped at most once."""
    mapping: dict[str, FieldPath] = {}
    for spec in specs:
        path, sep, field = spec.rpartition("=")
        if not sep or not path:
            raise ConfigError(f"--map must be PATH=FIELD, got {spec!r}")
        if field not in FIELDS:
            valid = ", ".join(FIELDS)
            raise ConfigError(f"--map {spec!r}: unknown field {field!r}; valid: {valid}")
        if field in mapping:
            raise ConfigError(f"--map: field {field!r} is mapped twice")
        mapping[field] = parse_path(path)
    return mapping


def extract(obj: Any, path: FieldPath) -> Any:
    """The value at ``path`` in a decoded JSON document; None when any step is missing."""
    for step in path:
        if isinstance(step, int):
            if not isinstance(obj, list) or step >= len(obj):
                return None
            obj = obj[step]
        else:
            if not isinstance(obj, dict):
                return None
            obj = obj.get(step)
    return obj


def parse_int(field: str, value: Any, *, low: int, high: int) -> int:
    """A whole number in [low, high] from a JSON number or decimal text."""
    if type(value) is str and value.isascii() and value.isdigit():
        value = int(value)
    elif isinstance(value, bool):
        raise BadValue(field, f"{field} must be a whole number, got {value!r}")
    elif isinstance(value, str):
        text = value.strip()
        if not re.fullmatch(r"[+-]?\d+", text):
            raise BadValue(field, f"{field} must be a whole number, got {value!r}")
        value = int(text)
    if not isinstance(value, int):
        shown = str(value) if isinstance(value, Decimal) else repr(value)
        raise BadValue(field, f"{field} must be a whole number, got {shown}")
    if not low <= value <= high:
        raise BadValue(field, f"{field} must be in {low}..{high}, got {value}")
    return value
