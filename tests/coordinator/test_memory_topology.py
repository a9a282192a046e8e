"""The topology memory measurement runs the real routers and sees the coordinator's copies."""

from __future__ import annotations

import argparse

import pytest

from bench.commands import topology_memory as cmd_topology_memory
from bench.memory import topology as memory_topology


def test_everything_subscription_costs_more_than_one_category_in_coordinator() -> None:
    """A '>' subscription (six module copies) holds more bytes than a 'db.>' one (one copy)."""
    result = memory_topology.measure(
        "coordinator", subscriptions=3, fanouts=[1, 2], events=50, profile=""
    )
    everything, one = result.subscriptions
    assert (everything.pattern, one.pattern, [b.fanout for b in result.buffers]) == (
        ">",
        "db.>",
        [1, 2],
    )
    assert everything.per_sub_registered > 3 * one.per_sub_registered


def test_command_prints_a_table_per_architecture(capsys: pytest.CaptureFixture[str]) -> None:
    """`python -m bench topology-memory` measures each named architecture and exits 0."""
    parser = argparse.ArgumentParser()
    cmd_topology_memory.add_arguments(parser)
    args = parser.parse_args(
        [
            "--arch",
            "coordinator",
            "--subscriptions",
            "2",
            "--events",
            "20",
            "--profile",
            "",
        ]
    )
    code = cmd_topology_memory.run(args)
    out = capsys.readouterr().out
    assert (code, "coordinator" in out, "B/buffered event" in out) == (0, True, True)
