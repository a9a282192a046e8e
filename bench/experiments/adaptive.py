"""A comparison that grows by ABBA blocks while its headline verdicts are open and time allows.

The first ``runs`` per architecture run as planned by :func:`bench.run.runner.plan`.
Then, with the time each run took so far, the number of further blocks the budget
leaves room for (capped by ``max_runs``) fixes the look plan and its Pocock level
(:func:`bench.analysis.sequential.plan`), and every look, the first included, judges
at that level. After each look :func:`bench.analysis.sequential.decide` says whether
one more block (a seeded random order and its mirror, with its own warm-up) is run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import msgspec
import numpy as np

from bench.analysis import sequential
from bench.analysis.compare import METRICS, Metric, compare_runs
from bench.run import runner
from bench.run.runner import Launcher, Progress, run_in_subprocess
from bench.schema import Look, Ratio, RunRecord, RunResult, RunSpec, Sequential

CORRECTION = "Pocock repeated confidence intervals"
#: Margin on the measured time per run when judging whether a block still fits.
BLOCK_MARGIN = 1.1


class AdaptiveSettings(msgspec.Struct, frozen=True):
    """How the comparison starts and how far it may grow."""

    runs: int
    max_runs: int
    max_time_s: float | None
    noise: float
    seed: int
    warmup_s: float
    timeout_s: float = 120.0
    headline: tuple[str, ...] = sequential.HEADLINE
    family: float = 0.95


class Outcome(msgspec.Struct, frozen=True):
    """Every measured run in its block, the ratios of the last look, and how it grew."""

    records: tuple[RunRecord, ...]
    blocks: tuple[tuple[str, ...], ...]
    ratios: tuple[Ratio, ...]
    sequential: Sequential


class _Timed(Progress):
    """Passes progress on, and remembers how long runs and warm-ups took."""

    def __init__(self, inner: Progress) -> None:
        self.inner = inner
        self.runs: list[float] = []
        self.warmups: list[float] = []

    def started(self, block: int, blocks: int, arch: str, warmup: bool) -> None:
        self.inner.started(block, blocks, arch, warmup)

    def finished(self, arch: str, result: RunResult | None, seconds: float) -> None:
        # The runner reports a warm-up with no result.
        (self.runs if result is not None else self.warmups).append(seconds)
        self.inner.finished(arch, result, seconds)

    def planned(self, more: int) -> None:
        self.inner.planned(more)

    def block_s(self, runs: int, warmup: bool) -> float:
        """The expected seconds of a block of ``runs`` runs (and a warm-up), with a margin."""
        run = float(np.mean(self.runs)) if self.runs else 0.0
        warm = float(np.mean(self.warmups)) if self.warmups else run
        return BLOCK_MARGIN * (runs * run + (warm if warmup else 0.0))


def run_adaptive(
    order: Sequence[str],
    base: RunSpec,
    settings: AdaptiveSettings,
    progress: Progress,
    names: dict[str, str] | None = None,
    launch: Launcher = run_in_subprocess,
    clock: Callable[[], float] = time.monotonic,
    metrics: Sequence[Metric] = METRICS,
) -> Outcome:
    """Run the comparison of ``order`` (labels; ``names`` maps them to architectures)."""
    began = clock()
    timed = _Timed(progress)
    blocks = runner.plan(order, settings.runs, settings.seed)
    records: list[RunRecord] = []

    def measure(new: list[list[str]]) -> None:
        offset = len(blocks) - len(new)
        measured = runner.execute(
            new, base, settings.warmup_s, timed, launch=launch,
            timeout_s=settings.timeout_s, names=names,
        )  # fmt: skip
        records.extend(
            RunRecord(arch=new[b][p], block=b + offset, position=p, result=r)
            for b, p, r in measured
        )

    measure(blocks)
    block_size = 2 * len(order)
    block_s = timed.block_s(block_size, settings.warmup_s > 0)
    budget = settings.max_time_s
    remaining = (budget - (clock() - began)) if budget is not None else float("inf")
    fit = sequential.blocks_that_fit(remaining, block_s) if block_s > 0 else 0
    plan = sequential.plan(settings.runs, settings.max_runs, fit, settings.family)
    looks: list[Look] = []
    look = 0
    while True:
        by_arch: dict[str, list[RunResult]] = {label: [] for label in order}
        for record in records:
            by_arch[record.arch].append(record.result)
        ratios = compare_runs(
            order, by_arch, settings.noise, settings.seed, plan.confidence, metrics
        )
        elapsed = clock() - began
        open_ = tuple(
            sorted({r.metric for r in ratios if r.metric in settings.headline
                    and r.verdict == "inconclusive"})
        )  # fmt: skip
        looks.append(Look(min(len(v) for v in by_arch.values()), elapsed, open_))
        remaining = (budget - elapsed) if budget is not None else float("inf")
        block_s = timed.block_s(block_size, settings.warmup_s > 0)
        decision = sequential.decide(ratios, look, plan, remaining, block_s, settings.headline)
        if not decision.more:
            break
        extra = runner.plan(order, sequential.BLOCK_RUNS, settings.seed + 1000 + look)
        timed.planned(sum(len(b) for b in extra) + (len(extra) if settings.warmup_s > 0 else 0))
        blocks.extend(extra)
        measure(extra)
        look += 1
    grown = Sequential(
        correction=CORRECTION,
        family=plan.family,
        confidence=plan.confidence,
        planned=plan.runs,
        looks=tuple(looks),
        max_runs=settings.max_runs,
        max_time_s=budget,
        stopped=decision.reason,
    )
    return Outcome(tuple(records), tuple(tuple(b) for b in blocks), ratios, grown)
