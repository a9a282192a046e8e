"""The run's timeline (windows of completions, latency, backlog, RSS) and the router sampler."""

from __future__ import annotations

import numpy as np

from bench.quantiles import percentile
from bench.run import timeline
from bench.run.sampler import RouterSampler
from events import RouterStats, SubscriptionStats

MS = 1_000_000


def test_window_percentiles_follow_the_one_definition() -> None:
    """Each window's p99 is bench.quantiles' p99 of the values intended in it; empty is 0."""
    rng = np.random.default_rng(3)
    t = np.sort(rng.integers(0, 500 * MS, 3000)).astype(np.int64)
    v = rng.integers(1, 10**7, 3000).astype(np.int64)
    edges = np.array([0, 250 * MS, 500 * MS, 750 * MS], dtype=np.int64)
    got = timeline.windowed_percentile(t, v, edges, 99.0).tolist()
    first, second = v[t < 250 * MS], v[t >= 250 * MS]
    assert [int(percentile(first, 99.0)), int(percentile(second, 99.0)), 0] == got


def test_sampled_series_carry_the_last_value_into_empty_windows() -> None:
    """Means per window; a window without samples repeats the one before it."""
    t = np.array([0, 100 * MS, 600 * MS], dtype=np.int64)
    v = np.array([2, 4, 9], dtype=np.int64)
    edges = np.arange(4, dtype=np.int64) * 250 * MS
    assert timeline.sampled_means(t, v, edges).tolist() == [3.0, 3.0, 9.0]
    assert timeline.sampled_max(t, v, edges).tolist() == [4, 4, 9]


def test_build_counts_completions_where_they_happened() -> None:
    """Completions are counted in the window of their completion time, within the run."""
    done = np.array([10 * MS, 260 * MS, 270 * MS, 900 * MS], dtype=np.int64)
    intended = done - MS
    line = timeline.build(
        0.75, done, intended, np.full(4, MS, dtype=np.int64), np.zeros(0, dtype=np.int64),
        np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64),
        np.zeros(0, dtype=np.int64),
    )  # fmt: skip
    assert (line.completed, line.response_p99_ns) == ((1, 2, 0), (MS, MS, 0))


def stats(states: list[tuple[str, str]], pending: int) -> RouterStats:
    subs = [
        SubscriptionStats(service=s, pattern=">", module=m, depth=0, in_flight=0, breaker=b,
                          deliveries=1, delivered=1, dead_lettered=0, dropped=0, retries=0)
        for (s, m), b in zip([("db", "a"), ("db", "b"), ("fs", "a")], [x for _, x in states],
                             strict=True)
    ]  # fmt: skip
    return RouterStats(
        published=0, accepted=0, rejected={}, unrouted=0, unknown_targets=0, deliveries=3,
        delivered=3, dead_lettered={}, dropped={}, retries=0, pending=pending,
        dead_letter_store=0, subscriptions=subs,
    )  # fmt: skip


def test_sampler_counts_trips_per_copy_and_time_any_copy_was_open() -> None:
    """Two copies of db open at different samples: two trips; db counts as open while either
    is; the backlog and the count of breakers not closed are kept per sample."""
    sequence = [
        [("db", "closed"), ("db", "closed"), ("fs", "closed")],
        [("db", "open"), ("db", "closed"), ("fs", "closed")],
        [("db", "half_open"), ("db", "open"), ("fs", "closed")],
        [("db", "closed"), ("db", "closed"), ("fs", "closed")],
    ]
    feed = iter([stats(s, pending=i) for i, s in enumerate(sequence)])
    sampler = RouterSampler(lambda: next(feed))
    for _ in sequence:
        sampler.sample_nowait()
    t = sampler.t_ns
    expected_open = (t[3] - t[1]) / 1e9
    db = next(s for s in sampler.services(stats(sequence[0], 0)) if s.service == "db")
    _, backlog, open_copies = sampler.series(0)
    assert (2, 2, expected_open, [0, 1, 2, 3], [0, 1, 2, 0]) == (
        db.breaker_trips,
        db.copies,
        db.breaker_open_s,
        backlog.tolist(),
        open_copies.tolist(),
    )
