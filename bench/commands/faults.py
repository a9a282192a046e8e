"""Inject faults into a running daemon and account for every event it accepted.

  python -m bench faults [--config PATH] [--json FILE] [--short] [--seed N] [--auth]
                         [--transport memory|jetstream] [--only kill-9,full-disk]

Each fault is one case: the daemon (``python -m daemon --config … --port 0``) runs
as a subprocess with one webhook subscriber, the witness (bench/http/witness.py,
its own process, appending every event id it is POSTed to a file); seeded load
goes through the HTTP ingress and every id answered 202 is kept; then the fault:
kill -9 mid-load (restart with the journal, replay), SIGTERM with a backlog over
20,000 (journal off), the subscriber's endpoint down, a subscriber that never
answers, the journal on a small tmpfs that fills up (skipped, with the reason,
where no tmpfs can be mounted). ``--transport jetstream`` (default config
``configs/daemon-jetstream.toml``) runs its own cases on a nats-server each case
starts: kill -9 of one of two daemons sharing the stream mid-load, and the
nats-server stopped and restarted on its port and store mid-load; there
dead-lettered also counts the dead-letter stream. Logic: bench/experiments/faults/.

With ``[auth] enabled = true`` in the config, or ``--auth``, every case runs
with authentication on: the suite adds its own principal, ``bench-faults``
(publish ``>``, monitor), with a random token it makes for the run and never
writes down, and sends it on every request; the config's other tokens stay.

Per fault one row: accepted; delivered (accepted ids the witness saw);
dead-lettered (accepted ids in the dead-letter file); journaled (accepted ids
the journal still holds, replayed at the next start); lost (accepted ids in none
of those places); dup (POSTs beyond the first per id); the daemon's exit code;
the verdict: pass iff nothing was lost and the exit code is honest (non-zero
whenever anything was lost or the daemon's final line reports a loss). Progress
goes to stderr. ``--short`` runs smaller loads and caps the drain timeout at 2 s
(what ``make test`` runs).

Exit codes: 0 every fault passed (or was skipped), 3 a fault lost events or
exited 0 over a loss, 1 a case could not run (a process did not start, or the
daemon accepted nothing, e.g. it requires a token), 2 usage.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import msgspec
import uvloop

from bench import exits
from bench.commands import options
from bench.experiments.faults import config, ledger, suite

NAME = "faults"
HELP = "inject faults (kill -9, SIGTERM backlog, dead or hung subscriber, full disk); count losses"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", type=Path, default=None, help="the daemon config to start from (packaged one)"
    )
    options.json_out(parser, "the fault table")
    parser.add_argument("--short", action="store_true", help="smaller loads, drain capped at 2 s")
    options.seed(parser, "seed of the load schedule")
    parser.add_argument("--transport", choices=suite.TRANSPORTS, default="memory")
    parser.add_argument("--only", default="", help="comma-separated fault names to run")
    parser.add_argument(
        "--auth",
        action="store_true",
        help="run with [auth] on even if the config has it off (the suite makes its own token;"
        " automatic when the config enables auth)",
    )


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _print_row(row: ledger.FaultRow) -> None:
    print(ledger.line(row), flush=True)


def run(args: argparse.Namespace) -> int:
    path = args.config if args.config is not None else config.default_config(args.transport)
    only = [name.strip() for name in args.only.split(",") if name.strip()]
    chosen = suite.choose(args.transport, only)
    base = config.load_base(path)  # an unreadable config is a usage error before anything starts
    print(f"fault suite: transport {args.transport}, config {path}, seed {args.seed}"
          + (", short" if args.short else "")
          + (", auth on" if config.wants_auth(base, args.auth) else ""),
          flush=True)  # fmt: skip
    print(ledger.header(), flush=True)
    report = uvloop.run(
        suite.run_suite(
            transport=args.transport,
            chosen=chosen,
            config_path=path,
            short=args.short,
            seed=args.seed,
            progress=_progress,
            on_row=_print_row,
            auth=args.auth,
        )
    )
    for row in report.rows:
        for note in ledger.notes(row):
            print(f"  {row.fault}: {note}")
    print(f"{len(report.rows)} faults in {report.duration_s:.1f} s: " + (
        "PASS" if report.passed else "FAIL"))  # fmt: skip
    if args.json is not None:
        args.json.write_bytes(msgspec.json.encode(report))
    statuses = {row.status for row in report.rows}
    if "error" in statuses:
        return exits.EXIT_WORKER
    if "FAIL" in statuses:
        return exits.EXIT_INVALID
    return exits.EXIT_OK
