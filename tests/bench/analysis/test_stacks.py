"""Collapsed stacks: parsing, self and total time, cProfile's call graph as stacks."""

from __future__ import annotations

import cProfile
import pstats

import pytest

from bench.analysis.stacks import (
    NO_FRAME,
    StackError,
    from_pstats,
    parse_collapsed,
    to_collapsed,
    top_self,
)

TEXT = "main;a;leaf 6\nmain;b;leaf 3\nmain;a 1\n 2\n\n"


def test_collapsed_lines_parse_and_round_trip() -> None:
    """Stacks root first with their counts; a sample with no frame gets a name of its own."""
    stacks = parse_collapsed(TEXT)
    assert stacks == {
        ("main", "a", "leaf"): 6.0,
        ("main", "b", "leaf"): 3.0,
        ("main", "a"): 1.0,
        (NO_FRAME,): 2.0,
    }
    assert stacks == parse_collapsed(to_collapsed(stacks))


def test_a_line_without_a_count_is_refused_with_its_number() -> None:
    with pytest.raises(StackError, match="line 2"):
        parse_collapsed("main 1\nmain;a\n")


def test_self_time_is_the_leaf_and_total_counts_each_stack_once() -> None:
    """leaf is the leaf of 9 of 12 samples; main is in 10 but the leaf of none."""
    rows = {r.function: r for r in top_self(parse_collapsed(TEXT))}
    leaf, a, main = rows["leaf"], rows["a"], rows.get("main")
    assert (leaf.self_samples, leaf.self_share, a.self_samples, a.total_samples, main) == (
        9.0,
        0.75,
        1.0,
        7.0,
        None,
    )


def _busy(n: int) -> int:
    total = 0
    for i in range(n):
        total += i * i
    return total


def _outer() -> int:
    return _busy(400_000) + _inner()


def _inner() -> int:
    return _busy(100_000)


def test_cprofile_graph_becomes_stacks_through_the_callers() -> None:
    """Profiling outer -> busy and outer -> inner -> busy gives both paths, and busy gets the
    most self time (about four fifths of it under outer directly)."""
    profiler = cProfile.Profile()
    profiler.runcall(_outer)
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    stacks = from_pstats(stats)
    paths = {tuple(f.split(" (")[0] for f in s): n for s, n in stacks.items()}
    direct = paths.get(("_outer", "_busy"), 0.0)
    nested = paths.get(("_outer", "_inner", "_busy"), 0.0)
    top = top_self(stacks, 1)[0].function.split(" (")[0]
    assert (top, 0.6 < direct / (direct + nested) < 0.95) == ("_busy", True)
