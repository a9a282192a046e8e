"""`python -m bench profile`: a run under a profiler, a flame graph, the top 20, a report link."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bench.cli import main
from bench.experiments.profiling import decode_profile, py_spy
from bench.report import document

ARGS = ["profile", "--arch", "null", "--profile", "light", "--pattern", "steady",
        "--duration", "0.5", "--services", "noop"]  # fmt: skip


def test_cprofile_profile_writes_flame_graph_table_and_json(tmp_path: Path) -> None:
    """With cProfile: flame.svg, stacks.txt and profile.json with 20 functions, a note that
    says what cProfile costs, and an HTML report that links the flame graph."""
    out = tmp_path / "p"
    assert main([*ARGS, "--profiler", "cProfile", "--out", str(out)]) == 0
    result = decode_profile((out / "profile.json").read_bytes())
    inputs = document.load_inputs([out / "profile.json"])
    html = document.render_html(inputs, "r", "pytest", tmp_path)
    assert (
        result.profiler,
        len(result.top),
        "approximation" in result.note,
        (out / "flame.svg").read_text().startswith("<svg"),
        re.findall(r'href="([^"#]*)"', html),
    ) == ("cProfile", 20, True, True, ["p/flame.svg"])


@pytest.mark.skipif(py_spy() is None, reason="py-spy is not installed (pip install py-spy)")
def test_auto_uses_py_spy_or_says_why_not(tmp_path: Path) -> None:
    """auto samples with py-spy; where it cannot attach (no ptrace here), the fallback to
    cProfile is named with py-spy's reason."""
    out = tmp_path / "p"
    assert main([*ARGS, "--out", str(out)]) == 0
    result = decode_profile((out / "profile.json").read_bytes())
    assert True is (result.profiler == "py-spy" or "py-spy" in result.note)
    assert True is (len(result.top) > 0 and result.total > 0)


def test_one_architecture_at_a_time(capsys: pytest.CaptureFixture[str]) -> None:
    """Two architectures are a usage error (exit 2)."""
    assert main(["profile", "--arch", "coordinator,daemon"]) == 2
    assert "one architecture at a time" in capsys.readouterr().err
