"""Projections, labelled as such: months until a growing peak meets a capacity.

A peak P growing by g per month reaches capacity C after log(C / P) / log(1 + g)
months (compound growth); negative when the peak is already above C. Nothing here
is measured: the inputs are a measured capacity (or an interval, or a bound) and
the growth rate the user states, and every figure derived is a projection.
"""

from __future__ import annotations

import math
import re

import msgspec

from events.errors import ConfigError

_GROWTH = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*(%?)\s*/\s*(month|mo|year|yr|week|wk)\s*$")
#: Months per unit a growth rate may be stated in.
_MONTHS = {"month": 1.0, "mo": 1.0, "year": 12.0, "yr": 12.0, "week": 12 / 52, "wk": 12 / 52}


class Growth(msgspec.Struct, frozen=True):
    """A compound growth rate per month (0.08 is 8%) and how it was written."""

    per_month: float
    text: str


def parse_growth(text: str) -> Growth:
    """``8%/month``, ``0.08/month``, ``150%/year`` or ``2%/week`` -> the monthly rate."""
    match = _GROWTH.match(text)
    if match is None:
        raise ConfigError(
            f"growth {text!r}: expected a rate per month, year or week, e.g. 8%/month or 150%/year"
        )
    value = float(match.group(1)) / (100.0 if match.group(2) else 1.0)
    if not value > 0:
        raise ConfigError(f"growth {text!r}: the rate must be above 0")
    monthly = (1.0 + value) ** (1.0 / _MONTHS[match.group(3)]) - 1.0
    return Growth(monthly, text.strip())


def months_until(capacity: float, peak: float, growth: Growth) -> float:
    """Months until a peak growing at ``growth`` reaches ``capacity`` (< 0: already past)."""
    if not (capacity > 0 and peak > 0):
        raise ValueError(f"capacity and peak must be positive, got {capacity}, {peak}")
    return math.log(capacity / peak) / math.log1p(growth.per_month)


class Headroom(msgspec.Struct, frozen=True):
    """Months of headroom for one architecture: a point, and the range its interval gives.

    ``months`` comes from the claimed capacity (None without a claim); ``low``/``high``
    from the ends of the capacity interval (either None where the interval is open);
    ``bound`` from the CPU-demand bound, a ceiling no capacity can exceed.
    """

    months: float | None
    low: float | None
    high: float | None
    bound: float | None


def headroom(
    capacity: float | None,
    low: float | None,
    high: float | None,
    bound: float | None,
    peak: float,
    growth: Growth,
) -> Headroom:
    """:class:`Headroom` from a capacity, its interval and the CPU-demand bound."""

    def months(c: float | None) -> float | None:
        return months_until(c, peak, growth) if c is not None and c > 0 else None

    return Headroom(months(capacity), months(low), months(high), months(bound))
