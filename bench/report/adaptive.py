"""How an adaptive comparison grew, in plain sentences: looks, runs, level and why it stopped."""

from __future__ import annotations

from bench.schema import CompareResult


def lines(result: CompareResult) -> list[str]:
    """Sentences on the looks of ``result`` (none for a comparison of fixed size)."""
    seq = result.sequential
    if seq is None:
        return []
    planned = "/".join(str(n) for n in seq.planned)
    budget = f"{seq.max_time_s:.0f} s" if seq.max_time_s is not None else "none"
    out = [
        f"Runs per architecture: {seq.looks[-1].runs if seq.looks else 0} (looks planned at"
        f" {planned} runs, cap {seq.max_runs}, time budget {budget}). {seq.correction}: every"
        f" look's intervals are at {seq.confidence:.1%} confidence, so that those of all"
        f" {len(seq.planned)} planned looks hold together at {seq.family:.0%}.",
    ]
    for i, look in enumerate(seq.looks):
        open_ = ", ".join(look.inconclusive) if look.inconclusive else "none"
        then = "another ABBA block" if i + 1 < len(seq.looks) else f"stopped: {seq.stopped}"
        out.append(
            f"Look {i + 1} at {look.runs} runs ({look.elapsed_s:.0f} s): headline metrics"
            f" inconclusive: {open_}; {then}."
        )
    return out
