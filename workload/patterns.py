"""Load patterns: rate functions of time made of named, contiguous phases.

A pattern is described in relative terms (each phase has a *share* of the run
and a rate *factor* of the profile's base rate, at its start and its end), so a
run of any duration or base rate scales the same shape. Within a phase the rate
is linear from start to end (constant unless the phase ramps).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import msgspec

from events.errors import ConfigError

#: The patterns a ``mixed`` pattern may chain (everything but itself).
BASIC_PATTERNS = ("steady", "burst", "ramp", "spike", "soak", "breakpoint", "stress", "smoke")
PATTERNS = ("steady", "burst", "ramp", "spike", "mixed", "soak", "breakpoint", "stress", "smoke")


class Phase(msgspec.Struct, frozen=True):
    """A named stretch of a run, with its intended rate (events/s) at start and end."""

    name: str
    start_s: float
    duration_s: float
    rate_start: float
    rate_end: float

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s

    def rate_at(self, t_s: float) -> float:
        """The intended rate at ``t_s`` (linear within the phase)."""
        if self.duration_s <= 0:
            return self.rate_start
        frac = min(max((t_s - self.start_s) / self.duration_s, 0.0), 1.0)
        return self.rate_start + (self.rate_end - self.rate_start) * frac

    @property
    def expected_events(self) -> float:
        """The integral of the rate over the phase."""
        return 0.5 * (self.rate_start + self.rate_end) * self.duration_s


class Shape(NamedTuple):
    """A phase in relative terms: share of the run, rate factors of the base rate."""

    name: str
    share: float
    factor_start: float
    factor_end: float


def _positive(where: str, name: str, value: float) -> None:
    if not value > 0 or not math.isfinite(value):
        raise ConfigError(f"patterns.{where}.{name} must be > 0, got {value}")


def _non_negative(where: str, name: str, value: float) -> None:
    if not value >= 0 or not math.isfinite(value):
        raise ConfigError(f"patterns.{where}.{name} must be >= 0, got {value}")


class SteadyPattern(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One constant phase."""

    factor: float = 1.0
    duration_factor: float = 1.0

    def __post_init__(self) -> None:
        _positive("steady", "factor", self.factor)
        _positive("steady", "duration_factor", self.duration_factor)

    def shapes(self) -> list[Shape]:
        return [Shape("steady", 1.0, self.factor, self.factor)]


class BurstPattern(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Base rate with ``cycles`` short bursts at ``factor`` x base, one per cycle."""

    cycles: int = 4
    factor: float = 4.0
    burst_share: float = 0.1
    duration_factor: float = 1.0

    def __post_init__(self) -> None:
        if self.cycles < 1:
            raise ConfigError(f"patterns.burst.cycles must be >= 1, got {self.cycles}")
        _positive("burst", "factor", self.factor)
        if not 0 < self.burst_share < 1:
            raise ConfigError(
                f"patterns.burst.burst_share must be in (0, 1), got {self.burst_share}"
            )
        _positive("burst", "duration_factor", self.duration_factor)

    def shapes(self) -> list[Shape]:
        base = (1.0 - self.burst_share) / self.cycles
        burst = self.burst_share / self.cycles
        out: list[Shape] = []
        for i in range(1, self.cycles + 1):
            out.append(Shape(f"base-{i}", base, 1.0, 1.0))
            out.append(Shape(f"burst-{i}", burst, self.factor, self.factor))
        return out


class RampPattern(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Linear rise from ``start_factor`` to ``peak_factor``, a hold at the peak, and, when
    ``down_share`` > 0, a linear ramp-down back to ``start_factor``."""

    start_factor: float = 0.25
    peak_factor: float = 3.0
    hold_share: float = 0.2
    down_share: float = 0.0
    duration_factor: float = 1.0

    def __post_init__(self) -> None:
        _non_negative("ramp", "start_factor", self.start_factor)
        _positive("ramp", "peak_factor", self.peak_factor)
        if not 0 <= self.hold_share < 1:
            raise ConfigError(f"patterns.ramp.hold_share must be in [0, 1), got {self.hold_share}")
        if not 0 <= self.down_share < 1:
            raise ConfigError(f"patterns.ramp.down_share must be in [0, 1), got {self.down_share}")
        if self.hold_share + self.down_share >= 1:
            raise ConfigError(
                "patterns.ramp: hold_share + down_share must be < 1 (the ramp-up needs a share),"
                f" got {self.hold_share} + {self.down_share}"
            )
        _positive("ramp", "duration_factor", self.duration_factor)

    def shapes(self) -> list[Shape]:
        up = 1.0 - self.hold_share - self.down_share
        out = [Shape("ramp-up", up, self.start_factor, self.peak_factor)]
        if self.hold_share > 0:
            out.append(Shape("hold", self.hold_share, self.peak_factor, self.peak_factor))
        if self.down_share > 0:
            out.append(Shape("ramp-down", self.down_share, self.peak_factor, self.start_factor))
        return out


class SpikePattern(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``cycles`` x (baseline, a short spike at ``factor`` x base, recovery at base)."""

    cycles: int = 2
    factor: float = 5.0
    baseline_share: float = 0.4
    spike_share: float = 0.1
    recovery_share: float = 0.5
    duration_factor: float = 1.0

    def __post_init__(self) -> None:
        if self.cycles < 1:
            raise ConfigError(f"patterns.spike.cycles must be >= 1, got {self.cycles}")
        _positive("spike", "factor", self.factor)
        _positive("spike", "baseline_share", self.baseline_share)
        _positive("spike", "spike_share", self.spike_share)
        _positive("spike", "recovery_share", self.recovery_share)
        _positive("spike", "duration_factor", self.duration_factor)

    def shapes(self) -> list[Shape]:
        out: list[Shape] = []
        for i in range(1, self.cycles + 1):
            out.append(Shape(f"baseline-{i}", self.baseline_share, 1.0, 1.0))
            out.append(Shape(f"spike-{i}", self.spike_share, self.factor, self.factor))
            out.append(Shape(f"recovery-{i}", self.recovery_share, 1.0, 1.0))
        return out


class SoakPattern(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A long steady run, cut into ``segments`` named phases so drift shows per phase."""

    factor: float = 1.0
    segments: int = 5
    duration_factor: float = 10.0

    def __post_init__(self) -> None:
        _positive("soak", "factor", self.factor)
        if self.segments < 1:
            raise ConfigError(f"patterns.soak.segments must be >= 1, got {self.segments}")
        _positive("soak", "duration_factor", self.duration_factor)

    def shapes(self) -> list[Shape]:
        f = self.factor
        return [Shape(f"soak-{i}", 1.0, f, f) for i in range(1, self.segments + 1)]


class BreakpointPattern(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Equal rising steps: step i runs at ``start_factor + (i - 1) * step_factor``."""

    steps: int = 8
    start_factor: float = 0.5
    step_factor: float = 0.5
    duration_factor: float = 1.0

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ConfigError(f"patterns.breakpoint.steps must be >= 1, got {self.steps}")
        _positive("breakpoint", "start_factor", self.start_factor)
        _positive("breakpoint", "step_factor", self.step_factor)
        _positive("breakpoint", "duration_factor", self.duration_factor)

    def shapes(self) -> list[Shape]:
        out = []
        for i in range(1, self.steps + 1):
            f = self.start_factor + (i - 1) * self.step_factor
            out.append(Shape(f"step-{i}", 1.0, f, f))
        return out


class StressPattern(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Overload and the way back: ``base`` at 1x, a linear ``rise`` to ``peak_factor`` x
    base (meant to lie well past capacity), an ``overload`` hold there, then ``recovery``
    at 1x again, so the results show behaviour under overload and how long recovery takes.
    """

    peak_factor: float = 12.0
    base_share: float = 0.2
    rise_share: float = 0.3
    overload_share: float = 0.2
    recovery_share: float = 0.3
    duration_factor: float = 1.0

    def __post_init__(self) -> None:
        if not self.peak_factor > 1 or not math.isfinite(self.peak_factor):
            raise ConfigError(f"patterns.stress.peak_factor must be > 1, got {self.peak_factor}")
        for key in ("base_share", "rise_share", "overload_share", "recovery_share"):
            _positive("stress", key, getattr(self, key))
        _positive("stress", "duration_factor", self.duration_factor)

    def shapes(self) -> list[Shape]:
        peak = self.peak_factor
        return [
            Shape("base", self.base_share, 1.0, 1.0),
            Shape("rise", self.rise_share, 1.0, peak),
            Shape("overload", self.overload_share, peak, peak),
            Shape("recovery", self.recovery_share, 1.0, 1.0),
        ]


class SmokePattern(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A few seconds for CI: ``warm`` at 1x, a ``burst`` at ``factor`` x, ``cool`` at 1x
    (a step down, so a recovery is measured too). With the ``smoke`` profile every category
    and every simulated service sees events; ``duration_factor`` keeps it short."""

    factor: float = 3.0
    burst_share: float = 0.2
    duration_factor: float = 0.1

    def __post_init__(self) -> None:
        _positive("smoke", "factor", self.factor)
        if not 0 < self.burst_share < 1:
            raise ConfigError(
                f"patterns.smoke.burst_share must be in (0, 1), got {self.burst_share}"
            )
        _positive("smoke", "duration_factor", self.duration_factor)

    def shapes(self) -> list[Shape]:
        side = (1.0 - self.burst_share) / 2
        return [
            Shape("warm", side, 1.0, 1.0),
            Shape("burst", self.burst_share, self.factor, self.factor),
            Shape("cool", side, 1.0, 1.0),
        ]


class MixedPattern(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A sequence of the basic patterns, each given ``shares[i]`` of the run."""

    sequence: list[str] = msgspec.field(
        default_factory=lambda: ["steady", "burst", "ramp", "spike"]
    )
    shares: list[float] = msgspec.field(default_factory=list)
    duration_factor: float = 1.0

    def __post_init__(self) -> None:
        if not self.sequence:
            raise ConfigError("patterns.mixed.sequence must name at least one pattern")
        for name in self.sequence:
            if name not in BASIC_PATTERNS:
                raise ConfigError(
                    f"patterns.mixed.sequence: unknown pattern {name!r};"
                    f" valid: {', '.join(BASIC_PATTERNS)}"
                )
        if self.shares and len(self.shares) != len(self.sequence):
            raise ConfigError(
                f"patterns.mixed.shares has {len(self.shares)} entries,"
                f" sequence has {len(self.sequence)}"
            )
        for share in self.shares:
            _positive("mixed", "shares[]", share)
        _positive("mixed", "duration_factor", self.duration_factor)

    def shapes_from(self, patterns: PatternSet) -> list[Shape]:
        shares = self.shares or [1.0] * len(self.sequence)
        total = sum(shares)
        out: list[Shape] = []
        for index, (name, share) in enumerate(zip(self.sequence, shares, strict=True)):
            prefix = name if self.sequence.count(name) == 1 else f"{name}#{index + 1}"
            inner = patterns.shapes(name)
            inner_total = sum(s.share for s in inner)
            for s in inner:
                out.append(
                    Shape(
                        f"{prefix}/{s.name}",
                        share / total * s.share / inner_total,
                        s.factor_start,
                        s.factor_end,
                    )
                )
        return out


PatternParams = (
    SteadyPattern
    | BurstPattern
    | RampPattern
    | SpikePattern
    | MixedPattern
    | SoakPattern
    | BreakpointPattern
    | StressPattern
    | SmokePattern
)


class PatternSet(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The parameters of every pattern (``[patterns.<name>]`` tables)."""

    steady: SteadyPattern = SteadyPattern()
    burst: BurstPattern = BurstPattern()
    ramp: RampPattern = RampPattern()
    spike: SpikePattern = SpikePattern()
    mixed: MixedPattern = MixedPattern()
    soak: SoakPattern = SoakPattern()
    breakpoint: BreakpointPattern = BreakpointPattern()
    stress: StressPattern = StressPattern()
    smoke: SmokePattern = SmokePattern()

    @property
    def names(self) -> tuple[str, ...]:
        return PATTERNS

    def __contains__(self, name: object) -> bool:
        return name in PATTERNS

    def get(self, name: str) -> PatternParams:
        """The parameters of ``name``; :class:`ConfigError` listing the valid names if unknown."""
        if name not in PATTERNS:
            raise ConfigError(f"unknown pattern {name!r}; valid patterns: {', '.join(PATTERNS)}")
        params: PatternParams = getattr(self, name)
        return params

    def shapes(self, name: str) -> list[Shape]:
        params = self.get(name)
        if isinstance(params, MixedPattern):
            return params.shapes_from(self)
        return params.shapes()


def scale_phases(shapes: list[Shape], base_rate: float, duration_s: float) -> tuple[Phase, ...]:
    """Turn relative shapes into absolute, contiguous phases covering ``[0, duration_s]``."""
    total = sum(s.share for s in shapes)
    phases: list[Phase] = []
    start = 0.0
    acc = 0.0
    for s in shapes:
        acc += s.share
        # The cumulative share keeps phases exactly contiguous and the last end exact.
        end = duration_s * acc / total
        phases.append(
            Phase(s.name, start, end - start, base_rate * s.factor_start, base_rate * s.factor_end)
        )
        start = end
    return tuple(phases)


def rate_at(phases: tuple[Phase, ...], t_s: float) -> float:
    """The intended rate at ``t_s``; zero outside the run."""
    if not phases or t_s < 0 or t_s > phases[-1].end_s:
        return 0.0
    for phase in phases:
        if t_s < phase.end_s:
            return phase.rate_at(t_s)
    return phases[-1].rate_end
