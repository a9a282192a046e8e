"""Save, list, show and check regression baselines (baselines/NAME.json).

  python -m bench baseline save NAME --from RESULTS.json
  python -m bench baseline save NAME [--pattern spike --profile medium --runs 5 ...]
      (without --from, runs `python -m bench compare` first and saves its result)
  python -m bench baseline list
  python -m bench baseline show NAME
  python -m bench baseline check NAME --from RESULTS.json [--allow-mismatch]
  python -m bench baseline history NAME [--metric response_p99] [--svg PATH]
      (the metric over every saved version of NAME: date, git sha, mean with its 95%
      interval per architecture; and an SVG trend, by default
      baselines/history/NAME/METRIC.svg)

`check` judges every metric of every architecture against the same architecture
in the baseline (ratio now/baseline, 95% bootstrap CI, noise band of the current
comparison). A different environment fingerprint (CPU, Python, uvloop, loop) is
refused unless --allow-mismatch; a different git sha is fine.

Exit codes: 0 done, no regression; 2 usage, missing/invalid baseline or
environment mismatch; 4 a confirmed regression (a metric's CI wholly worse).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import exits
from bench.analysis import baseline, history
from bench.commands import options
from bench.report import history as report_history
from bench.report import summary
from bench.schema import CompareResult, Ratio, load_compare

NAME = "baseline"
HELP = "save named baselines and check results against them (exit 4 on a regression)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("save", "list", "show", "check", "history"))
    parser.add_argument("name", nargs="?", default=None, help="baseline name")
    parser.add_argument(
        "--from",
        dest="source",
        type=Path,
        default=None,
        help="a comparison's JSON (compare --json)",
    )
    parser.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="baselines folder (default: baselines/ or $SWITCHYARD_BASELINES_DIR)",
    )
    parser.add_argument(
        "--allow-mismatch",
        action="store_true",
        help="check: judge even on another environment (warn instead of refusing)",
    )
    parser.add_argument(
        "--metric",
        default="response_p99",
        help="history: the compared metric to follow (e.g. throughput, response_p95, recovery)",
    )
    parser.add_argument(
        "--svg", type=Path, default=None, help="history: write the trend here (SVG)"
    )
    group = parser.add_argument_group("save without --from: the comparison to run")
    options.pattern(group, default="spike")
    options.scenarios(group)
    options.profile(group)
    options.arch(group)
    options.runs(group, None, "measured runs per architecture (compare's default)")
    options.duration(group, help="seconds per measured run (compare's default)")
    options.seed(group, "seed (compare's default)", default=None)


def _need_name(args: argparse.Namespace) -> str:
    if not args.name:
        raise baseline.BaselineError(f"baseline {args.action} needs a NAME")
    return str(args.name)


def _measure(args: argparse.Namespace) -> CompareResult:
    with tempfile.TemporaryDirectory(prefix="switchyard-baseline-") as tmp:
        out = Path(tmp) / "compare.json"
        cmd = [sys.executable, "-m", "bench", "compare", "--pattern", args.pattern,
               "--profile", args.profile, "--arch", args.arch, "--json", str(out)]  # fmt: skip
        for flag, value in (("--runs", args.runs), ("--duration", args.duration),
                            ("--seed", args.seed), ("--scenarios", args.scenarios)):  # fmt: skip
            if value is not None:
                cmd += [flag, str(value)]
        print("baseline: running " + " ".join(cmd[1:]), file=sys.stderr, flush=True)
        code = subprocess.run(cmd, check=False).returncode
        if not out.exists():
            raise baseline.BaselineError(f"compare exited {code} without a result")
        return load_compare(out)


def _print_verdicts(verdicts: tuple[Ratio, ...], warnings: list[str]) -> None:
    print(f"{'metric':<18} {'comparison':<34} {'ratio':>7} {'95% CI':>15}  verdict")
    for v in verdicts:
        ci = "n/a" if v.low is None or v.high is None else f"{v.low:.3f}-{v.high:.3f}"
        ratio = "n/a" if v.ratio is None else f"{v.ratio:.3f}"
        print(f"{v.metric:<18} {v.arch + '/' + v.baseline:<34} {ratio:>7} {ci:>15}  {v.verdict}")
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)


def _history(name: str, args: argparse.Namespace) -> int:
    found = history.history(name, args.metric, args.dir)
    unit = found.unit
    print(f"{found.metric} ({unit}) over {len(found.versions)} saved versions of baseline {name}")
    print(f"{'#':>3}  {'saved (UTC)':<25} {'git':<10} {'architecture':<14} {'mean':>10}  95% CI")
    for row in report_history.rows(found):
        index, saved, sha, arch, mean, ci, _ = row
        print(f"{index:>3}  {saved:<25} {sha:<10} {arch:<14} {mean:>10}  {ci}")
    for reason in found.skipped:
        print(f"skipped: {reason}", file=sys.stderr)
    svg = args.svg or baseline.history_dir(name, args.dir) / f"{found.metric}.svg"
    report_history.write_svg(found, svg)
    print(f"wrote {svg}")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.action == "list":
        for name in baseline.names(args.dir):
            record = baseline.load(name, args.dir)
            s = record.comparison.settings
            print(f"{name}: {', '.join(s.archs)} {s.profile}/{s.pattern}, {s.runs} runs,"
                  f" saved {record.saved_at}, git {record.git_sha or 'unknown'}")  # fmt: skip
        return 0
    name = _need_name(args)
    if args.action == "show":
        record = baseline.load(name, args.dir)
        print(f"baseline {name}: saved {record.saved_at}, git {record.git_sha or 'unknown'}")
        print(f"fingerprint: {record.fingerprint}")
        print(summary.markdown(record.comparison))
        return 0
    if args.action == "history":
        return _history(name, args)
    if args.action == "save":
        result = load_compare(args.source) if args.source is not None else _measure(args)
        path = baseline.save(name, result, args.dir)
        print(f"saved baseline {name} to {path}")
        return 0
    if args.source is None:
        raise baseline.BaselineError("baseline check needs --from RESULTS.json")
    verdicts, regression, warnings = baseline.compare_to_baseline(
        load_compare(args.source), name, where=args.dir, allow_mismatch=args.allow_mismatch
    )
    _print_verdicts(verdicts, warnings)
    if regression:
        for line in baseline.regressions(verdicts):
            print(f"REGRESSION: {line}", file=sys.stderr)
        return exits.EXIT_REGRESSION
    print(f"no regression against baseline {name}")
    return 0
