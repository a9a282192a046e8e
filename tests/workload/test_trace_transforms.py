"""--speed, --scale and --window: pure functions on the time column, and the mix they keep."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from events import ConfigError
from workload.traces import PhaseMark, Transform, parse_window
from workload.traces.transforms import apply, scale, speed, thin, window, window_marks

P_MIN = 1e-4  # fixed seeds make these deterministic; the bound says "consistent with"
N = 60_000
DURATION = 60_000_000_000


def poisson_times(seed: int = 3, n: int = N) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(0, DURATION + 1, size=n)).astype(np.int64)
    t.flags.writeable = False
    return t


def categories(seed: int = 4, n: int = N) -> np.ndarray:
    """Six categories with unequal weights, as a trace's category column."""
    rng = np.random.default_rng(seed)
    return rng.choice(6, size=n, p=[0.3, 0.25, 0.2, 0.1, 0.1, 0.05]).astype(np.int8)


def mix_kept(original: np.ndarray, replayed: np.ndarray) -> float:
    """Chi-square p-value of the replayed category counts against the original shares."""
    observed = np.bincount(replayed, minlength=6)
    expected = np.bincount(original, minlength=6) / len(original) * len(replayed)
    return float(stats.chisquare(observed, expected).pvalue)


def test_speed_divides_times() -> None:
    """--speed 2 halves every offset (rounded to the ns); the input is untouched."""
    t = np.array([0, 3, 10, 1_000_000_001], dtype=np.int64)
    assert (
        speed(t, 2.0).tolist(),
        t.tolist(),
    ) == ([0, 2, 5, 500_000_000], [0, 3, 10, 1_000_000_001])


def test_window_cuts_and_shifts() -> None:
    """A window keeps [start, end) and starts the replay at 0."""
    t = np.array([0, 5, 10, 15, 20], dtype=np.int64)
    got, ref, duration = window(t, 20, 5, 15)
    assert (got.tolist(), ref.tolist(), duration) == ([0, 5], [1, 2], 10)


def test_window_to_the_end_keeps_the_last_instant() -> None:
    """A window reaching the trace's end includes the event at its very end."""
    t = np.array([0, 5, 20], dtype=np.int64)
    got, ref, duration = window(t, 20, 5, 99)
    assert (got.tolist(), ref.tolist(), duration) == ([0, 15], [1, 2], 15)


def test_window_outside_the_trace_is_an_error() -> None:
    """A window starting at or after the end is empty and refused."""
    with pytest.raises(ConfigError, match="is empty"):
        window(np.array([0, 5], dtype=np.int64), 5, 7, 9)


def test_window_marks_keep_the_phase_in_force() -> None:
    """The phase running at the window's start begins at 0; later marks shift."""
    marks = (PhaseMark("night", 0), PhaseMark("day", 100), PhaseMark("evening", 200))
    assert (PhaseMark("night", 0), PhaseMark("day", 50)) == window_marks(marks, 50, 150)


def test_thinning_keeps_about_k_of_the_events_and_the_mix() -> None:
    """K = 0.3 keeps 0.3 N within Poisson-binomial bounds, categories in proportion."""
    cat = categories()
    kept = thin(N, 0.3, np.random.default_rng(9))
    sd = np.sqrt(N * 0.3 * 0.7)
    within = abs(len(kept) - 0.3 * N) < 5 * sd
    assert (within, mix_kept(cat, cat[kept]) > P_MIN) == (True, True)


@pytest.mark.parametrize("k", [0.25, 2.0, 3.0, 2.5])
def test_scale_keeps_the_mix(k: float) -> None:
    """Scaled replays (thinned or superposed) keep the category mix (chi-square, fixed seed)."""
    t, cat = poisson_times(), categories()
    scaled_t, ref = scale(t, DURATION, k, seed=7, max_shift_ns=1_000_000_000)
    expected_n = k * N
    sd = np.sqrt(N * (k % 1) * (1 - k % 1)) if k % 1 else 0.0
    assert (
        abs(len(scaled_t) - expected_n) <= 5 * sd,
        mix_kept(cat, cat[ref]) > P_MIN,
        bool(np.all(np.diff(scaled_t) >= 0)),
        bool(scaled_t.min() >= 0 and scaled_t.max() <= DURATION),
    ) == (True, True, True, True)


def test_superposition_replays_each_event_k_times_shifted() -> None:
    """K = 3: every event appears three times, two copies shifted by at most max_shift."""
    t = poisson_times(n=5000)
    scaled_t, ref = scale(t, DURATION, 3.0, seed=1, max_shift_ns=2_000_000_000)
    counts = np.bincount(ref, minlength=len(t))
    shifts = np.sort((scaled_t - t[ref]) % (DURATION + 1))
    distinct_offsets = np.unique(shifts).size
    assert ({3}, True, 3) == (
        set(counts.tolist()),
        bool(shifts.max() <= 2_000_000_000),
        distinct_offsets,
    )


def test_superposition_keeps_the_rate_shape() -> None:
    """A burst in the trace is still a burst at 2x: counts per second scale, shape kept."""
    rng = np.random.default_rng(2)
    quiet = rng.integers(0, DURATION, size=20_000)
    burst = rng.integers(30_000_000_000, 31_000_000_000, size=10_000)
    t = np.sort(np.concatenate([quiet, burst])).astype(np.int64)
    scaled_t, _ = scale(t, DURATION, 2.0, seed=5, max_shift_ns=200_000_000)
    before = np.histogram(t, bins=60, range=(0, DURATION))[0]
    after = np.histogram(scaled_t, bins=60, range=(0, DURATION))[0]
    assert (int(np.argmax(before)), int(np.argmax(after))) == (30, 30)
    assert after[30] == pytest.approx(2 * before[30], rel=0.1)


def test_scale_is_seeded() -> None:
    """The same seed gives the same replay; another seed another one."""
    t = poisson_times(n=2000)
    a = scale(t, DURATION, 1.5, seed=1, max_shift_ns=10**9)
    b = scale(t, DURATION, 1.5, seed=1, max_shift_ns=10**9)
    c = scale(t, DURATION, 1.5, seed=2, max_shift_ns=10**9)
    assert (
        bool(np.array_equal(a[1], b[1]) and np.array_equal(a[0], b[0])),
        bool(np.array_equal(a[1], c[1])),
    ) == (True, False)


def test_apply_windows_then_scales_then_speeds() -> None:
    """apply: the window is in trace seconds, then the rate is scaled, then time compressed."""
    t = np.arange(0, 10_000_000_000, 1_000_000, dtype=np.int64)  # 1 kHz for 10 s
    marks = (PhaseMark("a", 0), PhaseMark("b", 5_000_000_000))
    transform = Transform(speed=2.0, scale=2.0, window_start_s=4.0, window_end_s=8.0)
    got, ref, duration, new_marks = apply(t, 9_999_000_000, marks, transform)
    assert (8000, 2_000_000_000, (PhaseMark("a", 0), PhaseMark("b", 500_000_000))) == (
        len(got),
        duration,
        new_marks,
    )
    assert bool(np.all((t[ref] >= 4_000_000_000) & (t[ref] < 8_000_000_000)))


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"speed": 0.0}, "speed must be > 0"),
        ({"scale": -1.0}, "scale must be > 0"),
        ({"window_start_s": 5.0, "window_end_s": 5.0}, "window end must be after its start"),
        ({"window_start_s": -1.0}, "window start must be >= 0"),
    ],
)
def test_bad_transforms_are_refused(kwargs: dict[str, float], needle: str) -> None:
    """Non-positive speed or scale and inverted windows are configuration errors."""
    with pytest.raises(ConfigError) as info:
        Transform(**kwargs)  # type: ignore[arg-type]
    assert needle in str(info.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("10:20", (10.0, 20.0)), (":20", (0.0, 20.0)), ("5.5:", (5.5, None))],
)
def test_parse_window(text: str, expected: tuple[float, float | None]) -> None:
    """START:END with either side optional."""
    assert expected == parse_window(text)


def test_parse_window_refuses_other_shapes() -> None:
    """A window without ':' or with words is refused."""
    messages = []
    for text in ("10", "a:b"):
        with pytest.raises(ConfigError) as info:
            parse_window(text)
        messages.append(str(info.value))
    assert [f"window must be START:END in seconds, got {t!r}" for t in ("10", "a:b")] == messages
