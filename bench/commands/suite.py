"""Run the whole bench and write one HTML report: every pattern compared, capacity, memory.

Each step is its own `python -m bench …` process (compare, capacity, memory),
so every measurement keeps the isolation and validity rules of its command;
the suite only sequences them, shows progress and gathers their JSON.

  --quick  the smoke scenario first (every category and service, a datastore outage: a
           few seconds per run), then every pattern on the light profile, 2 runs x 8 s
           each, capacity --quick, memory 6 x 1.5 s: about 12 minutes on 2 cores.
  --full   the smoke scenario, every pattern on the medium profile, 5 runs x 20 s each,
           capacity, memory 10 x 3 s: under an hour on 2 cores.

The report (report.html, report.md) opens with the executive summary of every step.

Exit codes: 0 every step exited 0; 1 a step produced no result; 2 usage error;
otherwise the first non-zero step code, as that command's --help explains
(compare 3: an invalid run; capacity 5: an SLO not met at --peak, 6:
undetermined; memory 5: a leak). The report is written whenever at least one step produced a result.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import subprocess
import sys
import time
from pathlib import Path

import msgspec

import workload
from bench.commands import options
from bench.host import environment
from bench.report import document as report
from events.errors import SwitchyardError

NAME = "suite"
HELP = "every pattern compared, capacity and memory, into one HTML report"


class SuiteError(SwitchyardError):
    """Raised when the suite cannot start (bad options) or nothing produced a result."""


class Plan(msgspec.Struct, frozen=True):
    """What one suite mode runs."""

    profiles: tuple[str, ...]
    patterns: tuple[str, ...]
    runs: int
    duration_s: float
    capacity_quick: bool
    memory_iterations: int
    memory_duration_s: float


#: Every pattern but the smoke one, which runs first as a step of its own.
PATTERNS = tuple(p for p in workload.PATTERNS if p != "smoke")
QUICK = Plan(("light",), PATTERNS, 2, 8.0, True, 6, 1.5)
FULL = Plan(("medium",), PATTERNS, 5, 20.0, False, 10, 3.0)
#: The smoke step: its own profile and pattern, a short outage so breakers open and close.
SMOKE_ARGS = ("--profile", "smoke", "--pattern", "smoke", "--runs", "2", "--duration", "3",
              "--warmup", "0.5", "--outage", "datastore:1:0.8")  # fmt: skip


class Step(msgspec.Struct, frozen=True):
    label: str
    argv: tuple[str, ...]
    output: str


def add_arguments(parser: argparse.ArgumentParser) -> None:
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--quick", action="store_true", help="about 10 minutes")
    mode.add_argument("--full", action="store_true", help="under an hour")
    options.arch(parser)
    parser.add_argument("--profile", default=None, help="comma-separated profiles (mode default)")
    options.pattern(parser, default=None, help="comma-separated patterns (default: all)")
    options.seed(parser)
    options.scenarios(parser)
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="folder for the JSON and the report (default suite-<UTC time>)",
    )
    parser.add_argument("--no-smoke", action="store_true", help="leave out the smoke step")
    parser.add_argument("--no-capacity", action="store_true")
    parser.add_argument("--no-memory", action="store_true")


def _names(
    text: str | None, default: tuple[str, ...], known: tuple[str, ...], what: str
) -> tuple[str, ...]:
    if text is None:
        return default
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise SuiteError(f"unknown {what} {', '.join(unknown) or '(none)'}: use {', '.join(known)}")
    return names


def steps(plan: Plan, args: argparse.Namespace, out: Path) -> list[Step]:
    """The commands of the suite, in order."""
    bench = (sys.executable, "-m", "bench")
    # Every step reads the same scenarios file, named absolute.
    mine = () if args.scenarios is None else ("--scenarios", str(Path(args.scenarios).resolve()))
    todo = []
    # The smoke step runs the smoke profile of the scenarios in use; a --scenarios file
    # without one runs the shipped smoke profile (the project's own check of every path).
    has_smoke = "smoke" in workload.load_scenarios(args.scenarios).profiles
    if not args.no_smoke:
        path = out / "compare-smoke.json"
        smoke = (*bench, "compare", *SMOKE_ARGS, "--arch", args.arch, "--seed", str(args.seed),
                "--json", str(path), *(mine if has_smoke else ()))  # fmt: skip
        todo.append(Step("compare smoke (with an outage)", smoke, str(path)))
    for profile in plan.profiles:
        for pattern in plan.patterns:
            path = out / f"compare-{profile}-{pattern}.json"
            todo.append(Step(f"compare {pattern}/{profile}", (*bench, "compare",
                "--pattern", pattern, "--profile", profile, "--arch", args.arch,
                "--runs", str(plan.runs), "--max-runs", str(plan.runs),
                "--duration", repr(plan.duration_s),
                "--seed", str(args.seed), "--json", str(path), *mine), str(path)))  # fmt: skip
    if not args.no_capacity and importlib.util.find_spec("bench.commands.capacity") is not None:
        for profile in plan.profiles:
            path = out / f"capacity-{profile}.json"
            argv: tuple[str, ...] = (*bench, "capacity", "--arch", args.arch, "--profile", profile,
                    "--json", str(path), *mine)  # fmt: skip
            if plan.capacity_quick:
                argv = (*argv, "--quick")
            todo.append(Step(f"capacity {profile}", argv, str(path)))
    if not args.no_memory:
        path = out / "memory.json"
        todo.append(Step("memory", (*bench, "memory", "--arch", args.arch,
            "--iterations", str(plan.memory_iterations), "--duration",
            repr(plan.memory_duration_s), "--seed", str(args.seed), "--json", str(path), *mine),
            str(path)))  # fmt: skip
    return todo


def run(args: argparse.Namespace) -> int:
    base = QUICK if args.quick else FULL
    scenarios = workload.load_scenarios(args.scenarios)
    plan = msgspec.structs.replace(
        base,
        profiles=_names(args.profile, base.profiles, tuple(scenarios.profiles), "profile"),
        patterns=_names(args.pattern, base.patterns, PATTERNS, "pattern"),
    )
    from bench.run.runner import check_names

    archs = [a.strip() for a in args.arch.split(",") if a.strip()]
    for profile in plan.profiles:
        check_names(archs, profile, plan.patterns[0], scenarios)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    out: Path = args.out or Path(f"suite-{stamp}")
    out.mkdir(parents=True, exist_ok=True)
    todo = steps(plan, args, out)
    if args.no_capacity is False and importlib.util.find_spec("bench.commands.capacity") is None:
        print(
            "suite: capacity skipped: bench/commands/capacity.py is not installed", file=sys.stderr
        )
    began = time.monotonic()
    codes: list[int] = []
    produced: list[Path] = []
    for i, step in enumerate(todo):
        elapsed = time.monotonic() - began
        left = f", ~{elapsed / i * (len(todo) - i):.0f} s left" if i else ""
        print(f"[suite {i + 1}/{len(todo)}] {step.label} | elapsed {elapsed:.0f} s{left}",
              file=sys.stderr, flush=True)  # fmt: skip
        code = subprocess.run(step.argv, check=False, stdout=subprocess.DEVNULL).returncode
        codes.append(code)
        if Path(step.output).exists():
            produced.append(Path(step.output))
        else:
            print(f"[suite] {step.label}: no result (exit {code})", file=sys.stderr, flush=True)
    if not produced:
        raise SuiteError("no step produced a result")
    inputs = report.load_inputs(produced)
    inputs.add_histories()
    html = out / "report.html"
    mode = "quick" if args.quick else "full"
    command = " ".join(environment.command_line())
    report.write(inputs, html, out / "report.md", f"Switchyard suite ({mode})", command)
    print(f"suite: {len(produced)}/{len(todo)} steps gave results in"
          f" {time.monotonic() - began:.0f} s; report {html}")  # fmt: skip
    for step, code in zip(todo, codes, strict=True):
        print(f"  {step.label:<28} exit {code}")
    if len(produced) < len(todo):
        return 1
    return next((c for c in codes if c != 0), 0)
