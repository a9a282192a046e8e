"""The concurrency sweep: the registry hook, the points it measures and the USL analysis."""

from __future__ import annotations

import numpy as np
import pytest

from bench.analysis.usl import usl
from bench.architectures import ArchitectureError, make
from bench.commands.scalability import parse_levels
from bench.experiments.scalability import (
    ConcurrencyRouter,
    Point,
    analyse,
    arch_at,
    parse_arch_at,
    sweep,
)
from bench.run import worker
from bench.schema import RunResult, RunSpec
from events import Ack, DrainReport, Event, Handler, RouterStats, Subscription
from events.errors import ConfigError


class Recording:
    """Records what it is subscribed with; enough of a router for the wrapper's test."""

    def __init__(self) -> None:
        self.subs: list[Subscription] = []

    def subscribe(self, sub: Subscription, handler: Handler) -> None:
        self.subs.append(sub)

    async def start(self) -> None:
        return None

    def publish(self, event: Event) -> Ack:
        return Ack.accepted()

    async def drain(self, timeout_s: float) -> DrainReport:
        raise NotImplementedError

    def stats(self) -> RouterStats:
        raise NotImplementedError


async def _noop(event: Event) -> None:
    return None


def test_every_subscription_gets_the_swept_concurrency() -> None:
    """The wrapper passes each subscription on with concurrency N, all else unchanged."""
    inner = Recording()
    router = ConcurrencyRouter(inner, 7)  # type: ignore[arg-type]
    router.subscribe(Subscription(service="a", pattern="db.>", mailbox=5), _noop)
    assert [(s.concurrency, s.mailbox, s.pattern) for s in inner.subs] == [(7, 5, "db.>")]


def test_registry_names_build_the_wrapped_architecture() -> None:
    """The registry name of null at 4 builds a ConcurrencyRouter at 4 around the null router."""
    router = make(arch_at("null", 4))
    assert isinstance(router, ConcurrencyRouter)
    assert (router.concurrency, type(router.inner).__name__) == (4, "NullRouter")


@pytest.mark.parametrize("name", ["daemon", "daemon@", "@4", "daemon@0", "daemon@x"])
def test_bad_level_names_are_refused(name: str) -> None:
    """A name without a positive level raises ArchitectureError saying the form."""
    with pytest.raises(ArchitectureError, match="<architecture>@<concurrency>"):
        parse_arch_at(name)


def test_levels_parse_and_bad_levels_are_refused() -> None:
    """'1,2,4' gives (1, 2, 4); zero, repeats or words raise ConfigError."""
    assert parse_levels("1, 2,4") == (1, 2, 4)
    for bad in ("0,1", "2,2", "a"):
        with pytest.raises(ConfigError, match="--levels"):
            parse_levels(bad)


def points_on_usl(sigma: float, kappa: float, levels: tuple[int, ...]) -> list[Point]:
    x = usl(np.asarray(levels, dtype=np.float64), 1000.0, sigma, kappa)
    noise = 1.0 + 0.01 * np.sin(np.arange(len(levels)) * 2.1)
    return [
        Point("a", n, float(t), 1e9, 0.0, 0.0, True, False, ())
        for n, t in zip(levels, x * noise, strict=True)
    ]


def test_usl_parameters_are_recovered_from_clean_points() -> None:
    """Points on sigma 0.05, kappa 0.002 (1% wiggle) fit back within their CIs, N* ~ 22."""
    scaling = analyse("a", points_on_usl(0.05, 0.002, (1, 2, 4, 8, 16, 32)), resamples=200)
    fit = scaling.fit
    assert fit is not None
    assert (fit.sigma_ci[0] <= 0.05 <= fit.sigma_ci[1]) is True
    assert abs(fit.n_star - 21.8) / 21.8 < 0.2
    assert scaling.notes == ()


def test_extrapolated_peak_is_flagged() -> None:
    """A curve still rising at N = 8 puts N* beyond the measured range: the note says so."""
    scaling = analyse("a", points_on_usl(0.02, 0.0005, (1, 2, 4, 8)), resamples=200)
    assert scaling.fit is not None
    assert any("extrapolation" in note for note in scaling.notes)


def test_invalid_and_load_limited_points_stay_out_of_the_fit() -> None:
    """Invalid and load-capped points are named in notes; too few left means no fit."""
    points = points_on_usl(0.05, 0.002, (1, 2, 4, 8))
    points[2] = Point("a", 4, 3000.0, 3000.0, 0.0, 0.0, True, True, ())
    points[3] = Point("a", 8, 3000.0, 9000.0, 0.0, 0.0, False, False, ("dispatch_lag: late",))
    scaling = analyse("a", points, resamples=200)
    assert scaling.fit is None
    assert [n.split(":")[0] for n in scaling.notes] == [
        "1 of 4 points left out (invalid)",
        "at concurrency 4 throughput reached the offered load",
        "no USL fit",
    ]


def test_sweep_measures_each_level_of_each_architecture() -> None:
    """A sweep of null at N = 1, 2 runs the worker twice and records each level's run."""
    seen: list[str] = []

    def launch(spec: RunSpec, timeout_s: float) -> RunResult:
        seen.append(spec.arch)
        return worker.run(spec)

    base = RunSpec(arch="null", profile="light", pattern="steady", seed=1, duration_s=0.3,
                   base_rate=300.0, services="noop")  # fmt: skip
    points = sweep(["null"], (1, 2), base, launch=launch)
    assert seen == [arch_at("null", 1), arch_at("null", 2)]
    assert [p.concurrency for p in points["null"]] == [1, 2]
    assert all(p.throughput_dps > 0 for p in points["null"]) is True
