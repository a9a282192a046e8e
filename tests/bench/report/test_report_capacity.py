"""Capacity results in the report: the curve, the SLO line and each capacity marked."""

from __future__ import annotations

import sys
from pathlib import Path

import msgspec

from bench.experiments.capacity import SearchSettings, StepResult, search
from bench.experiments.capacity_report import CapacityReport
from bench.experiments.capacity_step import size
from bench.host.environment import capture
from bench.report import document as report
from bench.report.capacity import curve
from bench.schema import SCHEMA

#: A synthetic router whose p99 is 5 ms below its limit and grows past it.
LIMITS = {"alpha": 2_000.0, "beta": 3_000.0}


def _measure(limit: float):  # type: ignore[no-untyped-def]
    def measure(rate: float) -> StepResult:
        p99_ns = 5e6 if rate <= limit else 5e6 * (rate / limit) ** 6
        verdict = "pass" if p99_ns <= 50e6 else "fail"
        return StepResult(rate, verdict, latency_ns=(p99_ns,), latency_upper_ns=(p99_ns * 1.1,))

    return measure


def _capacity_file(tmp_path: Path) -> Path:
    settings = SearchSettings(start_rate=250.0, confirmations=1)
    sizings = tuple(
        size(arch, search(_measure(limit), settings), 2_500.0) for arch, limit in LIMITS.items()
    )
    record = CapacityReport(
        schema=SCHEMA, environment=capture("uvloop", 1, "", ["pytest", *sys.argv[1:]]),
        profile="light", slo=("p99<=50ms",), error_limit=0.001, settings=settings, step_s=1.0,
        sizings=sizings, elapsed_s=0.0,
    )  # fmt: skip
    path = tmp_path / "capacity.json"
    path.write_bytes(msgspec.json.encode(record))
    return path


def test_curve_marks_the_slo_and_each_capacity(tmp_path: Path) -> None:
    """The chart carries the SLO line at 50 ms and one capacity marker per architecture."""
    cap = report.load_inputs([_capacity_file(tmp_path)]).capacities[0]
    chart = curve(cap)
    slo = [(m.axis, m.value) for m in chart.markers if m.label.startswith("SLO")]
    marked = sorted(m.label.split(" capacity")[0] for m in chart.markers if "capacity" in m.label)
    assert (slo, marked) == ([("y", 50.0)], ["alpha", "beta"])


def test_capacity_section_in_html_and_markdown(tmp_path: Path) -> None:
    """HTML draws the curve; Markdown lists each architecture's capacity row."""
    inputs = report.load_inputs([_capacity_file(tmp_path)])
    html = report.render_html(inputs, "t", "pytest")
    markdown = report.render_markdown(inputs, "t")
    rows = [line.split(" | ")[0] for line in markdown.splitlines() if line.startswith("| ")]
    assert ("Latency against offered load" in html, rows[1:]) == (True, ["| alpha", "| beta"])
