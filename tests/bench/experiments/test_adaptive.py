"""The adaptive comparison: blocks added while a headline verdict is open, within its plan."""

from __future__ import annotations

import pytest

from bench.analysis.sequential import plan
from bench.experiments import adaptive
from bench.run import worker
from bench.run.runner import Progress
from bench.schema import RunResult, RunSpec

BASE = RunSpec(arch="null", profile="light", pattern="steady", seed=2, duration_s=0.3,
               base_rate=300.0, services="noop")  # fmt: skip


def in_process(spec: RunSpec, timeout_s: float) -> RunResult:
    return worker.run(spec)


class Counting(Progress):
    def __init__(self) -> None:
        self.added = 0

    def planned(self, more: int) -> None:
        self.added += more


@pytest.mark.timeout(120)
def test_it_grows_by_abba_blocks_up_to_the_cap_and_says_why_it_stopped() -> None:
    """2 runs first, cap 4, no time limit: the plan has looks at 2 and 4 runs at the
    Pocock level; if a headline verdict stayed open it ran one ABBA block more; every look
    is recorded with its open metrics, and the reason to stop is given."""
    settings = adaptive.AdaptiveSettings(runs=2, max_runs=4, max_time_s=None, noise=0.05,
                                         seed=5, warmup_s=0.0)  # fmt: skip
    progress = Counting()
    out = adaptive.run_adaptive(
        ["null", "null#2"], BASE, settings, progress, names={"null": "null", "null#2": "null"},
        launch=in_process,
    )  # fmt: skip
    seq = out.sequential
    assert (seq.planned, seq.confidence) == ((2, 4), pytest.approx(plan(2, 4, 1).confidence))
    runs = [look.runs for look in seq.looks]
    assert runs in ([2], [2, 4])
    assert len(out.records) == 2 * runs[-1]
    assert progress.added == (4 if runs == [2, 4] else 0)
    assert {r.confidence for r in out.ratios} == {seq.confidence}
    if runs == [2]:
        assert seq.stopped.startswith("every headline metric settled"), seq
    else:
        assert seq.looks[0].inconclusive != () and "last planned look" in seq.stopped


@pytest.mark.timeout(60)
def test_no_time_left_means_one_look_at_95_percent() -> None:
    """A budget already spent plans no block: one look, at the plain 95% level."""
    settings = adaptive.AdaptiveSettings(runs=2, max_runs=8, max_time_s=0.01, noise=0.05,
                                         seed=5, warmup_s=0.0)  # fmt: skip
    out = adaptive.run_adaptive(
        ["null", "null#2"], BASE, settings, Progress(), names={"null": "null", "null#2": "null"},
        launch=in_process,
    )  # fmt: skip
    assert (out.sequential.planned, out.sequential.confidence) == ((2,), pytest.approx(0.95))
    assert len(out.records) == 4
