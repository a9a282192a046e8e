"""A plain-text preview of a schedule: phases, rate over time, mix, count and hash."""

from __future__ import annotations

import math

from workload.schedule import Schedule
from workload.services import ServiceSpec, expected_fanout

_BARS = "▁▂▃▄▅▆▇█"
MAX_BINS = 60


def sparkline(values: list[float], top: float) -> str:
    """One character per value, scaled so ``top`` is a full block."""
    if top <= 0:
        return _BARS[0] * len(values)
    last = len(_BARS) - 1
    return "".join(_BARS[min(last, max(0, math.ceil(v / top * last)))] for v in values)


def rate_bins(schedule: Schedule) -> tuple[float, list[float]]:
    """Bin width (s) and the obtained rate (events/s) in each bin over the run."""
    # A fixed width in characters, so short spikes and bursts stay visible.
    bin_s = schedule.duration_s / MAX_BINS
    n_bins = MAX_BINS
    counts = schedule.counts_per_bin(bin_s)
    return bin_s, [float(c) / bin_s for c in counts[:n_bins]]


def phase_lines(schedule: Schedule) -> list[str]:
    """The phase table: start, duration, asked rate, events and obtained rate per phase."""
    lines = [
        f"{'phase':<22} {'start s':>8} {'dur s':>8} {'rate/s asked':>17} {'events':>9}"
        f" {'obtained/s':>11}",
    ]
    counts = schedule.phase_counts()
    for phase, count in zip(schedule.phases, counts.tolist(), strict=True):
        if phase.rate_start == phase.rate_end:
            asked = f"{phase.rate_start:,.0f}"
        else:
            asked = f"{phase.rate_start:,.0f} -> {phase.rate_end:,.0f}"
        obtained = count / phase.duration_s if phase.duration_s > 0 else 0.0
        lines.append(
            f"{phase.name:<22} {phase.start_s:>8.2f} {phase.duration_s:>8.2f} {asked:>17}"
            f" {count:>9,} {obtained:>11,.0f}"
        )
    return lines


def rate_lines(schedule: Schedule) -> list[str]:
    """The obtained rate over time as a sparkline, with its scale and time axis."""
    bin_s, rates = rate_bins(schedule)
    top = max(rates) if rates else 0.0
    end = f"{schedule.duration_s:g} s"
    return [
        f"obtained rate over time ({bin_s:.3g} s per character; full block = {top:,.0f}/s,"
        f" lowest {min(rates, default=0.0):,.0f}/s):",
        "  " + sparkline(rates, top),
        f"  0 s{'':{max(0, len(rates) - 3 - len(end))}}{end}",
    ]


def services_line(services: list[ServiceSpec]) -> str:
    return (
        f"services {len(services)}, expected deliveries per event {expected_fanout(services):.2f}"
    )


def render(schedule: Schedule, services: list[ServiceSpec] | None = None) -> str:
    """The preview text (no trailing newline)."""
    prof = schedule.profile
    lines = [
        f"pattern {schedule.pattern}, profile {prof.name} ({prof.services} services,"
        f" {prof.payload_bytes} B payloads, base rate {prof.base_rate:g}/s),"
        f" seed {schedule.seed}, duration {schedule.duration_s:g} s",
        "",
        *phase_lines(schedule),
        "",
        *rate_lines(schedule),
        "",
        f"{'category':<12} {'asked':>7} {'obtained':>9}",
    ]
    for category, asked_share, got in zip(
        schedule.categories, schedule.mix, schedule.category_mix(), strict=True
    ):
        lines.append(f"{category.value:<12} {asked_share:>7.1%} {got:>9.1%}")
    expected = sum(p.expected_events for p in schedule.phases)
    lines += [
        "",
        f"events {len(schedule):,} (expected {expected:,.0f}),"
        f" distinct subjects {len(schedule.subjects)}",
    ]
    if services is not None:
        lines.append(services_line(services))
    lines.append(f"schedule hash {schedule.hash}")
    return "\n".join(lines)
