"""The seeded schedule: determinism, statistics of arrivals and mix, events, files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from events import Category, ConfigError
from workload import (
    PATTERNS,
    Phase,
    Schedule,
    ScheduleFileError,
    build_schedule,
    read_schedule,
    write_schedule,
)

P_MIN = 1e-4  # fixed seeds make these deterministic; the bound says "consistent with"


def cumulative(phases: tuple[Phase, ...], t: float) -> float:
    """Integral of the piecewise-linear rate from 0 to t (independent of the generator)."""
    total = 0.0
    for p in phases:
        if t <= p.start_s:
            break
        s = min(t, p.end_s) - p.start_s
        slope = (p.rate_end - p.rate_start) / p.duration_s
        total += p.rate_start * s + 0.5 * slope * s * s
    return total


def test_same_seed_same_hash_other_seed_other_hash() -> None:
    """A schedule is a pure function of its inputs; the seed changes it."""
    a = build_schedule(7, "light", "spike", duration_s=5.0)
    b = build_schedule(7, "light", "spike", duration_s=5.0)
    c = build_schedule(8, "light", "spike", duration_s=5.0)
    assert (a.hash, True, True) == (
        b.hash,
        a.hash != c.hash,
        bool(np.array_equal(a.t_ns, b.t_ns)),
    )


def test_parameters_enter_the_hash() -> None:
    """Same seed but another pattern or base rate gives another hash."""
    hashes = {
        build_schedule(7, "light", "steady", duration_s=5.0).hash,
        build_schedule(7, "light", "burst", duration_s=5.0).hash,
        build_schedule(7, "light", "steady", duration_s=5.0, base_rate=101.0).hash,
    }
    assert len(hashes) == 3


def test_arrays_are_aligned_typed_sorted_and_read_only() -> None:
    """Arrays share one length, have the documented dtypes, t_ns is sorted and in the run."""
    s = build_schedule(3, "medium", "ramp", duration_s=4.0)
    arrays = (s.t_ns, s.subject_idx, s.category_idx, s.payload_size, s.phase_idx)
    assert (
        [np.int64, np.int32, np.int8, np.int32, np.int16],
        {len(s)},
        True,
        True,
        [False] * 5,
    ) == (
        [a.dtype.type for a in arrays],
        {len(a) for a in arrays},
        bool(np.all(np.diff(s.t_ns) >= 0)),
        int(s.t_ns[0]) >= 0 and int(s.t_ns[-1]) <= 4_000_000_000,
        [a.flags.writeable for a in arrays],
    )


def test_subjects_belong_to_their_category() -> None:
    """Each event's subject is one of its category's subjects."""
    s = build_schedule(3, "medium", "steady", duration_s=2.0)
    prefix = {
        Category.FILESYSTEM: "fs.",
        Category.DATABASE: "db.",
        Category.EXTERNAL: "ext.",
        Category.MCP: "mcp.",
        Category.SERVICE: "svc.",
        Category.SYSTEM: "sys.",
    }
    bad = [
        i
        for i in range(len(s))
        if not s.subjects[s.subject_idx[i]].startswith(prefix[s.categories[s.category_idx[i]]])
    ]
    assert bad == []


def test_obtained_mix_matches_the_weights() -> None:
    """Chi-square of category counts against the weights does not reject (large schedule)."""
    s = build_schedule(11, "medium", "steady", duration_s=100.0)
    observed = np.bincount(s.category_idx, minlength=6)
    expected = np.asarray(s.mix) * len(s)
    result = stats.chisquare(observed, expected)
    assert bool(result.pvalue > P_MIN), result


@pytest.mark.parametrize("pattern", PATTERNS)
def test_events_per_window_follow_the_rate_function(pattern: str) -> None:
    """Counts per window are Poisson around the integral of the rate (chi-square bound)."""
    s = build_schedule(5, "light", pattern, duration_s=40.0, base_rate=400.0)
    edges = np.linspace(0.0, s.duration_s, 81)
    expected = np.diff([cumulative(s.phases, float(t)) for t in edges])
    observed = np.histogram(s.t_ns / 1e9, bins=edges)[0]
    chi2 = float(np.sum((observed - expected) ** 2 / expected))
    pvalue = float(stats.chi2.sf(chi2, df=len(expected)))
    assert pvalue > P_MIN, (pattern, chi2, pvalue)


def test_spike_phases_carry_k_times_the_baseline_events() -> None:
    """Each spike phase's events per second is k x the baseline's, within Poisson bounds."""
    s = build_schedule(9, "medium", "spike", duration_s=60.0)
    counts = s.phase_counts()
    rates = {p.name: c / p.duration_s for p, c in zip(s.phases, counts.tolist(), strict=True)}
    base = s.phases[0].rate_start
    k = s.phases[1].rate_start / base
    outside = []
    for p, c in zip(s.phases, counts.tolist(), strict=True):
        mean = p.expected_events
        if abs(c - mean) > 4.5 * np.sqrt(mean):
            outside.append(p.name)
    assert ([], pytest.approx(k, rel=0.05)) == (outside, rates["spike-2"] / rates["baseline-2"])


def test_phase_index_matches_phase_time_ranges() -> None:
    """Every event's phase_idx names the phase whose interval holds its offset."""
    s = build_schedule(2, "light", "burst", duration_s=10.0)
    starts = np.array([round(p.start_s * 1e9) for p in s.phases])
    located = np.searchsorted(starts, s.t_ns, side="right") - 1
    at_border = np.isin(s.t_ns, starts)
    assert bool(np.all((located == s.phase_idx) | at_border))


def test_events_carry_the_schedule() -> None:
    """events() gives one Event per row with seq, offset, subject and a sized, shared payload."""
    s = build_schedule(4, "light", "steady", duration_s=2.0)
    events = s.events(source="gen")
    sizes = {len(e.payload) for e in events}
    by_size = {len(e.payload): e.payload for e in events}
    shared = all(e.payload is by_size[len(e.payload)] for e in events)
    e = events[10]
    assert (
        len(s),
        ("10", 10, int(s.t_ns[10]), s.subjects[s.subject_idx[10]], "gen"),
        int(s.payload_size[10]),
        True,
        set(s.payload_size.tolist()),
    ) == (
        len(events),
        (e.id, e.seq, e.t_intended_ns, e.subject, e.source),
        len(e.payload),
        shared,
        sizes,
    )


def test_payload_sizes_centre_on_the_profile_size() -> None:
    """The median payload size is the profile's payload size."""
    s = build_schedule(4, "heavy", "steady", duration_s=5.0)
    assert s.profile.payload_bytes == int(np.median(s.payload_size))


def test_rate_at_is_the_pattern() -> None:
    """rate_at gives the phase rate inside the run and zero outside."""
    s = build_schedule(1, "medium", "spike", duration_s=30.0)
    spike = s.phases[1]
    assert [0.0, s.phases[0].rate_start, spike.rate_start, 0.0] == [
        s.rate_at(-1.0),
        s.rate_at(0.5),
        s.rate_at(spike.start_s + spike.duration_s / 2),
        s.rate_at(31.0),
    ]


def test_negative_duration_is_rejected() -> None:
    """A non-positive duration override is a ConfigError naming duration_s."""
    with pytest.raises(ConfigError) as info:
        build_schedule(1, "light", "steady", duration_s=-1.0)
    assert str(info.value) == "duration_s must be > 0, got -1.0"


def same(a: Schedule, b: Schedule) -> tuple[object, ...]:
    return (
        a.hash == b.hash,
        bool(np.array_equal(a.t_ns, b.t_ns)),
        bool(np.array_equal(a.payload_size, b.payload_size)),
        a.phases == b.phases,
    )


@pytest.mark.parametrize("suffix", [".jsonl", ".msgpack"])
def test_files_round_trip_with_the_hash(tmp_path: Path, suffix: str) -> None:
    """A written schedule reads back identical, its hash verified."""
    s = build_schedule(6, "light", "mixed", duration_s=3.0)
    back = read_schedule(write_schedule(s, tmp_path / f"s{suffix}"))
    assert same(s, back) == (True, True, True, True)


def test_tampered_file_is_refused(tmp_path: Path) -> None:
    """Editing a row of a written schedule breaks the hash check."""
    path = write_schedule(
        build_schedule(6, "light", "steady", duration_s=1.0), tmp_path / "s.jsonl"
    )
    lines = path.read_text().splitlines()
    lines[5] = lines[5].replace('"payload_size":', '"payload_size":1')
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ScheduleFileError) as info:
        read_schedule(path)
    assert "does not match its hash" in str(info.value)


def test_unknown_extension_is_refused(tmp_path: Path) -> None:
    """Only .jsonl and .msgpack are schedule files."""
    with pytest.raises(ScheduleFileError) as info:
        write_schedule(build_schedule(6, "light", "steady", duration_s=1.0), tmp_path / "s.csv")
    assert "unknown schedule file extension '.csv'; use .jsonl or .msgpack" in str(info.value)


def test_iter_events_equals_events() -> None:
    """Lazily built events equal the eager list, also for a sub-range."""
    s = build_schedule(4, "light", "steady", duration_s=20.0)
    eager = s.events()
    assert (list(s.iter_events()), list(s.iter_events(5000, 5010))) == (eager, eager[5000:5010])
