"""The machine-speed probe of capacity searches: samples, their spread, the sentence."""

from __future__ import annotations

import pytest

from bench.host import machine_speed
from bench.report.capacity_text import speed_line


def test_spread_of_known_samples() -> None:
    """Median 500 with a slowest 250 and a fastest 600: 0.5x, 1.2x, a ±50% deviation."""
    actual = machine_speed.spread([500.0, 250.0, 600.0, 450.0, 550.0])
    assert (actual.median, actual.low_ratio, actual.high_ratio, actual.deviation) == (
        500.0, 0.5, 1.2, 0.5
    )  # fmt: skip


def test_spread_needs_positive_samples() -> None:
    """No samples, or a non-positive one, is an error rather than a spread."""
    for bad in ([], [1.0, 0.0]):
        with pytest.raises(ValueError, match="positive sample"):
            machine_speed.spread(bad)


def test_a_sample_is_a_positive_speed() -> None:
    """Hashing for a moment gives some bytes per µs; a non-positive duration is refused."""
    assert machine_speed.sample(0.005) > 0
    with pytest.raises(ValueError, match="seconds"):
        machine_speed.sample(0.0)


def test_the_report_sentence_names_the_spread() -> None:
    """The capacity report says how variable the machine was, in plain words."""
    line = speed_line(machine_speed.spread([400.0, 500.0, 650.0]))
    assert "3 steps" in line
    assert "slowest 0.80x and fastest 1.30x" in line
    assert "±30%" in line
