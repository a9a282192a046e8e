"""The comparison names the queue-and-worker topology of each built-in architecture."""

from __future__ import annotations

from bench.report.summary import TOPOLOGY, markdown, topology_lines
from bench.schema import SCHEMA, CompareResult, CompareSettings, Environment

ENV = Environment(
    python="3.11", implementation="cpython", uvloop="0", loop="uvloop", cpu_model="test",
    cpu_count=2, platform="linux", git_sha=None, config_hash="0", seed=1,
    schedule_hash="0", argv=(),
)  # fmt: skip


def _result(*archs: str) -> CompareResult:
    settings = CompareSettings(
        archs=archs, profile="light", pattern="steady", seed=1, runs=0, duration_s=1.0,
        warmup_s=0.0, noise=0.05, loop="uvloop", order=(),
    )  # fmt: skip
    return CompareResult(SCHEMA, ENV, settings, (), (), 0.0)


def test_each_built_in_architecture_gets_its_sentence_in_order() -> None:
    """coordinator then daemon, as compared; the coordinator's worker rule is spelled out."""
    actual = topology_lines(_result("coordinator", "daemon"))
    assert actual == [TOPOLOGY["coordinator"], TOPOLOGY["daemon"]]
    assert "largest `concurrency`" in actual[0]


def test_an_a_a_comparison_and_a_factory_path() -> None:
    """daemon#2 is the daemon once more; a factory path has no note."""
    assert topology_lines(_result("daemon", "daemon#2")) == [TOPOLOGY["daemon"]]
    assert topology_lines(_result("null", "tests.bench.known_routers:make")) == [TOPOLOGY["null"]]


def test_markdown_has_a_topology_section() -> None:
    """The Markdown report lists the sentences under their own heading."""
    text = markdown(_result("coordinator", "daemon"))
    assert f"## Topology\n\n- {TOPOLOGY['coordinator']}\n- {TOPOLOGY['daemon']}\n" in text
