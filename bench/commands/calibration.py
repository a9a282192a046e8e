"""Check the comparison's intervals against stored runs: how often does each one miss?

From comparison files (``compare --json``) or a stored pool file
(tests/bench/analysis/data/calibration_pools.json), each architecture's runs are
resampled into many A/A comparisons (two disjoint random sets, and windows of
consecutive runs labelled ABBA), and per metric the command prints how often the
interval excluded parity (miss) and how often it gave a false better/worse verdict,
for the plain union interval (BCa with Welch on the log of the means) and for the
interval the comparison uses (widened for latency, bench/analysis/intervals.py).
Then repeated A/B comparisons (miss of the whole pools' ratio) and the adaptive
comparison replayed on A/A draws at its Pocock level (bench/analysis/calibration.py).
The target: false verdicts at most 5% on A/A for every metric.

Exit codes: 0 every metric meets the target with the interval in use; 5 one does not;
2 bad input.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import msgspec

from bench.analysis import calibration, sequential
from bench.analysis.calibration import Pool, PoolFile, Rate
from bench.analysis.stats import RatioCI, ratio_ci
from bench.exits import EXIT_OK, EXIT_SLO
from bench.schema import SchemaError, load_compare

NAME = "calibration"
HELP = "how often each metric's interval misses, from resampled stored runs"
TARGET = 0.05


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", type=Path, help="compare --json files or a pool file")
    parser.add_argument("--runs", type=int, default=5, help="runs per side of each comparison")
    parser.add_argument("--draws", type=int, default=200, help="shuffled draws per pool")
    parser.add_argument("--seed", type=int, default=0, help="seed of the draws")


def union(metric: str, a: Sequence[float], b: Sequence[float], conf: float, seed: int) -> RatioCI:
    """The comparison's interval before the calibration widened it (every metric alike)."""
    return ratio_ci(a, b, confidence=conf, seed=seed)


def load_pools(paths: Sequence[Path]) -> list[Pool]:
    pools: list[Pool] = []
    for path in paths:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise SchemaError(f"{path}: cannot read: {exc.strerror}") from None
        head = msgspec.json.decode(data)
        if isinstance(head, dict) and head.get("schema") == calibration.CALIBRATION_SCHEMA:
            pools += msgspec.json.decode(data, type=PoolFile).pools
        else:
            pools += calibration.pools_from(load_compare(path), str(path))
    return pools


def _row(r: Rate) -> str:
    return f"miss {r.miss_rate:6.1%} false {r.false_rate:6.1%}"


def run(args: argparse.Namespace) -> int:
    pools = load_pools(args.files)
    metrics = list(dict.fromkeys(m for p in pools for m in p.values))
    failing: list[str] = []
    print(f"A/A comparisons of {args.runs} runs a side from {len(pools)} pools:")
    print(f"{'metric':<18} {'scheme':<12} {'n':>5}  {'union (before)':<28} {'in use':<28}")
    for metric in metrics:
        for scheme in ("shuffled", "interleaved"):
            before, now = (
                calibration.check(
                    pools, metric, args.runs, scheme=scheme, draws=args.draws, seed=args.seed,
                    interval=interval,
                )
                for interval in (union, calibration.default_interval)
            )  # fmt: skip
            if now.comparisons == 0:
                continue
            print(f"{metric:<18} {scheme:<12} {now.comparisons:>5}  {_row(before):<28} {_row(now)}")
            if now.false_rate > TARGET:
                failing.append(f"{metric} ({scheme})")
    print("Repeated A/B comparisons (miss: the interval excludes the whole pools' ratio):")
    for i in range(0, len(pools) - 1, 2):
        a, b = pools[i], pools[i + 1]
        print(f"  {b.arch}/{a.arch} from {a.source}:")
        for metric in metrics:
            r = calibration.check_ab(a, b, metric, args.runs, draws=args.draws, seed=args.seed)
            if r.comparisons:
                print(f"    {metric:<18} n {r.comparisons:>4}: miss {r.miss_rate:.1%},"
                      f" wrong direction {r.false_rate:.1%}")  # fmt: skip
    n = args.runs
    for runs in ((n,), (n, n + 2), (n, n + 2, n + 4)):
        plan = sequential.plan(runs[0], runs[-1], len(runs) - 1)
        rates = calibration.check_sequential(pools, plan, draws=args.draws // 2, seed=args.seed)
        shown = ", ".join(f"{r.metric} {r.false_rate:.1%}" for r in rates)
        print(f"Adaptive A/A, looks at {plan.runs} ({plan.confidence:.2%} each): false verdict"
              f" at any look: {shown}")  # fmt: skip
        failing += [f"{r.metric} (looks {plan.runs})" for r in rates if r.false_rate > TARGET]
    if failing:
        print(f"Above the {TARGET:.0%} target: {', '.join(failing)}")
        return EXIT_SLO
    print(f"Every metric's false-verdict rate is within the {TARGET:.0%} target.")
    return EXIT_OK
