"""Timestamps to epoch nanoseconds: one value at a time, or a column of RFC 3339 text at once.

Epoch numbers are in ``--ts-unit`` (seconds by default) and read exactly as
written, to the nanosecond (JSON numbers arrive as Decimal, CSV as text).
RFC 3339 times need a zone (``Z`` or ``+hh:mm``); digits past the nanosecond
are dropped. :func:`rfc3339_column` parses the usual fixed-layout columns with
numpy and leaves anything it does not recognise to :func:`parse_ts`, so both
give the same nanoseconds and only :func:`parse_ts` words the errors.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

from workload.traces.fields import BadValue

TS_UNITS = {"s": 9, "ms": 6, "us": 3, "ns": 0}
_POWERS: dict[int, int] = {e: int(10**e) for e in TS_UNITS.values()}
RFC3339_SHAPE = "YYYY-MM-DDTHH:MM:SS[.fraction] then Z or +hh:mm"
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}")
_OFFSET = re.compile(r"[+-]\d{2}:\d{2}")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


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
    try:
        if zone in ("Z", "z"):
            tz = dt.UTC
        else:
            sign = 1 if zone[0] == "+" else -1
            offset = dt.timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
            tz = dt.timezone(sign * offset)
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


# Byte values of the layout characters.
_DASH, _COLON, _DOT, _PLUS, _MINUS = 45, 58, 46, 43, 45
_SEPARATORS = (84, 116, 32)  # T t space
_UTC = (90, 122)  # Z z
_DATE_DIGITS = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18]
_MONTH_DAYS = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)
_INT64_SECONDS = 2**63 // 1_000_000_000 - 1
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


def _days_from_civil(y: IntArray, m: IntArray, d: IntArray) -> IntArray:
    """Days since 1970-01-01 of proleptic Gregorian dates (y >= 1), vectorised."""
    y = y - (m <= 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * np.where(m > 2, m - 3, m + 9) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    days: IntArray = era * 146097 + doe - 719468
    return days


def _fixed_layout(m: npt.NDArray[np.uint8], zone_len: int) -> tuple[IntArray, BoolArray]:
    """Rows of one length and zone form: (ns since the epoch, row parsed)."""
    width = m.shape[1]
    body = width - zone_len
    d = m.astype(np.int64) - 48
    digit = (m >= 48) & (m <= 57)
    ok = digit[:, _DATE_DIGITS].all(axis=1)
    ok &= (m[:, 4] == _DASH) & (m[:, 7] == _DASH) & np.isin(m[:, 10], _SEPARATORS)
    ok &= (m[:, 13] == _COLON) & (m[:, 16] == _COLON)
    fraction = body - 19
    if fraction == 1:
        return np.zeros(len(m), dtype=np.int64), np.zeros(len(m), dtype=bool)
    if fraction >= 2:
        ok &= (m[:, 19] == _DOT) & digit[:, 20:body].all(axis=1)
    offset = np.zeros(len(m), dtype=np.int64)
    if zone_len == 1:
        ok &= np.isin(m[:, body], _UTC)
    else:
        z = body
        ok &= np.isin(m[:, z], (_PLUS, _MINUS)) & (m[:, z + 3] == _COLON)
        ok &= digit[:, [z + 1, z + 2, z + 4, z + 5]].all(axis=1)
        hours = d[:, z + 1] * 10 + d[:, z + 2]
        minutes = d[:, z + 4] * 10 + d[:, z + 5]
        ok &= (hours < 24) & (minutes < 60)
        offset = np.where(m[:, z] == _MINUS, -1, 1) * (hours * 3600 + minutes * 60)

    def number(a: int, b: int) -> IntArray:
        out = np.zeros(len(m), dtype=np.int64)
        for i in range(a, b):
            out = out * 10 + d[:, i]
        return out

    y, mo, day = number(0, 4), number(5, 7), number(8, 10)
    hh, mi, ss = number(11, 13), number(14, 16), number(17, 19)
    month_ok = (mo >= 1) & (mo <= 12)
    leap = ((y % 4 == 0) & (y % 100 != 0)) | (y % 400 == 0)
    days_in_month = _MONTH_DAYS[np.clip(mo, 1, 12) - 1] + ((mo == 2) & leap)
    ok &= (y >= 1) & month_ok & (day >= 1) & (day <= days_in_month)
    ok &= (hh < 24) & (mi < 60) & (ss < 60)
    seconds = _days_from_civil(y, mo, day) * 86400 + hh * 3600 + mi * 60 + ss - offset
    # Outside int64 nanoseconds (before 1677 or after 2262) only parse_ts can say so.
    ok &= (seconds > -_INT64_SECONDS) & (seconds < _INT64_SECONDS)
    nanos = np.zeros(len(m), dtype=np.int64)
    for k in range(9):
        nanos = nanos * 10 + (d[:, 20 + k] if 20 + k < body else 0)
    return seconds * 1_000_000_000 + nanos, ok


def rfc3339_column(values: list[str]) -> tuple[IntArray, BoolArray]:
    """Nanoseconds of each string, and whether it was parsed here (else use parse_ts)."""
    n = len(values)
    ns = np.zeros(n, dtype=np.int64)
    parsed = np.zeros(n, dtype=bool)
    try:
        raw = np.array(values, dtype=np.bytes_)
    except UnicodeEncodeError:
        return ns, parsed
    lengths = np.char.str_len(raw)
    for width in np.unique(lengths).tolist():
        if width < 20:
            continue
        rows = np.flatnonzero(lengths == width)
        m = np.frombuffer(raw[rows].astype(f"S{width}").tobytes(), dtype=np.uint8)
        m = m.reshape(len(rows), width)
        utc = np.isin(m[:, -1], _UTC)
        for zone_len, which in ((1, utc), (6, ~utc)):
            if width - zone_len < 19 or not which.any():
                continue
            got, ok = _fixed_layout(m[which], zone_len)
            target = rows[which]
            ns[target[ok]] = got[ok]
            parsed[target[ok]] = True
    return ns, parsed
