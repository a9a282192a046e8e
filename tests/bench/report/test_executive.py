"""The executive summary, tested on fixed result files (tests/bench/report/fixtures)."""

from __future__ import annotations

import io
import itertools
import re
from pathlib import Path

import msgspec
import pytest
from rich.console import Console

from bench.report import document, executive, summary
from bench.schema import CompareResult, Ratio, load_compare

FIXTURES = Path(__file__).parent / "fixtures"
SETTING = (
    "coordinator vs daemon under profile light, pattern smoke: 2 runs each of 0.3 s; ratios are"
    " against coordinator with 95% intervals, noise band ±5%."
)


def fixture(name: str) -> CompareResult:
    return load_compare(FIXTURES / f"summary-{name}.json")


def test_one_better_metric_and_nothing_worse_recommends_it_with_the_interval() -> None:
    """daemon better on p99 only, two equivalent, one undetermined: recommend daemon on its
    p99, name the interval, the equivalences and what would settle the rest."""
    assert executive.paragraphs(fixture("better")) == [
        SETTING,
        "Every objective held in every run.",
        "daemon against coordinator: Better on p99 response latency at 0.62x coordinator's"
        " (95% CI 0.55-0.70). Equivalent within ±5%: throughput and peak memory."
        " Undetermined: CPU time (about 8 runs each would settle it).",
        "Recommendation: daemon on the strength of its p99 response latency, with no metric"
        " measured worse; 1 metric undetermined; this holds for this workload and host only.",
    ]


def test_better_and_worse_is_a_trade_off_without_a_recommendation() -> None:
    """Better on latency, worse on memory: a trade-off is stated, no side is recommended;
    a broken objective comes first."""
    assert executive.paragraphs(fixture("tradeoff")) == [
        SETTING,
        "Objectives broken at the fail level by coordinator (1 breach, e.g. response p99"
        " 61.00 ms breaks p99<=50ms).",
        "daemon against coordinator: Better on p99 response latency at 0.50x coordinator's"
        " (95% CI 0.40-0.60). Worse on peak memory at 1.30x coordinator's (95% CI 1.20-1.40)."
        " Undetermined: start-up time (no ratio: too few usable runs or zero values).",
        "No overall recommendation: a trade-off. daemon is better on p99 response latency but"
        " worse on peak memory; the choice rests on which matters more here.",
    ]


def test_broken_accounting_voids_every_claim() -> None:
    """One run with events unaccounted for: the summary says not to act, and claims nothing."""
    text = executive.paragraphs(fixture("invalid"))
    assert len(text) == 2
    assert text[1].startswith("Not trustworthy: 1 of 4 runs failed accounting")
    assert re.search(r"[Bb]etter on|[Ww]orse on|Recommendation:", " ".join(text)) is None


VERDICTS = ("better", "worse", "equivalent", "inconclusive")


def _with(verdicts: tuple[str, ...]) -> CompareResult:
    base = fixture("better")
    metrics = ("throughput", "response_p99", "peak_rss")
    ratios = tuple(
        Ratio(metric=m, unit="x", higher_is_better=m == "throughput", baseline="coordinator",
              arch="daemon", baseline_mean=1.0, arch_mean=1.0, ratio=1.0, low=0.9, high=1.1,
              confidence=0.95, n_baseline=5, n_arch=5, verdict=v,  # type: ignore[arg-type]
              runs_needed=9 if v == "inconclusive" else None, explanation="")
        for m, v in zip(metrics, verdicts, strict=True)
    )  # fmt: skip
    return msgspec.structs.replace(base, ratios=ratios, slo=None)


@pytest.mark.parametrize("verdicts", list(itertools.product(VERDICTS, repeat=3)))
def test_the_recommendation_never_outruns_the_verdicts(verdicts: tuple[str, ...]) -> None:
    """Over every combination of three verdicts, the recommendation is the one the rule
    gives (none while throughput or p99 is undetermined), and 'Better on'/'Worse on'
    appear exactly when some verdict is better/worse."""
    text = " ".join(executive.paragraphs(_with(verdicts)))
    better, worse = "better" in verdicts, "worse" in verdicts
    # throughput and p99 (the first two) are headline metrics: none undetermined to recommend.
    headline_open = "inconclusive" in verdicts[:2]
    if better != worse and headline_open:
        expected = "No recommendation yet"
    elif better and not worse:
        expected = "Recommendation: daemon"
    elif worse and not better:
        expected = "Recommendation: keep coordinator"
    elif better and worse:
        expected = "No overall recommendation: a trade-off"
    elif "inconclusive" not in verdicts:
        expected = "No difference beyond ±5%"
    else:
        expected = "No conclusion yet"
    assert (True, better, worse) == (expected in text, "Better on" in text, "Worse on" in text)


def test_every_report_form_opens_with_the_summary() -> None:
    """Terminal, Markdown and HTML all put the executive summary first."""
    result = fixture("better")
    out = io.StringIO()
    summary.render(result, Console(file=out, width=200))
    inputs = document.ReportInputs(comparisons=[result])
    markdown = document.render_markdown(inputs, "Report")
    html = document.render_html(inputs, "Report", "pytest")
    first_heading = next(line for line in markdown.splitlines() if line.startswith("## "))
    first_h2 = re.search(r"<h2[^>]*>([^<]*)</h2>", html)
    assert (
        out.getvalue().splitlines()[0],
        first_heading,
        first_h2.group(1) if first_h2 else None,
    ) == ("Executive summary", "## Executive summary", "Executive summary")
