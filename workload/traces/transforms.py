"""Speed, scale and window: pure functions on a trace's time column, and their parameters.

Each function returns new arrays (the input is never written) and, where events
are dropped or copied, ``ref``: for each output event, the index of the input
event it replays. They compose in a fixed order, :func:`apply`: the window is
cut in trace time, then the rate is scaled, then time is compressed.

Scaling keeps the mix because every copy replays every event with the same
probability: thinning (K < 1) keeps each event independently with probability
K; superposition (K > 1) adds ``floor(K) - 1`` whole copies and one copy thinned
to the fractional part, each shifted by a seeded offset of up to
``max_shift_s`` (wrapping around the end, so the count is exact and the rate
shape moves by at most that offset). Offsets are short against the shape of a
trace (minutes, hours) but long against the gap between events, so copies do
not land on the same instants.
"""

from __future__ import annotations

import math

import msgspec
import numpy as np
import numpy.typing as npt

from events.errors import ConfigError
from workload.traces.format import PhaseMark

IntArray = npt.NDArray[np.int64]


class Transform(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """How a trace is replayed; the defaults replay it as recorded."""

    speed: float = 1.0
    scale: float = 1.0
    #: (start, end) in seconds of the trace; ``None`` ends at the trace's end.
    window_start_s: float = 0.0
    window_end_s: float | None = None
    seed: int = 1
    max_shift_s: float = 1.0

    def __post_init__(self) -> None:
        for key in ("speed", "scale", "max_shift_s"):
            value = getattr(self, key)
            if not value > 0 or not math.isfinite(value):
                raise ConfigError(f"{key} must be > 0, got {value}")
        if not self.window_start_s >= 0 or not math.isfinite(self.window_start_s):
            raise ConfigError(f"window start must be >= 0 s, got {self.window_start_s}")
        end = self.window_end_s
        if end is not None and (not math.isfinite(end) or end <= self.window_start_s):
            raise ConfigError(
                f"window end must be after its start ({self.window_start_s} s), got {end}"
            )


def parse_window(text: str) -> tuple[float, float | None]:
    """``START:END`` in seconds; either side may be empty (from the start, to the end)."""
    start, sep, end = text.partition(":")
    if not sep:
        raise ConfigError(f"window must be START:END in seconds, got {text!r}")
    try:
        lo = float(start) if start.strip() else 0.0
        hi = float(end) if end.strip() else None
    except ValueError:
        raise ConfigError(f"window must be START:END in seconds, got {text!r}") from None
    return lo, hi


def window(
    t_ns: IntArray, duration_ns: int, start_ns: int, end_ns: int
) -> tuple[IntArray, IntArray, int]:
    """Events in ``[start_ns, end_ns)``, shifted to start at 0: (t, ref, new duration).

    An end at or past the trace's end keeps the events at its very end too.
    """
    end_ns = min(end_ns, duration_ns)
    if start_ns >= end_ns:
        raise ConfigError(
            f"window {start_ns / 1e9:g}:{end_ns / 1e9:g} s is empty"
            f" (the trace lasts {duration_ns / 1e9:g} s)"
        )
    lo = int(np.searchsorted(t_ns, start_ns, side="left"))
    # The trace's last instant belongs to a window that reaches the end.
    if end_ns == duration_ns:
        hi = int(np.searchsorted(t_ns, end_ns, side="right"))
    else:
        hi = int(np.searchsorted(t_ns, end_ns, side="left"))
    ref = np.arange(lo, hi, dtype=np.int64)
    return t_ns[lo:hi] - start_ns, ref, end_ns - start_ns


def window_marks(marks: tuple[PhaseMark, ...], start_ns: int, end_ns: int) -> tuple[PhaseMark, ...]:
    """Phase marks of a window: the phase in force at its start begins at 0, later ones shift."""
    inside = [m for m in marks if start_ns < m.start_ns < end_ns]
    before = [m for m in marks if m.start_ns <= start_ns]
    head = [PhaseMark(before[-1].name, 0)] if before else []
    return tuple(head + [PhaseMark(m.name, m.start_ns - start_ns) for m in inside])


def speed(t_ns: IntArray, factor: float) -> IntArray:
    """Times divided by ``factor`` (2 replays twice as fast), rounded to the nanosecond."""
    if factor == 1.0:
        return t_ns.copy()
    return np.rint(t_ns / factor).astype(np.int64)


def speed_marks(marks: tuple[PhaseMark, ...], factor: float) -> tuple[PhaseMark, ...]:
    return tuple(PhaseMark(m.name, round(m.start_ns / factor)) for m in marks)


def thin(n: int, keep: float, rng: np.random.Generator) -> IntArray:
    """Indices of the events kept when each is kept with probability ``keep``."""
    return np.flatnonzero(rng.random(n) < keep).astype(np.int64)


def scale(
    t_ns: IntArray, duration_ns: int, factor: float, seed: int, max_shift_ns: int
) -> tuple[IntArray, IntArray]:
    """``factor`` x the events with the same mix: (t sorted, ref into the input)."""
    rng = np.random.default_rng(seed)
    n = len(t_ns)
    whole = math.floor(factor)
    frac = factor - whole
    copies = whole + (1 if frac > 0 else 0)
    shift_hi = max(1, min(max_shift_ns, duration_ns))
    # Copy 0 stays in place; drawn before thinning so a copy's offset does not
    # depend on the fraction.
    offsets = [0] + [int(x) for x in rng.integers(1, shift_hi + 1, size=max(0, copies - 1))]
    times: list[IntArray] = []
    refs: list[IntArray] = []
    for copy, offset in enumerate(offsets):
        ref = thin(n, frac, rng) if copy == whole else np.arange(n, dtype=np.int64)
        t = t_ns[ref]
        if offset:
            t = t + offset
            # Wrap inside [0, duration]: the copy keeps its count and its shape.
            t = np.where(t > duration_ns, t - duration_ns - 1, t)
        times.append(t)
        refs.append(ref)
    t_all = np.concatenate(times) if times else np.empty(0, dtype=np.int64)
    ref_all = np.concatenate(refs) if refs else np.empty(0, dtype=np.int64)
    order = np.argsort(t_all, kind="stable")
    return t_all[order], ref_all[order]


def apply(
    t_ns: IntArray, duration_ns: int, marks: tuple[PhaseMark, ...], transform: Transform
) -> tuple[IntArray, IntArray, int, tuple[PhaseMark, ...]]:
    """Window, then scale, then speed: (t, ref into ``t_ns``, duration_ns, phase marks)."""
    start_ns = round(transform.window_start_s * 1e9)
    end_ns = duration_ns if transform.window_end_s is None else round(transform.window_end_s * 1e9)
    t, ref, duration = window(t_ns, duration_ns, start_ns, end_ns)
    marks = window_marks(marks, start_ns, start_ns + duration)
    if transform.scale != 1.0:
        max_shift_ns = round(transform.max_shift_s * 1e9)
        t, copy_ref = scale(t, duration, transform.scale, transform.seed, max_shift_ns)
        ref = ref[copy_ref]
    t = speed(t, transform.speed)
    duration = max(1, round(duration / transform.speed))
    marks = speed_marks(marks, transform.speed)
    return t, ref, duration, marks
