"""The bench's one percentile definition, used for every latency, lag and interval end.

The q-th percentile of n samples is the sample of rank ``max(1, floor(q * n / 100 +
0.5))`` in ascending order: the nearest rank, halves rounded up. It is HdrHistogram's
own definition (``get_value_at_percentile``, the same arithmetic), so a percentile
computed from raw samples and one read from their histogram differ only by the
histogram's bucket resolution. It never interpolates: every percentile is a value
that was observed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt


def ranks(n: int, qs: Sequence[float]) -> list[int]:
    """The 1-based ranks the ``qs`` percentiles (0-100) of ``n`` samples select."""
    return [max(1, min(n, math.floor(min(q, 100.0) * n / 100 + 0.5))) for q in qs]


def percentiles(values: npt.ArrayLike, qs: Sequence[float]) -> npt.NDArray[np.float64]:
    """The ``qs`` percentiles (0-100) of ``values``; raise ValueError when it is empty."""
    data = np.asarray(values).ravel()
    if data.size == 0:
        raise ValueError("no samples: a percentile of nothing is undefined")
    kth = [rank - 1 for rank in ranks(int(data.size), qs)]
    # A partial sort around the wanted ranks: O(n) per rank instead of a full sort.
    chosen = np.partition(data, sorted(set(kth)))[kth]
    return np.asarray(chosen, dtype=np.float64)


def percentile(values: npt.ArrayLike, q: float) -> float:
    """The ``q`` percentile (0-100) of ``values`` (see the module's definition)."""
    return float(percentiles(values, (q,))[0])
