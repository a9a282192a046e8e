"""A log line's fields: where they are (``--map`` paths) and how their values are read.

A path is dotted keys, ``a.b.c``, with an optional leading ``$.``; ``[N]``
indexes a list and ``["a.b"]`` names a key holding dots. Timestamps are epoch
numbers (in ``--ts-unit``, seconds by default; decimal text is read exactly,
to the nanosecond) or RFC 3339 strings with a zone (``Z`` or ``+hh:mm``).
Readers raise :class:`BadValue` with the reason; the importer adds the line.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from events.errors import ConfigError

#: Fields a log line can give, in the order the docs list them.
FIELDS = ("ts", "subject", "size", "payload", "source", "priority", "category", "headers_size")
TS_UNITS = {"s": 9, "ms": 6, "us": 3, "ns": 0}
_POWERS: dict[int, int] = {e: int(10**e) for e in TS_UNITS.values()}
RFC3339_SHAPE = "YYYY-MM-DDTHH:MM:SS[.fraction] then Z or +hh:mm"

FieldPath = tuple[str | int, ...]

_STEP = re.compile(r"""\.?([^.\[\]]+)|\[(\d+)\]|\["([^"]*)"\]""")
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}")
_OFFSET = re.compile(r"[+-]\d{2}:\d{2}")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


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


def _decimal_ns(text: str, exponent: int) -> int:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise BadValue(
            "ts", f"ts {text!r} is neither an epoch number nor an RFC 3339 time"
        ) from None
    if not value.is_finite():
        raise BadValue("ts", f"ts {text!r} is not a finite number")
    return int(value.scaleb(exponent).to_integral_value())


@lru_cache(maxsize=4096)
def _whole_seconds(date_time: str, zone: str) -> int:
    # Log lines share their date and second over long runs: parse each once.
    if not _DATE_TIME.fullmatch(date_time) or not (zone in ("Z", "z") or _OFFSET.fullmatch(zone)):
        reason = f"ts {date_time}...{zone} is not an RFC 3339 time ({RFC3339_SHAPE})"
        raise BadValue("ts", reason)
    y, mo, d, h, mi, s = (int(x) for x in re.split(r"[-Tt :]", date_time))
    if zone in ("Z", "z"):
        tz = dt.UTC
    else:
        sign = 1 if zone[0] == "+" else -1
        tz = dt.timezone(sign * dt.timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
    try:
        moment = dt.datetime(y, mo, d, h, mi, s, tzinfo=tz)
    except ValueError as exc:
        raise BadValue("ts", f"ts {date_time}{zone}: {exc}") from None
    return int((moment - _EPOCH).total_seconds())


def parse_ts(value: Any, exponent: int) -> int:
    """Nanoseconds since the epoch; ``exponent`` is log10(ns per unit) of epoch numbers."""
    kind = type(value)
    if kind is str:
        text = value.strip()
        if len(text) >= 19 and text[4:5] == "-" and text[10:11] in ("T", "t", " "):
            return _rfc3339_ns(text)
        return _decimal_ns(text, exponent)
    if kind is Decimal:
        # JSON numbers arrive as Decimal: exact to the nanosecond, as written.
        return int(value.scaleb(exponent).to_integral_value())
    if kind is int:
        return int(value) * _POWERS[exponent]
    if kind is float:
        return _decimal_ns(repr(value), exponent)
    if value is None:
        raise BadValue("ts", "no ts")
    shown = value if kind is bool else kind.__name__
    raise BadValue("ts", f"ts must be a number or an RFC 3339 string, got {shown}")


def _rfc3339_ns(text: str) -> int:
    rest = text[19:]
    if rest[-1:] in ("Z", "z"):
        zone, fraction = rest[-1], rest[:-1]
    elif len(rest) >= 6 and rest[-6] in "+-":
        zone, fraction = rest[-6:], rest[:-6]
    else:
        raise BadValue("ts", f"ts {text!r} has no zone (add Z or +hh:mm)")
    nanos = 0
    if fraction:
        digits = fraction[1:]
        if fraction[0] != "." or not (digits.isascii() and digits.isdigit()):
            raise BadValue("ts", f"ts {text!r} is not an RFC 3339 time ({RFC3339_SHAPE})")
        nanos = int((digits + "000000000")[:9])
    return _whole_seconds(text[:19], zone) * 1_000_000_000 + nanos


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
