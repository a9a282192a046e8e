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
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from bench.experiments.faults import cases, config, jetstream_cases, ledger
from bench.experiments.faults.trial import Trial
from bench.host import environment
from events.errors import ConfigError, SwitchyardError

TRANSPORTS = ("memory", "jetstream")

AnyCase = Callable[[Trial, Any], Awaitable[ledger.FaultRow]]

#: The cases of each transport the suite can run, in the order they run.
CASES: dict[str, dict[str, AnyCase]] = {
    "memory": dict(cases.MEMORY),
    "jetstream": dict(jetstream_cases.JETSTREAM),
}

#: Each transport's sizes: (full, ``--short``).
SIZES: dict[str, tuple[Any, Any]] = {
    "memory": (cases.FULL, cases.SHORT),
    "jetstream": (jetstream_cases.FULL, jetstream_cases.SHORT),
}


def case_names(transport: str) -> list[str]:
    """The cases of ``transport``, in the order they run; raises ConfigError for a transport
    the suite does not know."""
    if transport in CASES:
        return list(CASES[transport])
    raise ConfigError(f"--transport must be one of {', '.join(TRANSPORTS)}, got {transport!r}")


async def _one(transport: str, name: str, trial: Trial, sizes: Any) -> ledger.FaultRow:
    try:
        return await CASES[transport][name](trial, sizes)
    except (SwitchyardError, OSError) as exc:
        trial.say(f"could not run: {exc}")
        return ledger.FaultRow(
            fault=name, transport=transport, status="error", description="",
            duration_s=trial.elapsed(), reason=str(exc),
        )  # fmt: skip
    finally:
        await trial.close()


def choose(transport: str, only: Sequence[str]) -> list[str]:
    """The cases to run: every case of ``transport``, or those named in ``only``; raises
    ConfigError for a transport or name the suite does not know."""
    names = case_names(transport)
    unknown = sorted(set(only) - set(names))
    if unknown:
        known = ", ".join(names)
        raise ConfigError(f"--only: no fault named {', '.join(unknown)} (known: {known})")
    return [n for n in names if not only or n in only]


async def run_suite(
    *,
    transport: str,
    chosen: Sequence[str],
    config_path: Path,
    short: bool,
    seed: int,
    progress: Callable[[str], None],
    on_row: Callable[[ledger.FaultRow], None],
    auth: bool = False,
) -> ledger.FaultsReport:
    """The ``chosen`` cases of ``transport`` (see :func:`choose`), one after the other; with
    ``auth`` (or when the config enables it) every case runs with ``[auth]`` on and drives
    the daemon with a token the suite makes for its own principal."""
    base = config.load_base(config_path)
    token = config.new_token() if config.wants_auth(base, auth) else None
    if token is not None:
        progress(f"auth on: the suite publishes and reads status as {config.PRINCIPAL!r}")
    full, smaller = SIZES[transport]
    sizes = smaller if short else full
    began = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="switchyard-faults-"))
    rows: list[ledger.FaultRow] = []
    for name in chosen:
        progress(f"[{name}] starting")
        row = await _one(transport, name, Trial(name, workdir, base, seed, progress, token), sizes)
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
        auth=token is not None,
    )
