"""One run under a profiler: py-spy sampling when it can attach, cProfile when it cannot.

The run is the ordinary worker (``python -m bench.commands.run``) in its own process,
so the profile shows what a measured run does, set-up and harness included (the
table names them; the measured window is most of a run of a few seconds or more).
py-spy samples the process from outside (``--nonblocking``: it does not pause the
interpreter to read it, at the price of an occasionally torn stack), so the run's own
figures stay close to an unprofiled run's. When py-spy is missing or cannot attach
(no ptrace permission in a container, say), cProfile runs instead, with a note: it
traces every call, slows the run several times over (the run is then usually INVALID
for capacity: the generator falls behind), and its flame graph is rebuilt from the
call graph, an approximation; its self-time table is exact.
"""

from __future__ import annotations

import pstats
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import msgspec

from bench.analysis import stacks
from bench.analysis.stacks import FunctionTime
from bench.host import environment
from bench.run import runner
from bench.schema import Environment, RunResult, RunSpec, SchemaError, decode_run
from events.errors import SwitchyardError

PROFILE_SCHEMA = "switchyard.profile/1"
Profiler = Literal["py-spy", "cProfile"]


class ProfileError(SwitchyardError):
    """Raised when the profiled run produced no result or no profile."""


class ProfileResult(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What ``bench profile`` measured: the profiler, the top functions, where the files are.

    ``unit`` is ``samples`` (py-spy, at ``rate_hz``) or ``µs`` (cProfile's own time).
    ``flame_svg`` and ``stacks_file`` are file names in the folder of ``profile.json``.
    """

    schema: str
    environment: Environment
    spec: RunSpec
    profiler: Profiler
    note: str
    rate_hz: int | None
    unit: str
    total: float
    top: tuple[FunctionTime, ...]
    flame_svg: str
    stacks_file: str
    run_valid: bool
    run_reasons: tuple[str, ...]
    throughput_dps: float
    command: tuple[str, ...]


def py_spy() -> str | None:
    """The py-spy executable: beside this interpreter (a virtualenv) or on PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    if beside.exists():
        return str(beside)
    return shutil.which("py-spy")


def _run_result(out: Path) -> RunResult:
    try:
        return decode_run(out.read_bytes(), "profiled run")
    except (OSError, SchemaError) as exc:
        raise ProfileError(f"the profiled run gave no result: {exc}") from None


def _with_py_spy(
    exe: str, worker: list[str], stacks_file: Path, rate: int, timeout_s: float
) -> str | None:
    """Profile with py-spy; None when done, else why it could not."""
    cmd = [exe, "record", "--format", "raw", "--nolineno", "--nonblocking",
           "--rate", str(rate), "--output", str(stacks_file), "--", *worker]  # fmt: skip
    try:
        proc = subprocess.run(cmd, env=runner.worker_env(), capture_output=True, text=True,
                              timeout=timeout_s, check=False)  # fmt: skip
    except subprocess.TimeoutExpired:
        return f"py-spy did not finish within {timeout_s:.0f} s"
    if stacks_file.exists() and stacks_file.stat().st_size > 0:
        return None
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    return lines[-1] if lines else f"py-spy exited {proc.returncode} without a profile"


def _with_cprofile(worker: list[str], prof: Path, timeout_s: float) -> None:
    cmd = [sys.executable, "-m", "cProfile", "-o", str(prof), *worker[1:]]
    try:
        subprocess.run(cmd, env=runner.worker_env(), capture_output=True, text=True,
                       timeout=timeout_s, check=False)  # fmt: skip
    except subprocess.TimeoutExpired:
        raise ProfileError(f"the cProfile run did not finish within {timeout_s:.0f} s") from None
    if not prof.exists():
        raise ProfileError("the cProfile run wrote no profile")


#: Draws collapsed stacks as an SVG flame graph: (stacks, title, note) -> SVG text.
Renderer = Callable[[dict[tuple[str, ...], float], str, str], str]


def profile(
    spec: RunSpec,
    out_dir: Path,
    render: Renderer,
    *,
    profiler: Literal["auto", "py-spy", "cProfile"] = "auto",
    rate: int = 250,
    top: int = 20,
    timeout_s: float = 600.0,
    argv: tuple[str, ...] = (),
) -> ProfileResult:
    """Profile one run of ``spec``; write the stacks and the flame graph (drawn by
    ``render``) into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stacks_file = out_dir / "stacks.txt"
    svg_file = out_dir / "flame.svg"
    with tempfile.TemporaryDirectory(prefix="switchyard-profile-") as tmp:
        spec_file, run_file = Path(tmp) / "spec.json", Path(tmp) / "run.json"
        spec_file.write_bytes(msgspec.json.encode(spec))
        worker = [sys.executable, *runner.worker_command(spec_file, run_file)]
        exe = py_spy() if profiler != "cProfile" else None
        why = None
        if exe is None and profiler == "py-spy":
            raise ProfileError("py-spy is not installed: pip install py-spy (or --profiler auto)")
        if exe is not None:
            why = _with_py_spy(exe, worker, stacks_file, rate, timeout_s)
            if why is not None and profiler == "py-spy":
                raise ProfileError(f"py-spy could not profile the run: {why}")
        if exe is None or why is not None:
            if why is not None:
                reason = f"cProfile instead of py-spy, which could not profile the run: {why}"
            elif profiler == "cProfile":
                reason = "cProfile, as asked"
            else:
                reason = "cProfile instead of py-spy, which is not installed (pip install py-spy)"
            _with_cprofile(worker, Path(tmp) / "run.prof", timeout_s)
            raw = pstats.Stats(str(Path(tmp) / "run.prof")).stats  # type: ignore[attr-defined]
            collapsed = stacks.from_pstats(raw)
            stacks_file.write_text(stacks.to_collapsed(collapsed))
            table = stacks.exact_self(stacks.pstats_rows(raw), top)
            used: Profiler = "cProfile"
            note = (
                f"{reason}. cProfile traces every call, times wall-clock (the loop's waits count"
                " as its own time) and slows the run several times over; the flame graph is"
                " rebuilt from its call graph (an approximation), the self-time table is exact"
            )
            unit, hz = "µs", None
        else:
            collapsed = stacks.parse_collapsed(stacks_file.read_text())
            table = stacks.top_self(collapsed, top)
            used, note, unit, hz = (
                "py-spy",
                f"py-spy sampling at {rate} Hz, non-blocking",
                "samples",
                rate,
            )
        result = _run_result(run_file)
    title = f"{spec.arch} {spec.profile}/{spec.pattern}: {used} flame graph"
    svg_file.write_text(render(collapsed, title, note if used == "cProfile" else ""))
    return ProfileResult(
        schema=PROFILE_SCHEMA,
        environment=environment.capture(spec.loop, spec.seed, result.schedule_hash, argv),
        spec=spec, profiler=used, note=note, rate_hz=hz, unit=unit,
        total=float(sum(collapsed.values())), top=table, flame_svg=svg_file.name,
        stacks_file=stacks_file.name, run_valid=result.valid, run_reasons=result.reasons,
        throughput_dps=result.throughput_dps, command=argv,
    )  # fmt: skip


def decode_profile(data: bytes | str, where: str = "profile") -> ProfileResult:
    """Validate and decode a :class:`ProfileResult`."""
    try:
        result = msgspec.json.decode(data, type=ProfileResult)
    except msgspec.DecodeError as exc:
        raise SchemaError(f"{where}: {exc}") from None
    if result.schema != PROFILE_SCHEMA:
        raise SchemaError(f"{where}: schema {result.schema!r} is not {PROFILE_SCHEMA!r}")
    return result


def encode(result: ProfileResult) -> bytes:
    return msgspec.json.encode(result)
