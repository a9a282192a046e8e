"""The harness's parts: run plan, labels, histograms, generator, gates, bad input."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from bench.analysis import compare
from bench.cli import main
from bench.commands.compare import labels
from bench.run import histograms, measure
from bench.run.generator import run_open_loop
from bench.run.monitors import machine_steal_s
from bench.run.runner import plan
from bench.run.waker import open_waker
from bench.schema import SchemaError, load_compare
from events import Ack, Event
from events.model import Category


def test_plan_gives_every_architecture_its_runs_in_mirrored_blocks() -> None:
    """Blocks are an order and its mirror (ABBA/BAAB); an odd count ends with one order."""
    blocks = plan(["a", "b"], 5, seed=7)
    assert [len(b) for b in blocks] == [4, 4, 2]
    for block in blocks[:2]:
        assert block[:2] == block[:1:-1]
    assert Counter({"a": 5, "b": 5}) == Counter(x for b in blocks for x in b)
    assert blocks == plan(["a", "b"], 5, seed=7)


def test_labels_tell_apart_an_architecture_compared_with_itself() -> None:
    """In an A/A comparison the second copy is labelled arch#2."""
    assert labels(["daemon", "daemon"]) == {"daemon": "daemon", "daemon#2": "daemon"}


def test_histogram_built_by_bucket_equals_one_built_value_by_value() -> None:
    """Rounding to bucket floors then recording counts gives the very same HDR histogram."""
    rng = np.random.default_rng(11)
    values = np.concatenate(
        [rng.integers(1, 10**11, 5000), np.array([1, 2047, 2048, 2049, 4095, 4096, 2**40 - 1])]
    ).astype(np.int64)
    fast = histograms.build(values)
    slow = histograms.new_histogram()
    for value in values.tolist():
        slow.record_value(value)
    assert list(slow.counts) == list(fast.counts)
    assert slow.get_value_at_percentile(99.9) == fast.get_value_at_percentile(99.9)


def test_summary_flags_percentiles_resting_on_too_few_samples() -> None:
    """With 150 samples p99.9 is flagged thin, p99 is not; an encoded record decodes."""
    values = np.arange(1, 151, dtype=np.int64) * 1000
    record = histograms.record("response", "all", values)
    assert record.summary.thin == ("p999",)
    assert (record.summary.p50, record.summary.max) == (75_000, 150_000)
    assert histograms.decode(record.encoded).get_total_count() == 150


class _Collecting:
    def __init__(self, reject_every: int) -> None:
        self.seen: list[tuple[int, int]] = []
        self.reject_every = reject_every

    def publish(self, event: Event) -> Ack:
        self.seen.append((event.seq, time.perf_counter_ns()))
        if event.seq % self.reject_every == self.reject_every - 1:
            return Ack.rejected("overloaded")
        return Ack.accepted()


@pytest.mark.anyio
async def test_generator_publishes_each_event_not_before_its_time() -> None:
    """Open loop: every event goes out once, in order, never early; rejections by reason."""
    offsets = [0, 1_000_000, 1_000_000, 3_000_000, 8_000_000, 8_100_000]
    events = [
        Event(id=str(i), subject="sys.metrics", category=Category.SYSTEM, source="t", seq=i)
        for i in range(len(offsets))
    ]
    router = _Collecting(reject_every=3)
    waker = open_waker()
    if waker is not None:
        import asyncio

        waker.attach(asyncio.get_running_loop())
    t0 = time.perf_counter_ns() + 1_000_000
    try:
        log = await run_open_loop(router.publish, events, offsets, t0, waker)
    finally:
        if waker is not None:
            waker.close()
    assert list(range(len(offsets))) == [seq for seq, _ in router.seen]
    assert all(t - t0 >= offsets[seq] for seq, t in router.seen)
    assert (log.published, log.accepted, log.rejected) == (6, 4, {"overloaded": 2})
    assert log.rejected_seq == [2, 5]
    lag = log.dispatch_ns() - np.asarray(offsets)
    assert bool((lag >= 0).all())
    assert 0 < log.publish_ns <= log.finished_ns


def test_machine_steal_is_a_cumulative_count() -> None:
    """Steal time never decreases and is never negative (0 where the kernel has none)."""
    first = machine_steal_s()
    second = machine_steal_s()
    assert 0.0 <= first <= second


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--pattern", "zigzag"], "unknown pattern 'zigzag'"),
        (["--profile", "huge"], "unknown profile 'huge'"),
        (["--arch", "null,warp"], "unknown architecture 'warp'"),
        (["--arch", "null,no.such.module:make"], "cannot import 'no.such.module'"),
        (["--arch", "null,tests.bench.known_routers:broken_factory"], "factory raised"),
        (["--arch", "null"], "at least two architectures"),
        (["--runs", "1"], "--runs must be >= 2"),
        (["--base-rate", "-5"], "base_rate"),
    ],
)
def test_bad_input_is_one_clear_line_and_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Unknown names and broken factories are refused before any run, with exit code 2."""
    assert main(["compare", *args]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert message in err


@pytest.mark.parametrize(
    ("a", "b", "verdict", "says"),
    [
        ([0.0, 0.0, 0.0], [0.0, 0.0, 0.0], "equivalent", "0 in every run"),
        ([0.0, 1.0, 0.0], [1.0, 1.0, 1.0], "inconclusive", "is 0 in 2 of 3 runs"),
        ([5.0], [5.0, 5.0], "inconclusive", "at least 2 valid runs"),
        ([10.0, 10.2, 9.9], [20.0, 20.5, 19.8], "worse", "worse"),
    ],
)
def test_compare_metric_edge_cases_get_an_explained_verdict(
    a: list[float], b: list[float], verdict: str, says: str
) -> None:
    """Zeros, too few runs and a clear difference each get a verdict and a reason."""
    metric = next(m for m in compare.METRICS if m.name == "response_p99")
    ratio = compare.compare_metric(metric, "A", "B", a, b, noise=0.05, seed=1)
    assert (ratio.verdict, ratio.n_baseline, ratio.n_arch) == (verdict, len(a), len(b))
    assert says in ratio.explanation


def test_results_of_another_schema_version_are_refused(tmp_path: Path) -> None:
    """Loading a results file of another schema names the file and both versions."""
    path = tmp_path / "old.json"
    path.write_text('{"schema": "switchyard.bench/0", "runs": []}')
    with pytest.raises(SchemaError, match=r"old\.json: schema 'switchyard.bench/0' is not"):
        load_compare(path)


def test_phases_and_latencies_come_from_intended_dispatch_and_completion_times() -> None:
    """Response counts from intended, service from dispatch; rates are per phase window."""
    ms = 1_000_000
    arrays = measure.RunArrays(
        intended=np.array([0, 100 * ms, 600 * ms, 700 * ms], dtype=np.int64),
        phase_idx=np.array([0, 0, 1, 1]),
        category_idx=np.array([0, 1, 0, 1]),
        dispatch=np.array([1 * ms, 103 * ms, 600 * ms, 750 * ms], dtype=np.int64),
        accepted=np.array([True, True, True, False]),
        done_seq=np.array([0, 1, 2], dtype=np.int64),
        done_t=np.array([11 * ms, 110 * ms, 1200 * ms], dtype=np.int64),
    )
    response, _ = arrays.values("response")
    service, _ = arrays.values("service")
    lag, _ = arrays.values("dispatch_lag")
    assert (response.tolist(), service.tolist()) == (
        [11 * ms, 10 * ms, 600 * ms],
        [10 * ms, 7 * ms, 600 * ms],
    )
    assert lag.tolist() == [1 * ms, 3 * ms, 0, 50 * ms]
    first, second = measure.phases(arrays, ["a", "b"], [0.0, 0.5], [0.5, 0.5])
    assert (first.offered_eps, first.accepted_eps, first.completed_dps) == (4.0, 4.0, 4.0)
    assert (second.offered_eps, second.accepted_eps, second.completed_dps, second.rejected) == (
        4.0, 2.0, 0.0, 1,
    )  # fmt: skip
    scopes = {(h.metric, h.scope) for h in measure.histograms(arrays, ["a", "b"], ["x", "y"])}
    assert ("response", "phase:b") in scopes
    assert ("response", "category:y") in scopes
    assert ("dispatch_lag", "all") in scopes
