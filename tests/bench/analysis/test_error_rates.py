"""The two failure rates: event-level rejects and delivery-level failures, never one sum."""

from __future__ import annotations

from pathlib import Path

import msgspec
import numpy as np
import pytest

from bench.analysis.compare import METRICS, compare_metric
from bench.cli import main
from bench.report.summary import ARCH_HEADER, arch_rows
from bench.routers.null import NullRouter
from bench.run.histograms import record
from bench.schema import (
    SCHEMA,
    Accounting,
    CompareResult,
    CompareSettings,
    Environment,
    Resources,
    RunRecord,
    RunResult,
    RunSpec,
    SchemaError,
    decode_run,
    encode,
    error_rates,
)
from events import Ack, Event, RouterStats
from events.model import REJECT_OVERLOADED

#: RejectingRouter refuses one event in this many.
REJECT_EVERY = 4


class RejectingRouter(NullRouter):
    """The null router refusing every ``REJECT_EVERY``-th event as overloaded, counted."""

    def __init__(self, config: object = None) -> None:
        super().__init__(config)
        self.seen = 0
        self.refused = 0

    def publish(self, event: Event) -> Ack:
        self.seen += 1
        if self.seen % REJECT_EVERY == 0:
            self.refused += 1
            return Ack.rejected(REJECT_OVERLOADED)
        return super().publish(event)

    def stats(self) -> RouterStats:
        inner = super().stats()
        rejected = dict(inner.rejected)
        rejected[REJECT_OVERLOADED] = rejected.get(REJECT_OVERLOADED, 0) + self.refused
        return msgspec.structs.replace(
            inner, published=inner.published + self.refused, rejected=rejected
        )


def accounting(
    published: int, rejected: int, deliveries: int, dead_lettered: int, dropped: int
) -> Accounting:
    """Router counters after a drained run with these counts (all else delivered)."""
    delivered = deliveries - dead_lettered - dropped
    return Accounting(
        published=published, accepted=published - rejected, rejected={"overloaded": rejected},
        unrouted=0, deliveries=deliveries, delivered=delivered,
        dead_lettered={"retries_exhausted": dead_lettered}, dropped={"overflow": dropped},
        retries=0, pending=0, unaccounted=0, bench_published=published,
        bench_accepted=published - rejected, bench_rejected={"overloaded": rejected},
        bench_completions=delivered, identity_errors=(), drain_completed=True, drain_s=0.0,
    )  # fmt: skip


#: A response histogram of one 1 ms delivery, for tables that read latency.
LATENCY = record("response", "all", np.array([1_000_000], dtype=np.int64))


def run_result(acc: Accounting, reject_rate: float = 0.0, failure_rate: float = 0.0) -> RunResult:
    """A run record around ``acc`` with the rate fields as given."""
    numbers = [f for f in Resources.__struct_fields__ if f != "external_cpu_s"]
    resources = msgspec.convert(dict.fromkeys(numbers, 0), Resources)
    spec = RunSpec(arch="null", profile="light", pattern="steady", seed=1)
    return RunResult(
        schema=SCHEMA, spec=spec, schedule_hash="0", events=acc.published, window_s=1.0,
        throughput_dps=float(acc.delivered), reject_rate=reject_rate,
        failure_rate=failure_rate, valid=True, reasons=(), gates=(), accounting=acc,
        resources=resources, phases=(), histograms=(LATENCY,),
    )  # fmt: skip


#: 100 events, 3 rejected, the 97 accepted at fan-out 2 make 194 deliveries, of which
#: 4 are dead-lettered and 1 dropped.
KNOWN = accounting(published=100, rejected=3, deliveries=194, dead_lettered=4, dropped=1)


def test_known_counts_give_known_rates() -> None:
    """3 of 100 events rejected is 3%; 5 of 194 deliveries failed is 5/194."""
    rates = error_rates(KNOWN)
    assert pytest.approx((rates.reject_rate, rates.failure_rate)) == (0.03, 5 / 194)


def test_rates_without_a_denominator_are_zero() -> None:
    """No event published and no delivery started: both rates are 0, not a division error."""
    rates = error_rates(accounting(0, 0, 0, 0, 0))
    assert (rates.reject_rate, rates.failure_rate) == (0.0, 0.0)


def test_fan_out_moves_the_failure_rate_only() -> None:
    """The same 5 failed deliveries over twice the fan-out halve failure_rate, not reject_rate."""
    wide = error_rates(accounting(100, 3, 388, 4, 1))
    narrow = error_rates(KNOWN)
    assert (narrow.reject_rate, narrow.failure_rate / 2) == pytest.approx(
        (wide.reject_rate, wide.failure_rate)
    )


def test_a_retired_schema_is_refused_saying_why() -> None:
    """A result of schema switchyard.bench/1 (mixed error_rate) is refused with what changed."""
    raw = msgspec.json.decode(encode(run_result(KNOWN)))
    raw["schema"] = "switchyard.bench/1"
    with pytest.raises(SchemaError, match=r"older than this bench reads.*error_rate gave way"):
        decode_run(msgspec.json.encode(raw), "old.json")


def test_recorded_rates_are_what_rates_returns() -> None:
    """A new result's recorded rates are returned as recorded, not re-derived."""
    result = run_result(KNOWN, reject_rate=0.5, failure_rate=0.25)
    rates = result.rates()
    assert (rates.reject_rate, rates.failure_rate) == (0.5, 0.25)


def test_compare_judges_two_rates_in_percent() -> None:
    """compare has reject_rate and failure_rate in % (lower better) and no error_rate."""
    metrics = {m.name: m for m in METRICS}
    result = run_result(KNOWN, **msgspec.structs.asdict(error_rates(KNOWN)))
    values = (metrics["reject_rate"].value(result), metrics["failure_rate"].value(result))
    assert pytest.approx(values) == (3.0, 500 / 194)
    assert (
        metrics["reject_rate"].higher_is_better,
        metrics["failure_rate"].higher_is_better,
        metrics["failure_rate"].unit,
    ) == (False, False, "%")
    assert "error_rate" not in metrics


@pytest.mark.parametrize("name", ["reject_rate", "failure_rate"])
def test_a_zero_baseline_rate_gives_no_ratio(name: str) -> None:
    """A rate that is 0 in the baseline's runs is inconclusive, with no ratio, saying why."""
    metric = next(m for m in METRICS if m.name == name)
    ratio = compare_metric(metric, "a", "b", [0.0, 0.0], [1.0, 2.0], 0.05, 1)
    assert (ratio.verdict, ratio.ratio) == ("inconclusive", None)
    assert ratio.explanation.startswith(f"no ratio: {name} of a is 0")


def test_run_records_and_prints_both_rates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A real run refusing one event in 4 records reject_rate 1/4, failure_rate 0, and
    ``bench run`` says both in words."""
    out = tmp_path / "run.json"
    main(
        [
            "run", "--arch", f"{__name__}:RejectingRouter", "--profile", "light",
            "--pattern", "steady", "--seed", "3", "--duration", "0.5", "--base-rate", "400",
            "--services", "noop", "--json", str(out),
        ]
    )  # fmt: skip
    result = decode_run(out.read_bytes())
    acc = result.accounting
    refused = acc.rejected[REJECT_OVERLOADED]
    assert (acc.published // REJECT_EVERY, refused / acc.published, 0.0) == (
        refused,
        result.reject_rate,
        result.failure_rate,
    )
    printed = capsys.readouterr().out
    assert f"rejected {result.reject_rate:.4%} of events published" in printed
    assert "failed (dead-lettered or dropped) 0.0000% of deliveries started" in printed


def test_summary_table_shows_each_rate_under_its_own_header() -> None:
    """The per-architecture table has "rejected % of events" and "failed % of deliveries"."""
    env = Environment(
        python="3.11", implementation="cpython", uvloop="0", loop="uvloop", cpu_model="test",
        cpu_count=2, platform="linux", git_sha=None, config_hash="0", seed=1,
        schedule_hash="0", argv=(),
    )  # fmt: skip
    settings = CompareSettings(
        archs=("null",), profile="light", pattern="steady", seed=1, runs=2, duration_s=1.0,
        warmup_s=0.0, noise=0.05, loop="uvloop", order=(("null",),),
    )  # fmt: skip
    run = run_result(KNOWN, **msgspec.structs.asdict(error_rates(KNOWN)))
    records = tuple(RunRecord("null", 0, i, run) for i in range(2))
    result = CompareResult(SCHEMA, env, settings, records, (), 1.0)
    row = dict(zip(ARCH_HEADER, arch_rows(result)[0], strict=True))
    cells = (row["rejected % of events"], row["failed % of deliveries"])
    assert cells == ("3.000%", f"{500 / 194:.3f}%")
