"""Recovery time on constructed runs whose recovery is known by construction."""

from __future__ import annotations

import numpy as np
import pytest

from bench.run.recovery import Episode, episodes, measure
from bench.schema import Outage
from workload import Phase

MS = 1_000_000
S = 1_000_000_000


def spike_phases() -> tuple[Phase, ...]:
    """baseline 0-4 s at 1,000/s, spike 4-5 s at 5,000/s, recovery 5-9 s at 1,000/s."""
    return (
        Phase("baseline", 0.0, 4.0, 1000.0, 1000.0),
        Phase("spike", 4.0, 1.0, 5000.0, 5000.0),
        Phase("recovery", 5.0, 4.0, 1000.0, 1000.0),
    )


def run_arrays(
    recovered_at_s: float, slow_ms: float = 40.0, fast_ms: float = 2.0, rate: float = 1000.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Completions every 1/rate s over 9 s: latency ``slow_ms`` from the spike's start
    until ``recovered_at_s``, ``fast_ms`` (with a little spread) otherwise; the backlog
    is 3 at baseline and 300 while slow, sampled every 25 ms."""
    t = np.arange(0, 9 * S, int(S / rate), dtype=np.int64)
    lat = fast_ms * MS + (t % 7) * (MS // 10)
    slow = (t >= 4 * S) & (t < int(recovered_at_s * S))
    lat = np.where(slow, slow_ms * MS, lat).astype(np.int64)
    st = np.arange(0, 9 * S, 25 * MS, dtype=np.int64)
    backlog = np.where((st >= 4 * S) & (st < int(recovered_at_s * S)), 300, 3).astype(np.int64)
    return t, lat, st, backlog


def test_a_spike_recovery_is_the_phase_after_it_against_the_phase_before() -> None:
    """spike -> recovery is an episode with baseline 'baseline', timed over the recovery phase."""
    found = [
        (e.kind, e.name, e.after, e.baseline, e.start_s, e.end_s) for e in episodes(spike_phases())
    ]
    assert found == [("phase", "recovery", "spike", "baseline", 5.0, 9.0)]


def test_no_step_down_no_episode() -> None:
    """A ramp that only rises, or a steady run, has nothing to recover from."""
    ramp = (Phase("up", 0.0, 5.0, 100.0, 500.0), Phase("hold", 5.0, 5.0, 500.0, 500.0))
    assert episodes(ramp) == []


@pytest.mark.parametrize("recovered_at", [5.0, 5.6, 6.5, 7.25])
def test_known_recovery_is_measured_to_the_step(recovered_at: float) -> None:
    """Slow until a known instant after the spike: recovery is measured within one 50 ms step
    after it (the end of the first 250 ms window wholly back to normal)."""
    episode = episodes(spike_phases())[0]
    rec = measure(episode, *run_arrays(recovered_at))
    expected = max(recovered_at - 5.0, 0.0) + 0.25
    assert (rec.status, expected <= rec.recovery_s <= expected + 0.05 + 1e-9) == ("recovered", True)


def test_a_run_that_never_recovers_says_so_with_the_horizon() -> None:
    """Slow to the end: not recovered within the 4 s horizon."""
    rec = measure(episodes(spike_phases())[0], *run_arrays(9.5))
    assert (rec.status, rec.recovery_s, rec.horizon_s) == ("not_recovered", None, 4.0)


def test_backlog_alone_holds_recovery_back() -> None:
    """Latency back at 5 s but the backlog high until 6 s: recovery waits for the backlog."""
    t, lat, st, backlog = run_arrays(5.0)
    backlog = np.where((st >= 4 * S) & (st < 6 * S), 300, backlog)
    rec = measure(episodes(spike_phases())[0], t, lat, st, backlog)
    assert ("recovered", pytest.approx(1.25)) == (rec.status, rec.recovery_s)


def test_a_thin_baseline_is_too_short() -> None:
    """Fewer than 100 completions in the baseline: too short, with the reason."""
    t, lat, st, backlog = run_arrays(6.0, rate=20.0)
    rec = measure(episodes(spike_phases())[0], t, lat, st, backlog)
    assert (rec.status, "a p99 needs at least 100" in rec.detail) == ("too_short", True)


def test_a_horizon_shorter_than_a_window_is_too_short() -> None:
    """A recovery phase of 0.2 s cannot hold one 250 ms window."""
    episode = Episode("phase", "recovery", "spike", "baseline", (0.0, 4.0), 5.0, 5.2)
    rec = measure(episode, *run_arrays(5.0))
    assert (rec.status, "shorter than one" in rec.detail) == ("too_short", True)


def test_an_outage_is_timed_from_its_end_against_the_seconds_before_it() -> None:
    """An outage 2-3 s of a steady run: baseline 0-2 s, clock from 3 s to the run's end."""
    steady = (Phase("steady", 0.0, 9.0, 1000.0, 1000.0),)
    found = episodes(steady, [Outage("datastore", 2.0, 1.0)], 9.0)
    assert [(e.kind, e.name, e.baseline_s, e.start_s, e.end_s) for e in found] == [
        ("outage", "after outage datastore:2:1", (0.0, 2.0), 3.0, 9.0)
    ]


def test_an_outage_horizon_stops_at_the_next_rise() -> None:
    """After an outage in the baseline of a spike, the clock stops where the spike begins."""
    found = episodes(spike_phases(), [Outage("audit", 1.0, 1.5)], 9.0)
    outage = next(e for e in found if e.kind == "outage")
    assert (outage.start_s, outage.end_s) == (2.5, 4.0)
