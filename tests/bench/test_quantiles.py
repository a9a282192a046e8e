"""The bench's one percentile definition, on samples whose percentiles are known."""

from __future__ import annotations

import numpy as np
import pytest

from bench.quantiles import percentile, percentiles
from bench.run.histograms import build


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        (list(range(1, 101)), 99.0, 99.0),
        (list(range(1, 101)), 50.0, 50.0),
        ([1, 2, 3, 4], 50.0, 2.0),
        ([1, 2, 3, 4], 62.5, 3.0),
        ([1, 2, 3, 4], 62.4, 2.0),
        ([7, 3, 5], 0.0, 3.0),
        ([7, 3, 5], 100.0, 7.0),
        (list(range(1, 1001)), 99.9, 999.0),
    ],
)
def test_the_nearest_rank_sample(values: list[int], q: float, expected: float) -> None:
    """The q-th percentile is the sample of the nearest rank to q/100 n (halves up), at least
    the first: never an interpolation between samples."""
    assert expected == percentile(values, q)


def test_no_samples_is_an_error() -> None:
    """A percentile of nothing is refused, not answered with 0."""
    with pytest.raises(ValueError, match="no samples"):
        percentile([], 50.0)


def test_the_raw_samples_agree_with_their_hdr_histogram() -> None:
    """Samples HDR records exactly give the same percentiles from the array and the histogram."""
    rng = np.random.default_rng(7)
    values = rng.integers(1, 2000, size=5000)  # below 2048: HDR's unit-resolution range
    hist = build(values.astype(np.int64))
    qs = (50.0, 90.0, 95.0, 99.0, 99.9)
    expected = [float(hist.get_value_at_percentile(q)) for q in qs]
    assert expected == percentiles(values, qs).tolist()
