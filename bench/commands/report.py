"""Write a self-contained HTML report (and Markdown) from result files.

Give any mix of comparison (`compare --json`), capacity (`capacity --json`) and
memory (`memory --json`) results, and profiles (`profile --json`). It opens with an
executive summary generated from the verdicts; when baselines of a compared workload are
saved, it ends with their history. The HTML has inline SVG plots and fetches
nothing when viewed: latency CDF and HDR percentile plot per architecture,
throughput and latency per phase over the load pattern, latency against
throughput, and, with capacity results, the latency-throughput curve with the
SLO line and each capacity marked.

Exit codes: 0 written; 2 a file is missing, malformed or of an unknown kind.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.commands import options
from bench.report import document as report

NAME = "report"
HELP = "self-contained HTML (inline SVG) and Markdown report from result files"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", nargs="+", type=Path, help="result JSON files")
    parser.add_argument("--html", type=Path, default=None, help="write the HTML report here")
    options.markdown_out(parser)
    parser.add_argument("--title", default="Switchyard benchmark report")
    parser.add_argument(
        "--baselines",
        type=Path,
        default=None,
        help="baselines folder whose histories of the compared workloads the report draws"
        " (default: baselines/ or $SWITCHYARD_BASELINES_DIR; none there, no history)",
    )


def run(args: argparse.Namespace) -> int:
    if args.html is None and args.markdown is None:
        raise report.ReportError("nothing to write: give --html PATH and/or --markdown PATH")
    inputs = report.load_inputs(args.results)
    inputs.add_histories(args.baselines)
    # Rebuilt from the parsed arguments: main() may be called without sys.argv.
    command = " ".join(
        ["python -m bench report", *map(str, args.results)]
        + [f"--{flag} {value}" for flag, value in (("html", args.html), ("markdown", args.markdown))
           if value is not None]
    )  # fmt: skip
    report.write(inputs, args.html, args.markdown, args.title, command)
    for path in (args.html, args.markdown):
        if path is not None:
            print(f"wrote {path}")
    return 0
