"""Baseline history: every saved version kept, a metric per version with its interval."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import numpy as np
import pytest

from bench.analysis import baseline
from bench.analysis.compare import values_of
from bench.analysis.history import history, mean_ci, metric_named
from bench.cli import main
from bench.report import document
from bench.schema import load_compare

FIXTURE = Path(__file__).parent.parent / "report" / "fixtures" / "summary-better.json"


def test_saving_again_keeps_every_version(tmp_path: Path) -> None:
    """Three saves under one name: three versions, oldest first, each with the metric's mean
    over the usable runs per architecture, in the comparison's order."""
    result = load_compare(FIXTURE)
    for _ in range(3):
        baseline.save("demo", result, tmp_path)
    found = history("demo", "response_p99", tmp_path)
    metric = metric_named("response_p99")
    runs = baseline.runs_by_arch(result)
    expected = [
        (arch, pytest.approx(float(np.mean(values_of(metric, runs[arch])))))
        for arch in result.settings.archs
    ]
    assert (3, [expected] * 3) == (
        len(found.versions),
        [[(p.arch, p.mean) for p in v.points] for v in found.versions],
    )


def test_the_interval_is_the_t_interval_of_the_mean() -> None:
    """Mean 2, sd 1, n 3: half-width t(0.975, 2) / sqrt(3)."""
    mean, low, high = mean_ci([1.0, 2.0, 3.0])
    assert (2.0, pytest.approx(4.303 / 3**0.5, rel=1e-3)) == (mean, high - mean)
    assert low == pytest.approx(2 * mean - high)


def test_a_version_of_a_retired_schema_is_skipped_saying_why(tmp_path: Path) -> None:
    """A history file of result schema bench/2 is listed as skipped with what changed."""
    baseline.save("demo", load_compare(FIXTURE), tmp_path)
    old = json.loads(baseline.history_paths("demo", tmp_path)[0].read_text())
    old["comparison"]["schema"] = "switchyard.bench/2"
    (baseline.history_dir("demo", tmp_path) / "20000101T000000.000000Z-old.json").write_text(
        json.dumps(old)
    )
    found = history("demo", "throughput", tmp_path)
    assert (len(found.versions), "older than this bench reads" in found.skipped[0]) == (1, True)


def test_an_unknown_metric_lists_the_known(tmp_path: Path) -> None:
    """--metric must be a compared metric."""
    with pytest.raises(baseline.BaselineError, match="use one of throughput, payload"):
        history("demo", "latency", tmp_path)


def test_history_command_prints_and_writes_an_svg(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`baseline history NAME --metric throughput` prints one row per version and
    architecture and writes a standalone SVG trend."""
    result = load_compare(FIXTURE)
    baseline.save("demo", result, tmp_path)
    baseline.save("demo", result, tmp_path)
    svg = tmp_path / "trend.svg"
    code = main(["baseline", "history", "demo", "--dir", str(tmp_path), "--metric",
                 "throughput", "--svg", str(svg)])  # fmt: skip
    rows = [line for line in capsys.readouterr().out.splitlines() if line[:3].strip().isdigit()]
    assert (code, len(rows), svg.read_text().startswith("<svg")) == (0, 4, True)


def test_the_report_draws_the_history_when_baselines_of_the_workload_exist(
    tmp_path: Path,
) -> None:
    """A report of a comparison includes the history of saved baselines of its workload,
    and none when the baselines folder holds none."""
    result = load_compare(FIXTURE)
    empty = document.ReportInputs(comparisons=[result])
    empty.add_histories(tmp_path)
    baseline.save("demo", result, tmp_path)
    other = msgspec.structs.replace(
        result, settings=msgspec.structs.replace(result.settings, pattern="steady")
    )
    baseline.save("other", other, tmp_path)
    inputs = document.ReportInputs(comparisons=[result])
    inputs.add_histories(tmp_path)
    html = document.render_html(inputs, "r", "pytest")
    assert (
        empty.histories,
        [h.name for h in inputs.histories],
        "Baseline history" in html,
    ) == ([], ["demo", "demo"], True)
