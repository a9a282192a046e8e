"""What a run offers: a pattern or a trace, under a scenarios file, and the services it sizes.

A command resolves its options once, in the parent (:func:`resolve`): the
scenarios file is loaded (its errors name file, table and key), a trace is read
and checked (format and hash), the replay options are validated, and the
RunSpec gets absolute paths, the trace's name and hash and the replay options
(:func:`spec_fields`). Each run worker then rebuilds the same schedule from its
RunSpec (:func:`prepare`): it reads the trace itself and refuses one whose hash
is not the one the parent saw, so every run of a comparison replays the same
events. A replay lasts as long as the transformed trace; a run's ``duration_s``,
when set, cuts it after that many seconds (warm-ups do), as a narrower
``--window`` would.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

import workload
from bench.run import runner, services
from bench.schema import RunSpec, TraceReplay
from events.errors import ConfigError
from workload.traces import Trace, Transform, read_trace, trace_schedule, transform_from
from workload.traces.options import REPLAY_DEFAULTS

#: How a trace replay names itself in RunSpec.pattern and in the tables.
TRACE_PREFIX = "trace:"


def absolute(path: str | Path | None) -> str | None:
    """``path`` made absolute (run workers may not share the caller's notion of '.')."""
    return None if path is None else str(Path(path).expanduser().resolve())


def replay_of(trace: Trace, path: str | Path, transform: Transform, windows: int) -> TraceReplay:
    """The RunSpec's record of ``trace`` replayed under ``transform``."""
    return TraceReplay(
        path=str(absolute(path)),
        name=trace.name,
        hash=trace.hash,
        speed=transform.speed,
        scale=transform.scale,
        window_start_s=transform.window_start_s,
        window_end_s=transform.window_end_s,
        max_shift_s=transform.max_shift_s,
        windows=windows,
    )


def describe(replay: TraceReplay) -> str:
    """One line: which trace, its hash, and how it was replayed."""
    end = "end" if replay.window_end_s is None else f"{replay.window_end_s:g}"
    return (
        f"trace {replay.name} ({replay.hash[:12]}), speed {replay.speed:g}, scale"
        f" {replay.scale:g}, window {replay.window_start_s:g}:{end} s"
    )


def replay_seconds(replay: TraceReplay, trace_duration_ns: int) -> float:
    """How long the replay of a trace lasting ``trace_duration_ns`` runs, in seconds."""
    end_ns = trace_duration_ns
    if replay.window_end_s is not None:
        end_ns = min(end_ns, round(replay.window_end_s * 1e9))
    span_ns = end_ns - round(replay.window_start_s * 1e9)
    return max(1, round(span_ns / replay.speed)) / 1e9


def transform_of(replay: TraceReplay, seed: int, cut_s: float | None = None) -> Transform:
    """The Transform a run applies; ``cut_s`` ends the replay after that many seconds."""
    end = replay.window_end_s
    if cut_s is not None:
        cut_end = replay.window_start_s + cut_s * replay.speed
        end = cut_end if end is None else min(end, cut_end)
    return Transform(
        speed=replay.speed,
        scale=replay.scale,
        window_start_s=replay.window_start_s,
        window_end_s=end,
        seed=seed,
        max_shift_s=replay.max_shift_s,
    )


def read_checked(replay: TraceReplay) -> Trace:
    """Read the replayed trace; :class:`ConfigError` when it changed since it was planned."""
    trace = read_trace(replay.path)
    if trace.hash != replay.hash:
        raise ConfigError(
            f"{replay.path}: the trace changed since the run was planned (hash"
            f" {trace.hash[:12]}…, planned {replay.hash[:12]}…): runs would not be comparable"
        )
    return trace


def build(
    *,
    seed: int,
    profile: str,
    pattern: str,
    duration_s: float | None,
    base_rate: float | None,
    scenarios: workload.Scenarios,
    replay: TraceReplay | None,
) -> workload.Schedule:
    """The schedule a run offers: the pattern's, or the trace's replay (read and hash-checked
    here; ``duration_s``, if shorter than the replay, cuts it)."""
    if replay is None:
        return workload.build_schedule(
            seed, profile, pattern, duration_s=duration_s, base_rate=base_rate,
            scenarios=scenarios,
        )  # fmt: skip
    trace = read_checked(replay)
    cut = duration_s
    if cut is not None and cut >= replay_seconds(replay, trace.duration_ns):
        cut = None  # the whole replay: no cut, so the schedule's hash is the replay's own
    return trace_schedule(
        trace,
        profile=profile,
        transform=transform_of(replay, seed, cut),
        windows=replay.windows,
        scenarios=scenarios,
    )


def service_specs(
    profile: str, scenarios: workload.Scenarios, schedule: workload.Schedule | None
) -> list[workload.ServiceSpec]:
    """The profile's services; sized to a trace's own subjects and rate when replaying one."""
    if schedule is not None and schedule.trace is not None:
        return workload.build_services(schedule.profile, scenarios=scenarios, schedule=schedule)
    return workload.build_services(profile, scenarios=scenarios)


@dataclass
class Offered:
    """A worker's workload, prepared before the router starts (see :func:`prepare`)."""

    spec: RunSpec
    scenarios: workload.Scenarios
    #: Seconds spent reading the trace and building its schedule (0 for a pattern).
    prepare_s: float = 0.0
    built: workload.Schedule | None = None

    def service_specs(self) -> list[workload.ServiceSpec]:
        return service_specs(self.spec.profile, self.scenarios, self.built)

    def schedule(self) -> workload.Schedule:
        """The run's schedule (a pattern's is drawn now, after the router started)."""
        if self.built is None:
            self.built = _build_spec(self.spec, self.scenarios)
        return self.built


def _build_spec(spec: RunSpec, scenarios: workload.Scenarios) -> workload.Schedule:
    return build(
        seed=spec.seed, profile=spec.profile, pattern=spec.pattern, duration_s=spec.duration_s,
        base_rate=spec.base_rate, scenarios=scenarios, replay=spec.trace,
    )  # fmt: skip


def prepare(spec: RunSpec) -> Offered:
    """Load the scenarios; for a trace, read it (hash checked) and build its schedule now,
    because its services are sized from it."""
    scenarios = workload.load_scenarios(spec.scenarios)
    if spec.trace is None:
        return Offered(spec, scenarios)
    began = time.perf_counter()
    schedule = _build_spec(spec, scenarios)
    return Offered(spec, scenarios, time.perf_counter() - began, schedule)


# --- the parent side: from a command's options -------------------------------------------


def _only_with(args: argparse.Namespace, source: str, names: dict[str, object]) -> None:
    for name, default in names.items():
        value = getattr(args, name.replace("-", "_"), default)
        if value != default:
            raise ConfigError(f"--{name} applies to {source} only")


def resolve(
    args: argparse.Namespace,
    archs: Sequence[str],
    *,
    duration_default: float | None = None,
    pattern: str | None = None,
) -> workload.Schedule:
    """Check a command's workload options before any run; complete ``args`` in place.

    Checks the architectures, profile and pattern (:func:`runner.check_names`),
    the scenarios file, the trace and replay options, and a ``--services``
    factory (tried on every service). Sets ``args.scenarios`` (absolute or
    None) and ``args.replay`` (a :class:`TraceReplay` or None). With
    ``--trace``, ``args.pattern`` becomes ``trace:<name>`` and
    ``args.duration`` the replay's seconds, so settings and tables say what
    ran; ``--base-rate`` and a ``--duration`` other than ``duration_default``
    are refused (the trace sets rate and length: use ``--scale`` and
    ``--window``). Without it the replay options are refused. Returns the
    schedule a run will build, so a bad rate, duration or window fails here.
    ``pattern`` stands for ``args.pattern`` in a command without ``--pattern``.
    """
    args.scenarios = absolute(getattr(args, "scenarios", None))
    scenarios = workload.load_scenarios(args.scenarios)
    trace_path = getattr(args, "trace", None)
    args.replay = None
    if trace_path is None:
        _only_with(args, "--trace", REPLAY_DEFAULTS)
        chosen_pattern = args.pattern if pattern is None else pattern
        runner.check_names(archs, args.profile, chosen_pattern, scenarios)
        schedule = workload.build_schedule(
            args.seed, args.profile, chosen_pattern, duration_s=getattr(args, "duration", None),
            base_rate=getattr(args, "base_rate", None), scenarios=scenarios,
        )  # fmt: skip
    else:
        _only_with(args, "--pattern", {"base-rate": None, "duration": duration_default})
        trace = read_trace(trace_path)
        runner.check_names(archs, args.profile, TRACE_PREFIX + trace.name, scenarios)
        transform = transform_from(args)
        args.replay = replay_of(trace, trace_path, transform, args.windows)
        schedule = trace_schedule(
            trace, profile=args.profile, transform=transform, windows=args.windows,
            scenarios=scenarios,
        )  # fmt: skip
        args.pattern = TRACE_PREFIX + trace.name
        args.duration = schedule.duration_s
    chosen = getattr(args, "services", "sim")
    services.check(chosen, service_specs(args.profile, scenarios, schedule), args.seed)
    return schedule


class SpecFields(TypedDict):
    """The RunSpec fields :func:`resolve` settles."""

    scenarios: str | None
    trace: TraceReplay | None


def spec_fields(args: argparse.Namespace) -> SpecFields:
    """``RunSpec(..., **spec_fields(args))``: the scenarios file and the trace replay."""
    return SpecFields(scenarios=args.scenarios, trace=args.replay)
