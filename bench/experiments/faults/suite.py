"""Run the fault cases of one transport in turn and build the versioned report.

Each case runs in its own directory of one temporary directory, which is
removed afterwards unless a case failed or could not run (then its path is
reported, with every process's log and file in it). A case that cannot run
(a process that does not start) becomes an ``error`` row; the others still run.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from bench.experiments.faults import cases, config, ledger
from bench.experiments.faults.trial import Trial
from bench.host import environment
from events.errors import ConfigError, SwitchyardError

TRANSPORTS = ("memory", "jetstream")


def case_names(transport: str) -> list[str]:
    """The cases of ``transport``, in the order they run; raises ConfigError for one this
    daemon cannot run."""
    if transport == "memory":
        return list(cases.MEMORY)
    if transport == "jetstream":
        raise ConfigError(
            "--transport jetstream: the daemon has no [transport] table on this branch yet"
            " (issue 14); only --transport memory can run"
        )
    raise ConfigError(f"--transport must be one of {', '.join(TRANSPORTS)}, got {transport!r}")


async def _one(name: str, trial: Trial, sizes: cases.Sizes) -> ledger.FaultRow:
    try:
        return await cases.MEMORY[name](trial, sizes)
    except (SwitchyardError, OSError) as exc:
        trial.say(f"could not run: {exc}")
        return ledger.FaultRow(
            fault=name, transport="memory", status="error", description="",
            duration_s=trial.elapsed(), reason=str(exc),
        )  # fmt: skip
    finally:
        await trial.close()


async def run_suite(
    *,
    transport: str,
    config_path: Path,
    short: bool,
    seed: int,
    only: Sequence[str],
    progress: Callable[[str], None],
    on_row: Callable[[ledger.FaultRow], None],
) -> ledger.FaultsReport:
    """Every case of ``transport`` (or those named in ``only``), one after the other."""
    names = case_names(transport)
    unknown = sorted(set(only) - set(names))
    if unknown:
        known = ", ".join(names)
        raise ConfigError(f"--only: no fault named {', '.join(unknown)} (known: {known})")
    chosen = [n for n in names if not only or n in only]
    base = config.load_base(config_path)
    sizes = cases.SHORT if short else cases.FULL
    began = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="switchyard-faults-"))
    rows: list[ledger.FaultRow] = []
    for name in chosen:
        progress(f"[{name}] starting")
        row = await _one(name, Trial(name, workdir, base, seed, progress), sizes)
        rows.append(row)
        on_row(row)
    if all(r.status in ("pass", "skip") for r in rows):
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        progress(f"kept the processes' files and logs in {workdir}")
    argv = environment.command_line()
    return ledger.FaultsReport(
        schema=ledger.FAULTS_SCHEMA,
        environment=environment.capture("uvloop", seed, "", argv),
        transport=transport,
        short=short,
        config=str(config_path),
        duration_s=time.monotonic() - began,
        rows=tuple(rows),
        passed=all(r.status in ("pass", "skip") for r in rows),
    )
