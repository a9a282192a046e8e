"""Timestamps: epoch numbers and RFC 3339, one value at a time or a column at once, agree."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workload.traces.fields import BadValue
from workload.traces.timestamps import parse_ts, rfc3339_column

SECOND = 1_000_000_000


@pytest.mark.parametrize(
    ("value", "exponent", "expected"),
    [
        (1_700_000_000, 9, 1_700_000_000 * SECOND),
        ("1700000000.123456789", 9, 1_700_000_000 * SECOND + 123_456_789),
        (Decimal("1700000000.000000001"), 9, 1_700_000_000 * SECOND + 1),
        ("1700000000123", 6, 1_700_000_000_123_000_000),
        (" 12 ", 0, 12),
        ("1970-01-01T00:00:01.5Z", 9, 1_500_000_000),
        ("1970-01-01 01:00:00+01:00", 9, 0),
        ("1969-12-31t23:59:59.999999999999z", 9, -1),
    ],
)
def test_parse_ts_reads_epoch_numbers_and_rfc3339(
    value: object, exponent: int, expected: int
) -> None:
    """Epoch numbers are exact to the ns in their unit; RFC 3339 honours its zone."""
    assert expected == parse_ts(value, exponent)


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ("2024-02-30T00:00:00Z", "day is out of range for month"),
        ("2024-01-01T24:00:00Z", "hour must be in 0..23"),
        ("2024-01-01T00:00:00+24:00", "offset must be a timedelta"),
        ("2024-01-01T00:00:00.Z", "is not an RFC 3339 time"),
        ("2024-01-01T00:00:00", "has no zone"),
        ("NaN", "is not a finite number"),
        (True, "got True"),
        ([1], "got list"),
    ],
)
def test_parse_ts_names_what_is_wrong(value: object, needle: str) -> None:
    """Impossible dates, missing zones and non-numbers are BadValue on the ts field."""
    with pytest.raises(BadValue) as info:
        parse_ts(value, 9)
    assert (info.value.field, needle in str(info.value)) == ("ts", True), str(info.value)


# int64 nanoseconds since the epoch reach from 1677 to 2262.
_MOMENTS = st.datetimes(min_value=dt.datetime(1678, 1, 2), max_value=dt.datetime(2262, 1, 1))
_ZONES = st.sampled_from(["Z", "z", "+00:00", "+02:00", "-05:30", "+14:00", "-23:59"])


@st.composite
def rfc3339_texts(draw: st.DrawFn) -> str:
    moment = draw(_MOMENTS)
    separator = draw(st.sampled_from(["T", "t", " "]))
    digits = draw(st.integers(min_value=0, max_value=12))
    chars = draw(st.lists(st.sampled_from("0123456789"), min_size=digits, max_size=digits))
    fraction = "." + "".join(chars) if digits else ""
    m = moment
    stamp = f"{m.year:04d}-{m.month:02d}-{m.day:02d}{separator}{m:%H:%M:%S}"
    return stamp + fraction + draw(_ZONES)


@settings(max_examples=150, deadline=None)
@given(st.lists(rfc3339_texts(), min_size=1, max_size=40))
def test_the_column_parser_agrees_with_parse_ts(texts: list[str]) -> None:
    """Every string the vectorised parser accepts gets parse_ts's nanoseconds."""
    ns, parsed = rfc3339_column(texts)
    expected = [parse_ts(t, 9) for t in texts]
    assert (expected, [True] * len(texts)) == (ns.tolist(), parsed.tolist())


def test_the_column_parser_leaves_the_rest_to_parse_ts() -> None:
    """Impossible dates, other layouts and non-ASCII text are not parsed by the column."""
    texts = [
        "2023-02-29T00:00:00Z",
        "2024-13-01T00:00:00Z",
        "2024-01-01T00:00:60Z",
        "2024-01-01T00:00:00+24:00",
        "2024-01-01T00:00:00",
        "2024-01-01T00:00:00.Z",
        "0000-01-01T00:00:00Z",
        "2263-01-01T00:00:00Z",
        "1700000000.5",
        " 2024-01-01T00:00:00Z",
        "2024-01-01T00:00:00Z",
    ]
    ns, parsed = rfc3339_column(texts)
    assert (parsed.tolist(), int(ns[-1])) == ([False] * 10 + [True], 1_704_067_200 * SECOND)
    assert not rfc3339_column(["2024-01-01T00:00:00Zé"])[1].any()
    assert np.int64 == ns.dtype
