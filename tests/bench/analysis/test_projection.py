"""Projections: parsing a growth rate and the months until a growing peak meets capacity."""

from __future__ import annotations

import math

import pytest

from bench.analysis.projection import Growth, headroom, months_until, parse_growth
from events.errors import ConfigError

EIGHT = Growth(0.08, "8%/month")


@pytest.mark.parametrize(
    ("text", "monthly"),
    [
        ("8%/month", 0.08),
        ("0.08/month", 0.08),
        (" 8 % / mo ", 0.08),
        ("150%/year", 2.5 ** (1 / 12) - 1),
        ("2%/week", 1.02 ** (52 / 12) - 1),
    ],
)
def test_growth_rates_in_any_unit_become_monthly(text: str, monthly: float) -> None:
    """Rates per year or week compound to the same growth per month."""
    assert parse_growth(text).per_month == pytest.approx(monthly, rel=1e-12)


@pytest.mark.parametrize("text", ["8%", "fast", "0%/month", "-3%/month", "8%/fortnight"])
def test_a_growth_rate_that_cannot_be_read_is_refused(text: str) -> None:
    """No unit, no number, zero or an unknown period: a clear error."""
    with pytest.raises(ConfigError):
        parse_growth(text)


def test_months_until_a_peak_growing_8_percent_reaches_capacity() -> None:
    """9,110 events/s against a 5,000 peak at 8%/month: log(1.822) / log(1.08) = 7.80 months."""
    assert months_until(9110.0, 5000.0, EIGHT) == pytest.approx(7.795, abs=0.001)
    assert months_until(5000.0 * 1.08**12, 5000.0, EIGHT) == pytest.approx(12.0)


def test_a_capacity_below_the_peak_gives_negative_months() -> None:
    """Already short: the peak passed the capacity that many months of growth ago."""
    assert months_until(5000.0, 5400.0, EIGHT) == pytest.approx(-1.0)


def test_headroom_over_an_interval_and_the_bound() -> None:
    """Claim, interval ends and the CPU bound each give their months; None stays None."""
    h = headroom(8000.0, 8000.0, None, 16000.0, 5000.0, EIGHT)
    assert (round(h.months or 0, 2), h.high, round(h.bound or 0, 2)) == (
        round(math.log(1.6) / math.log(1.08), 2),
        None,
        round(math.log(3.2) / math.log(1.08), 2),
    )
    assert headroom(None, None, 4000.0, None, 5000.0, EIGHT).months is None
