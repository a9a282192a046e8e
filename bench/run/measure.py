"""From one run's raw arrays to its figures: latencies, histograms, per-phase rates.

All times are ns after the run's start. ``intended`` comes from the schedule,
``dispatch`` from the generator's batches, completions from the recorder:
response = completed - intended, service = completed - dispatched,
dispatch lag = dispatched - intended.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from bench.run.histograms import Int64s, record
from bench.schema import Histogram, PhaseResult

METRICS = ("response", "service", "dispatch_lag")


class RunArrays:
    """The raw per-event and per-completion arrays of one run."""

    def __init__(
        self,
        intended: Int64s,
        phase_idx: npt.NDArray[np.integer],
        category_idx: npt.NDArray[np.integer],
        dispatch: Int64s,
        accepted: npt.NDArray[np.bool_],
        done_seq: Int64s,
        done_t: Int64s,
        payload_size: npt.NDArray[np.integer] | None = None,
    ) -> None:
        self.intended = intended
        self.phase_idx = np.asarray(phase_idx, dtype=np.int64)
        self.category_idx = np.asarray(category_idx, dtype=np.int64)
        self.dispatch = dispatch
        self.accepted = accepted
        self.done_seq = done_seq
        self.done_t = done_t
        self.payload_size = (
            np.zeros(intended.size, dtype=np.int64)
            if payload_size is None
            else np.asarray(payload_size, dtype=np.int64)
        )

    def payload_mb_in(self, start_ns: int, end_ns: int) -> float:
        """Payload (10^6 bytes) of the deliveries completed within ``[start_ns, end_ns)``."""
        inside = (self.done_t >= start_ns) & (self.done_t < end_ns)
        return float(self.payload_size[self.done_seq[inside]].sum()) / 1e6

    def values(self, metric: str) -> tuple[Int64s, Int64s]:
        """(values, event index of each value) of ``metric``."""
        if metric == "dispatch_lag":
            return self.dispatch - self.intended, np.arange(self.intended.size, dtype=np.int64)
        if metric == "response":
            return self.done_t - self.intended[self.done_seq], self.done_seq
        if metric == "service":
            return self.done_t - self.dispatch[self.done_seq], self.done_seq
        raise ValueError(f"unknown metric {metric!r}")


def histograms(
    arrays: RunArrays, phase_names: Sequence[str], category_names: Sequence[str]
) -> tuple[Histogram, ...]:
    """Every metric overall, per phase and per category (empty scopes left out)."""
    out: list[Histogram] = []
    for metric in METRICS:
        values, index = arrays.values(metric)
        out.append(record(metric, "all", values))
        phases = arrays.phase_idx[index]
        for p, name in enumerate(phase_names):
            chosen = values[phases == p]
            if chosen.size:
                out.append(record(metric, f"phase:{name}", chosen))
        categories = arrays.category_idx[index]
        for c, name in enumerate(category_names):
            chosen = values[categories == c]
            if chosen.size:
                out.append(record(metric, f"category:{name}", chosen))
    return tuple(out)


def completed_in(done_t: Int64s, start_ns: int, end_ns: int) -> int:
    """Completions stamped within ``[start_ns, end_ns)``."""
    return int(np.count_nonzero((done_t >= start_ns) & (done_t < end_ns)))


def phases(
    arrays: RunArrays, names: Sequence[str], starts_s: Sequence[float], durations_s: Sequence[float]
) -> tuple[PhaseResult, ...]:
    """Offered, published, accepted (events/s), completed (deliveries/s) and delivered
    payload (10^6 bytes/s) per phase."""
    out = []
    for p, name in enumerate(names):
        start_ns = int(starts_s[p] * 1e9)
        end_ns = int((starts_s[p] + durations_s[p]) * 1e9)
        seconds = durations_s[p] if durations_s[p] > 0 else float("inf")
        in_phase = arrays.phase_idx == p
        sent = (arrays.dispatch >= start_ns) & (arrays.dispatch < end_ns)
        out.append(
            PhaseResult(
                name=name,
                start_s=float(starts_s[p]),
                duration_s=float(durations_s[p]),
                offered_eps=int(np.count_nonzero(in_phase)) / seconds,
                published_eps=int(np.count_nonzero(sent)) / seconds,
                accepted_eps=int(np.count_nonzero(sent & arrays.accepted)) / seconds,
                completed_dps=completed_in(arrays.done_t, start_ns, end_ns) / seconds,
                rejected=int(np.count_nonzero(in_phase & ~arrays.accepted)),
                completed_mbps=arrays.payload_mb_in(start_ns, end_ns) / seconds,
            )
        )
    return tuple(out)
