"""Service demand and the utilisation-law bound: what one core can carry, from CPU time.

Every run records the process's CPU time over its window and drain
(``resources.cpu_s``, from ``getrusage``: time the process ran, so time the
hypervisor stole or other processes held is not in it). A step of the capacity
search offers ``events`` in ``busy_s`` seconds (window + drain) and burns ``cpu_s``.
Its utilisation U = cpu_s / busy_s and its throughput X = events / busy_s follow the
utilisation law with a fixed part: U = U0 + D X, where D is the *service demand*
(CPU seconds per event: router, handlers and the bench's generator together, as they
share the loop) and U0 the cost of the run's own clockwork (monitors, timers) per
second. :func:`service_demand` fits that line over the steps by least squares (D is
the slope, with its Student-t 95% interval over the steps); with fewer than three
distinct rates it falls back to the mean of cpu_s / events with a t interval (U0
taken as 0, which overstates D a little at low rates and so errs on the safe side).

Nothing the loop does can use more than the ``cores`` its event loop runs on (one,
today), so X <= (cores - U0) / D: the *CPU-demand bound*. The SLO search's capacity
can only lie below it (latency climbs well before a core is busy all the time); a
claimed capacity above the bound's upper end is therefore suspect. Steal and a busy
neighbour move the wall-clock search by tens of percent; they move CPU time per
event far less, which is why the bound still stands when the search cannot claim.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import msgspec
import numpy as np
from scipy import stats as sps

from bench.analysis.stats import linear_slope_ci


class Sample(msgspec.Struct, frozen=True):
    """One run's CPU seconds, events offered and the seconds they took (window + drain)."""

    cpu_s: float
    events: int
    busy_s: float


class Demand(msgspec.Struct, frozen=True):
    """D (CPU seconds per event) with its interval, the fixed load U0 and the bound.

    ``bound`` = (cores - U0) / D events/s, ``bound_low``/``bound_high`` from the ends
    of D's interval. ``method`` says which estimate was used, in words.
    """

    per_event_s: float
    low_s: float
    high_s: float
    background: float
    cores: int
    samples: int
    rates: int
    bound: float
    bound_low: float
    #: None when D's interval reaches 0: the runs then put no upper limit on throughput.
    bound_high: float | None
    method: str

    def suspect(self, capacity: float | None) -> bool:
        """Does a claimed capacity exceed what the CPU time allows (the bound's upper end)?"""
        return capacity is not None and self.bound_high is not None and capacity > self.bound_high


def service_demand(samples: Sequence[Sample], cores: int = 1, confidence: float = 0.95) -> Demand:
    """D and the bound from runs at several rates (see the module doc)."""
    if cores < 1:
        raise ValueError(f"cores must be at least 1, got {cores}")
    usable = [s for s in samples if s.events > 0 and s.busy_s > 0 and s.cpu_s > 0]
    if len(usable) < 2:
        raise ValueError(f"service demand needs at least 2 runs with CPU time, got {len(usable)}")
    x = np.array([s.events / s.busy_s for s in usable])
    u = np.array([s.cpu_s / s.busy_s for s in usable])
    distinct = len({round(v, 6) for v in x})
    fit = linear_slope_ci(x.tolist(), u.tolist(), confidence=confidence) if distinct >= 3 else None
    if fit is not None and fit[1] > 0:
        d, low, high = fit
        background = float(np.mean(u) - d * np.mean(x))
        method = f"slope of utilisation on throughput over {len(usable)} runs at {distinct} rates"
    else:
        per = np.array([s.cpu_s / s.events for s in usable])
        d = float(per.mean())
        spread = float(per.std(ddof=1)) / math.sqrt(per.size)
        half = float(sps.t.ppf(0.5 + confidence / 2.0, per.size - 1)) * spread
        low, high, background = d - half, d + half, 0.0
        method = f"mean CPU time per event over {len(usable)} runs"
    # U0 below zero is fitting noise; above half a core it would be a broken fit.
    background = min(max(background, 0.0), 0.5 * cores)
    return _with_bound(d, low, high, background, cores, len(usable), distinct, method)


def _with_bound(
    d: float, low: float, high: float, background: float, cores: int, samples: int,
    rates: int, method: str,
) -> Demand:  # fmt: skip
    spare = cores - background
    return Demand(
        per_event_s=d,
        low_s=low,
        high_s=high,
        background=background,
        cores=cores,
        samples=samples,
        rates=rates,
        bound=spare / d,
        bound_low=spare / high,
        bound_high=spare / low if low > 0 else None,
        method=method,
    )


def scaled(demand: Demand, speed_ratio: float) -> Demand:
    """The same work on a machine ``speed_ratio`` times as fast per core (a projection).

    Every CPU second of this machine becomes 1 / ``speed_ratio`` seconds there: D, its
    interval and the fixed load U0 shrink alike, and the bound follows.
    """
    if not speed_ratio > 0:
        raise ValueError(f"speed ratio must be positive, got {speed_ratio}")
    r = speed_ratio
    return _with_bound(
        demand.per_event_s / r, demand.low_s / r, demand.high_s / r, demand.background / r,
        demand.cores, demand.samples, demand.rates,
        demand.method + f", scaled by a per-core speed ratio of {r:.2f} (a projection)",
    )  # fmt: skip
