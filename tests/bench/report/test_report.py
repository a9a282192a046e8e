"""The HTML and Markdown report: self-contained, every figure drawn from the results."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from bench.cli import main
from bench.report import document as report
from bench.report.svg import Axis
from tests.bench.report.support import TUNABLE, comparison, write

ARCHS = ("daemon", TUNABLE)


@pytest.fixture(scope="module")
def compare_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write(comparison(ARCHS), tmp_path_factory.mktemp("report") / "compare.json")


def test_html_is_self_contained_with_every_plot(compare_file: Path, tmp_path: Path) -> None:
    """The page holds the five comparison plots inline and references nothing external."""
    out = tmp_path / "r.html"
    assert main(["report", str(compare_file), "--html", str(out)]) == 0
    html = out.read_text()
    titles = re.findall(r'aria-label="([^"]+)"', html)
    expected = [
        "Response latency CDF (from intended time)",
        "Response latency by percentile (HDR plot)",
        "Completed deliveries/s per phase",
        "Response latency per phase",
        "Latency against throughput, one point per phase",
        "Response p99 per 250 ms window (by intended time; mean of runs)",
        "Router backlog per 250 ms window (mean of runs)",
    ]
    assert titles == expected
    external = re.findall(r'(?:src|href)="(?!#)[^"]*"|<script|@import|url\((?!#)', html)
    assert external == []


def test_markdown_has_the_comparison_tables(compare_file: Path, tmp_path: Path) -> None:
    """The Markdown twin opens with the executive summary, then carries the
    per-architecture, process and ratio tables of the comparison."""
    out = tmp_path / "r.md"
    assert main(["report", str(compare_file), "--markdown", str(out)]) == 0
    text = out.read_text()
    headings = [line.split(" (")[0] for line in text.splitlines() if line.startswith("#")]
    assert headings[:6] == [
        "# Switchyard benchmark report",
        "## Executive summary",
        "## Comparison: spike / light",
        "### Per architecture",
        "### Process per architecture",
        "### Ratios against the first architecture",
    ]


def test_each_architecture_gets_its_own_curves(compare_file: Path) -> None:
    """The CDF draws response and service time for each architecture, named in the legend."""
    from bench.report import figures as report_figures

    result = report.load_inputs([compare_file]).comparisons[0]
    names = [s.name for s in report_figures.latency_cdf(result).series]
    expected = [a for arch in ARCHS for a in (arch, f"{arch} service time")]
    assert names == expected


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "expected a JSON object"),
        (b'{"schema": "other/9"}', "unknown result kind"),
    ],
)
def test_bad_input_exits_2(tmp_path: Path, content: bytes, message: str,
                           capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    """A file that is not a known result is refused with exit 2 and a message naming it."""
    bad = tmp_path / "bad.json"
    bad.write_bytes(content)
    code = main(["report", str(bad), "--html", str(tmp_path / "x.html")])
    err = capsys.readouterr().err
    assert (code, message in err, (tmp_path / "x.html").exists()) == (2, True, False)


def test_nines_axis_spaces_percentiles_evenly() -> None:
    """On the nines axis 90%, 99% and 99.9% sit one equal step apart."""
    axis = Axis("p", "nines", 0.0, 0.999)
    steps = [axis.fraction(p) for p in (0.0, 0.9, 0.99, 0.999)]
    assert [round(b - a, 9) for a, b in itertools.pairwise(steps)] == [round(1 / 3, 9)] * 3
    assert [text for _, text in axis.ticks()] == ["0%", "90%", "99%", "99.9%"]


def test_unwritable_output_exits_2(compare_file: Path, tmp_path: Path) -> None:
    """An output path in a missing folder is a clear error (exit 2), not a traceback."""
    code = main(["report", str(compare_file), "--html", str(tmp_path / "missing" / "r.html")])
    assert code == 2
