"""SLO parsing, loading from TOML, and checking run results against objectives."""

from __future__ import annotations

import argparse
from pathlib import Path

import msgspec
import numpy as np
import pytest

from bench.analysis.slo import (
    Slo,
    SloTier,
    bucket_samples,
    check,
    latency_upper_bound_ns,
    load,
    parse_error_rate,
    parse_latencies,
    parse_latency,
    parse_size,
    response_histogram,
)
from bench.analysis.stats import percentile_upper_bound
from bench.commands import compare as compare_command
from bench.run import worker
from bench.run.histograms import record
from bench.schema import (
    RssTrend,
    RunResult,
    RunSpec,
    RunTrend,
    SloOutcome,
    Violation,
    load_compare,
)
from events.errors import ConfigError

FIXTURE = Path(__file__).parent.parent / "report" / "fixtures" / "summary-better.json"


@pytest.fixture(scope="module")
def null_run() -> RunResult:
    """One short real run of the null router (in this process)."""
    spec = RunSpec(arch="null", profile="light", pattern="steady", seed=5, duration_s=1.0,
                   base_rate=400.0, services="noop")  # fmt: skip
    return worker.run(spec)


@pytest.mark.parametrize(
    ("text", "percentile", "threshold_ns", "strict"),
    [
        ("p99<=50ms", 99.0, 50_000_000, False),
        ("p99.9 < 2s", 99.9, 2_000_000_000, True),
        ("p50<=750us", 50.0, 750_000, False),
        ("p90<=1.5ms", 90.0, 1_500_000, False),
    ],
)
def test_latency_objectives_parse(
    text: str, percentile: float, threshold_ns: int, strict: bool
) -> None:
    """k6-style latency objectives become percentile, threshold in ns and strictness."""
    objective = parse_latency(text)
    assert (percentile, threshold_ns, strict) == (
        objective.percentile,
        objective.threshold_ns,
        objective.strict,
    )


@pytest.mark.parametrize("text", ["p99=50ms", "p100<=1ms", "99<=50ms", "p99<=50", "p99<=0ms", ""])
def test_bad_latency_objectives_are_refused(text: str) -> None:
    """Malformed latency objectives raise ConfigError quoting the input."""
    with pytest.raises(ConfigError, match="objective"):
        parse_latencies(text) if not text else parse_latency(text)


def test_several_latency_objectives_split_on_commas() -> None:
    """'p99<=50ms,p99.9<=200ms' gives two objectives in order."""
    assert [o.percentile for o in parse_latencies("p99<=50ms, p99.9<=200ms")] == [99.0, 99.9]


@pytest.mark.parametrize(("text", "value"), [("0.1%", 0.001), ("0.001", 0.001), ("5 %", 0.05)])
def test_error_rates_parse(text: str, value: float) -> None:
    """Error-rate limits are percentages or fractions."""
    assert value == pytest.approx(parse_error_rate(text))


@pytest.mark.parametrize("text", ["abc", "150%", "-1%"])
def test_bad_error_rates_are_refused(text: str) -> None:
    """An error rate outside [0, 1] or not a number raises ConfigError."""
    with pytest.raises(ConfigError, match="error-rate"):
        parse_error_rate(text)


def test_sizes_parse_binary_and_decimal_units() -> None:
    """256MiB and 1GB are bytes; a size without unit is refused."""
    assert (parse_size("256MiB"), parse_size("1 GB")) == (256 * 2**20, 10**9)
    with pytest.raises(ConfigError, match="size"):
        parse_size("256")


def test_slo_toml_of_the_project_loads() -> None:
    """configs/slo.toml parses into objectives."""
    slo = load()
    assert True is (len(slo.latency) >= 1 and 0.0 <= slo.error_rate <= 1.0)


def test_slo_file_errors_name_the_file(tmp_path: Path) -> None:
    """A bad objective in a TOML file raises ConfigError naming file and table."""
    path = tmp_path / "slo.toml"
    path.write_text('[slo]\nlatency = ["p99 under 50ms"]\n')
    with pytest.raises(ConfigError, match=r"slo.toml \[slo\]"):
        load(path)
    path.write_text('[slo]\nlatency = ["p99<=50ms"]\nunknown = 1\n')
    with pytest.raises(ConfigError, match="unknown"):
        load(path)


def test_bucket_samples_keep_the_count_and_bound_each_value() -> None:
    """Histogram stand-ins: one per sample, each at or above the sample's true value."""
    values = np.random.default_rng(1).integers(1_000, 50_000_000, size=5_000).astype(np.int64)
    hist = record("response", "all", values)
    samples = np.sort(bucket_samples(hist))
    assert values.size == samples.size
    assert True is bool(np.all(samples >= np.sort(values)))
    assert True is bool(np.all(samples <= np.sort(values) * 1.001 + 1))


def test_histogram_bound_is_at_or_just_above_the_raw_sample_bound() -> None:
    """The histogram's p99 upper bound is within 0.1% above the bound of the raw samples."""
    values = np.random.default_rng(2).lognormal(15, 1, size=20_000).astype(np.int64) + 1
    exact = percentile_upper_bound(values, 0.99)
    bound = latency_upper_bound_ns(record("response", "all", values), 0.99)
    assert True is (exact <= bound <= exact * 1.001 + 1)


def test_too_few_samples_cannot_be_bounded() -> None:
    """Below the order-statistic minimum, the bound raises ValueError saying how many."""
    hist = record("response", "all", np.arange(1, 100, dtype=np.int64))
    with pytest.raises(ValueError, match="at least"):
        latency_upper_bound_ns(hist, 0.99)


def test_check_passes_a_run_meeting_lax_objectives(null_run: RunResult) -> None:
    """A short null-router run meets p99<=10s with errors up to 100%."""
    slo = Slo(parse_latencies("p99<=10s"), error_rate=1.0, memory_growth_bytes=2**40)
    assert check(null_run, slo) == []


def test_check_names_each_broken_objective(null_run: RunResult) -> None:
    """p50<=1ns and 1 byte of memory growth are both broken, each named once."""
    slo = Slo(parse_latencies("p50<=1ns"), error_rate=1.0, memory_growth_bytes=0)
    setup = null_run.resources.rss_setup_bytes
    flat, grown = (
        msgspec.structs.replace(
            null_run,
            resources=msgspec.structs.replace(null_run.resources, rss_peak_bytes=setup + extra),
        )
        for extra in (0, 1)
    )
    violations = check([flat, grown], slo)
    assert [(v.objective, v.run) for v in violations] == [
        ("p50<=1ns", 0),
        ("p50<=1ns", 1),
        ("memory_growth<=0MiB", 1),
    ]


@pytest.mark.parametrize(
    ("rates", "broken"),
    [
        ({"reject_rate": 0.5}, [("reject_rate", 0.5)]),
        ({"failure_rate": 0.25}, [("failure_rate", 0.25)]),
        (
            {"reject_rate": 0.5, "failure_rate": 0.25},
            [("reject_rate", 0.5), ("failure_rate", 0.25)],
        ),
    ],
)
def test_check_names_the_rate_that_broke_errors(
    null_run: RunResult, rates: dict[str, float], broken: list[tuple[str, float]]
) -> None:
    """errors<=X bounds each rate: each one above X is a violation naming it and its value."""
    failing = msgspec.structs.replace(null_run, **rates)
    slo = Slo(parse_latencies("p99<=10s"), error_rate=0.001)
    violations = check(failing, slo)
    assert [(v.detail.split()[0], v.measured) for v in violations] == broken
    assert {v.objective for v in violations} == {"errors<=0.1000%"}


def test_response_histogram_is_found(null_run: RunResult) -> None:
    """The run's overall response histogram counts every completed delivery."""
    assert null_run.accounting.delivered == response_histogram(null_run).summary.count


def test_p95_objectives_read_the_recorded_p95(null_run: RunResult) -> None:
    """p95<=X is judged on the run's recorded p95 (the grammar takes any percentile)."""
    p95 = response_histogram(null_run).summary.p95
    below = Slo(parse_latencies(f"p95<={p95 - 1}ns"), error_rate=1.0)
    at = Slo(parse_latencies(f"p95<={p95}ns"), error_rate=1.0)
    assert ([p95 / 1e6], []) == ([v.measured for v in check(null_run, below)], check(null_run, at))


def test_warn_and_fail_tiers_load_from_toml(tmp_path: Path) -> None:
    """[slo] holds the fail level, [slo.warn] the warn level, each kind optional there."""
    path = tmp_path / "slo.toml"
    path.write_text(
        '[slo]\nlatency = ["p99<=50ms"]\nrss_growth = "8MiB/h"\n'
        '[slo.warn]\nlatency = ["p95<=20ms"]\nerrors = "0.05%"\n'
    )
    slo = load(path)
    assert slo.warn is not None
    assert (
        [o.text for o in slo.latency],
        slo.rss_growth_mib_per_h,
        [o.text for o in slo.warn.latency],
        slo.warn.error_rate,
        slo.warn.memory_growth_bytes,
    ) == (["p99<=50ms"], 8.0, ["p95<=20ms"], 0.0005, None)


def test_a_bad_warn_objective_names_the_warn_table(tmp_path: Path) -> None:
    """An error in [slo.warn] names that table."""
    path = tmp_path / "slo.toml"
    path.write_text('[slo]\n[slo.warn]\nrss_growth = "8MiB"\n')
    with pytest.raises(ConfigError, match=r"\[slo\.warn\].*per hour"):
        load(path)


def test_warnings_are_kept_apart_and_not_repeated_for_a_failed_figure(null_run: RunResult) -> None:
    """A p99 that breaks both levels is one failure; a p95 over its warn level is a warning."""
    slo = Slo(
        parse_latencies("p99<=1ns"), error_rate=1.0,
        warn=SloTier(latency=parse_latencies("p99<=1ns,p95<=1ns")),
    )  # fmt: skip
    assert [(v.level, v.objective) for v in check(null_run, slo)] == [
        ("fail", "p99<=1ns"),
        ("warn", "p95<=1ns"),
    ]


def test_the_shipped_objectives_have_both_tiers() -> None:
    """configs/slo.toml ships a warn level below the fail level for p99."""
    slo = load()
    assert slo.warn is not None
    fail_p99 = next(o.threshold_ns for o in slo.latency if o.percentile == 99.0)
    warn_p99 = next(o.threshold_ns for o in slo.warn.latency if o.percentile == 99.0)
    assert True is (warn_p99 < fail_p99)


def test_a_leaking_soak_trend_breaks_rss_growth_at_its_level() -> None:
    """A comparison whose run's RSS climbs 30 MiB/h breaks the 4 MiB/h fail level; one
    climbing 3 MiB/h (CI wholly above 2) only the 2 MiB/h warn level."""
    base = load_compare(FIXTURE)
    slo = Slo(parse_latencies("p99<=10s"), error_rate=1.0, rss_growth_mib_per_h=4.0,
              warn=SloTier(rss_growth_mib_per_h=2.0))  # fmt: skip

    def trend(slope: float) -> RunTrend:
        t = RssTrend(points=20, span_s=600.0, slope_mib_per_h=slope, low=slope * 0.9,
                     high=slope * 1.1, second_half_mib_per_h=slope, threshold_mib_per_h=4.0,
                     verdict="leak", explanation="")  # fmt: skip
        return RunTrend(arch="daemon", run=1, trend=t)

    def broken(slope: float) -> list[tuple[str, str]]:
        result = msgspec.structs.replace(base, rss_trends=(trend(slope),))
        return [(v.level, v.objective) for v in check(result, slo) if v.objective[:3] == "rss"]

    levels = [broken(s) for s in (30.0, 3.0, 1.0)]
    assert levels == [[("fail", "rss_growth<=4MiB/h")], [("warn", "rss_growth<=2MiB/h")], []]


def test_compare_exits_0_on_warnings_and_5_on_failures(capsys: pytest.CaptureFixture[str]) -> None:
    """Warnings print as such and leave the exit code 0; a fail-level breach exits 5."""
    base = load_compare(FIXTURE)
    args = argparse.Namespace(baseline=None, slo=Path("configs/slo.toml"))
    warn = Violation("daemon", 0, "p95<=1ns", 1.0, 0.0, "p95 breaks", "warn")
    fail = msgspec.structs.replace(warn, level="fail")
    codes = [
        compare_command._verdict(
            msgspec.structs.replace(base, slo=SloOutcome("configs/slo.toml", (), tuple(vs))), args
        )
        for vs in ([warn], [warn, fail])
    ]
    out = capsys.readouterr().out
    warned, failed = "SLO warning: run 0 of daemon" in out, "SLO broken: run 0 of daemon" in out
    assert (codes, warned, failed) == ([0, 5], True, True)
