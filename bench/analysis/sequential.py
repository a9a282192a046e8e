"""Repeated looks at a growing comparison: the Pocock boundary and when to stop adding runs.

``compare`` looks at its verdicts after the first blocks and, while a headline metric is
inconclusive and time allows, adds an ABBA block and looks again. Every look is another
chance for an interval to miss the true ratio; with a 95% interval at each of K looks
the chance that one of them misses is well above 5% (about 8% at 2 looks, 11% at 3).

The correction is the *repeated confidence interval* of Jennison and Turnbull with a
*Pocock boundary*: every look uses the same nominal level, chosen so that the
intervals of all K planned looks cover the true ratio together with probability
``family`` (95%). The boundary c solves P(max_k |Z_k| > c) = 1 - family for a standard
Brownian motion observed at the planned information (runs per architecture) of each
look, Z_k = S(n_k) / sqrt(n_k); :func:`pocock_boundary` finds it by a seeded Monte Carlo
of that process for the actual look schedule, so unequal spacing (5, 7, 9 runs) is
handled, and it reproduces the tabulated constants for equal spacing (2.178 for two
looks, 2.289 for three, 2.413 for five). Each look's intervals are then computed at
confidence 2 Phi(c) - 1 (97.1% for two looks, 97.8% for three).

The number of looks K is fixed before the first look, from the run cap and the time
budget (how many blocks the measured time per run leaves room for), never from the
data: stopping earlier than planned (a metric settled, time ran out) only spends less
of the error allowance.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from functools import lru_cache

import msgspec
import numpy as np
from scipy import stats as sps

from bench.schema import Ratio

#: The metrics whose verdicts decide whether another block is worth running.
HEADLINE = ("throughput", "response_p50", "response_p99")
#: Runs per architecture one added block brings (an ABBA block).
BLOCK_RUNS = 2
#: Monte Carlo paths behind a boundary: it comes out within about 0.01 of the exact constant.
PATHS = 200_000


class LookPlan(msgspec.Struct, frozen=True):
    """The planned looks (runs per architecture at each) and the level every look uses."""

    runs: tuple[int, ...]
    family: float
    boundary: float
    confidence: float

    @property
    def looks(self) -> int:
        return len(self.runs)


def pocock_boundary(runs: Sequence[int], family: float = 0.95, seed: int = 0) -> float:
    """The constant two-sided boundary for looks after ``runs`` (increasing) runs each."""
    return _boundary(tuple(int(n) for n in runs), float(family), int(seed))


@lru_cache(maxsize=64)
def _boundary(runs: tuple[int, ...], family: float, seed: int) -> float:
    if not runs or runs[0] < 1 or any(b <= a for a, b in itertools.pairwise(runs)):
        raise ValueError(f"looks must be a strictly increasing run count from 1, got {runs}")
    if not 0.0 < family < 1.0:
        raise ValueError(f"family confidence must lie strictly between 0 and 1, got {family}")
    if len(runs) == 1:
        return float(sps.norm.ppf(0.5 + family / 2.0))
    rng = np.random.default_rng(seed)
    steps = np.diff(np.asarray((0, *runs), dtype=np.float64))
    path = np.cumsum(rng.standard_normal((PATHS, len(runs))) * np.sqrt(steps), axis=1)
    largest = np.max(np.abs(path) / np.sqrt(np.asarray(runs, dtype=np.float64)), axis=1)
    return float(np.quantile(largest, family))


def plan(initial: int, max_runs: int, blocks_that_fit: int, family: float = 0.95) -> LookPlan:
    """Looks at ``initial`` runs and after each added block, while the cap and time allow."""
    if initial < 2:
        raise ValueError(f"the first look needs at least 2 runs per architecture, got {initial}")
    extra = max(0, min(blocks_that_fit, (max_runs - initial) // BLOCK_RUNS))
    runs = tuple(initial + BLOCK_RUNS * k for k in range(extra + 1))
    c = pocock_boundary(runs, family)
    return LookPlan(runs, family, c, 2.0 * float(sps.norm.cdf(c)) - 1.0)


def blocks_that_fit(remaining_s: float, block_s: float) -> int:
    """Whole blocks of ``block_s`` seconds that fit in ``remaining_s`` (none when it is <= 0)."""
    if not block_s > 0:
        raise ValueError(f"a block takes a positive time, got {block_s}")
    if remaining_s <= 0:
        return 0
    return int(min(remaining_s / block_s, 1e6))


class Decision(msgspec.Struct, frozen=True):
    """Whether to add a block, and the reason in plain words."""

    more: bool
    reason: str


def decide(
    ratios: Sequence[Ratio],
    look: int,
    look_plan: LookPlan,
    remaining_s: float,
    block_s: float,
    headline: Sequence[str] = HEADLINE,
) -> Decision:
    """After look ``look`` (0-based): add a block, or stop and say why."""
    open_ = sorted(
        {r.metric for r in ratios if r.metric in headline and r.verdict == "inconclusive"}
    )
    if not open_:
        judged = sorted({r.metric for r in ratios if r.metric in headline})
        return Decision(False, f"every headline metric settled ({', '.join(judged)})")
    pending = ", ".join(open_) + " inconclusive"
    if look + 1 >= look_plan.looks:
        if look_plan.looks == 1:
            return Decision(False, f"{pending}; no block was planned (run cap or time budget)")
        return Decision(False, f"{pending} after the last planned look ({look_plan.looks})")
    if block_s > remaining_s:
        return Decision(
            False,
            f"{pending}; another block (~{block_s:.0f} s) would overrun the time budget"
            f" ({max(0.0, remaining_s):.0f} s left)",
        )
    return Decision(True, pending)
