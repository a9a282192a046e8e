"""A trace as the open-loop :class:`~workload.schedule.Schedule` the bench replays.

The schedule's times, subjects, sizes, priorities (and payloads, when the trace
has them) are the transformed trace's. Its subject table is the trace's own;
an event without a category gets one from the scenarios' ``[categories]``
prefixes. Phases are the trace's phase marks, or ``windows`` equal slices named
``w01``, ``w02``...; a phase's rate is what the trace holds in it (there is no
other intended rate). The profile keeps its service count but takes the
trace's mean rate, median payload size and duration, so services sized from it
(``build_services(..., schedule=...)``) fit the trace. The hash covers the
trace's hash, the transform and the resulting arrays.
"""

from __future__ import annotations

import msgspec
import numpy as np
import numpy.typing as npt

from events.errors import ConfigError
from workload.config import CategoryMap, Profile, Scenarios, load_scenarios
from workload.patterns import Phase
from workload.schedule import Schedule, TraceOrigin, hash_header, hashed_arrays, schedule_hash
from workload.traces.format import PhaseMark
from workload.traces.trace import ABSENT, CATEGORIES, Trace, freeze
from workload.traces.transforms import Transform, apply

DEFAULT_WINDOWS = 10
#: Events without a priority replay with the Event default.
DEFAULT_PRIORITY = 1


def subject_categories(subjects: tuple[str, ...], categories: CategoryMap) -> npt.NDArray[np.int8]:
    """The category index of each subject under the ``[categories]`` prefixes."""
    position = {c: i for i, c in enumerate(CATEGORIES)}
    return np.asarray([position[categories.category_of(s)] for s in subjects], dtype=np.int8)


def event_categories(trace: Trace, categories: CategoryMap) -> npt.NDArray[np.int8]:
    """Each event's category index: its own, else its subject prefix's."""
    own = trace.category_idx
    missing = own == ABSENT
    if not missing.any():
        return own
    by_subject = subject_categories(trace.subjects, categories)
    return np.where(missing, by_subject[trace.subject_idx], own).astype(np.int8)


def window_phases(
    t_ns: npt.NDArray[np.int64], duration_ns: int, marks: tuple[PhaseMark, ...], windows: int
) -> tuple[tuple[Phase, ...], npt.NDArray[np.int16]]:
    """Phases from ``marks`` (or ``windows`` equal slices) and each event's phase index."""
    if windows < 1:
        raise ConfigError(f"windows must be >= 1, got {windows}")
    usable = _distinct(marks, duration_ns)
    if usable:
        names = [m.name for m in usable]
        starts = [m.start_ns for m in usable]
    else:
        width = len(str(windows))
        names = [f"w{i:0{max(2, width)}d}" for i in range(1, windows + 1)]
        starts = [duration_ns * i // windows for i in range(windows)]
    ends = [*starts[1:], duration_ns]
    phase_idx = (np.searchsorted(np.asarray(starts), t_ns, side="right") - 1).astype(np.int16)
    counts = np.bincount(phase_idx, minlength=len(starts)).tolist()
    phases = []
    for name, start, end, count in zip(names, starts, ends, counts, strict=True):
        span_s = (end - start) / 1e9
        rate = count / span_s if span_s > 0 else 0.0
        phases.append(Phase(name, start / 1e9, span_s, rate, rate))
    return tuple(phases), phase_idx


def _distinct(marks: tuple[PhaseMark, ...], duration_ns: int) -> list[PhaseMark]:
    # A compressed replay can round two marks onto one instant: the later one wins.
    out: list[PhaseMark] = []
    for mark in marks:
        if mark.start_ns >= duration_ns:
            break
        if out and out[-1].start_ns >= mark.start_ns:
            out[-1] = PhaseMark(mark.name, out[-1].start_ns)
        else:
            out.append(mark)
    return out


def trace_schedule(
    trace: Trace,
    *,
    profile: str | Profile = "medium",
    transform: Transform | None = None,
    windows: int = DEFAULT_WINDOWS,
    scenarios: Scenarios | None = None,
) -> Schedule:
    """The schedule replaying ``trace`` under ``transform``; same inputs, same hash."""
    scenarios = load_scenarios() if scenarios is None else scenarios
    transform = Transform() if transform is None else transform
    prof = scenarios.profile(profile) if isinstance(profile, str) else profile
    t_ns, ref, duration_ns, marks = apply(
        trace.t_ns, trace.duration_ns, trace.header.phases, transform
    )
    if not len(t_ns):
        raise ConfigError(f"{trace.path or trace.name}: the replay holds no events")
    phases, phase_idx = window_phases(t_ns, duration_ns, marks, windows)
    category_idx = event_categories(trace, scenarios.categories)[ref]
    payload_size = trace.size[ref]
    priority = trace.priority[ref]
    priority = np.where(priority == ABSENT, DEFAULT_PRIORITY, priority).astype(np.int8)
    subject_idx = trace.subject_idx[ref]
    payload_ref = None if trace.payloads is None else ref
    freeze(t_ns, subject_idx, category_idx, payload_size, phase_idx, priority, ref)
    duration_s = duration_ns / 1e9
    mix = np.bincount(category_idx, minlength=len(CATEGORIES)) / len(t_ns)
    origin = TraceOrigin(
        name=trace.name,
        hash=trace.hash,
        speed=transform.speed,
        scale=transform.scale,
        window_start_s=transform.window_start_s,
        window_end_s=trace.duration_ns / 1e9
        if transform.window_end_s is None
        else min(transform.window_end_s, trace.duration_ns / 1e9),
        seed=transform.seed,
        max_shift_s=transform.max_shift_s,
        windows=windows,
    )
    schedule = Schedule(
        seed=transform.seed,
        profile=msgspec.structs.replace(
            prof,
            payload_bytes=int(np.median(payload_size)),
            base_rate=len(t_ns) / duration_s,
            duration_s=duration_s,
        ),
        pattern=f"trace:{trace.name}",
        duration_s=duration_s,
        phases=phases,
        subjects=trace.subjects,
        categories=CATEGORIES,
        t_ns=t_ns,
        subject_idx=subject_idx,
        category_idx=category_idx,
        payload_size=payload_size,
        phase_idx=phase_idx,
        mix=tuple(float(x) for x in mix),
        trace=origin,
        priority=priority,
        payload_ref=payload_ref,
        payload_data=() if trace.payloads is None else trace.payloads,
    )
    digest = schedule_hash(hash_header(schedule), hashed_arrays(schedule))
    object.__setattr__(schedule, "hash", digest)
    return schedule
