"""Memory profiles: the leak verdict, and a real profile of a leaking and a sound router."""

from __future__ import annotations

import pytest

from bench.memory import profiles as memory
from bench.memory.probe import run_child
from bench.routers.null import NullRouter
from events import Ack, Event

LEAKY = "tests.bench.memory.test_memory:LeakyRouter"


class LeakyRouter(NullRouter):
    """The harness's NullRouter, keeping a 512-byte record of every event it ever saw."""

    def __init__(self, config: object = None) -> None:
        super().__init__(config)
        self.kept: list[bytes] = []

    def publish(self, event: Event) -> Ack:
        self.kept.append(bytes(512))
        return super().publish(event)


def test_steady_growth_beyond_threshold_is_a_leak() -> None:
    """10 KiB more after every iteration, with a little noise, is a leak at a 4 KiB threshold."""
    traced = [50_000 + 10_240 * i + (i % 2) * 300 for i in range(8)]
    verdict = memory.leak_verdict(traced, 4096.0)
    assert (verdict.leak, round(verdict.slope / 1024)) == (True, 10)


def test_flat_heap_after_warm_up_is_no_leak() -> None:
    """A first iteration that fills caches, then a flat heap, is no leak."""
    traced = [400_000, 900_000, 900_400, 899_800, 900_100, 900_300, 899_900]
    verdict = memory.leak_verdict(traced, 4096.0)
    assert (verdict.leak, verdict.high < 4096.0) == (False, True)


def test_too_few_iterations_are_refused() -> None:
    """Three iterations cannot give a slope CI once the first is left out."""
    with pytest.raises(memory.MemoryProfileError, match="at least 4"):
        memory.leak_verdict([1, 2, 3], 4096.0)


def test_threshold_scales_with_events() -> None:
    """The threshold is one byte per event, never under 4 KiB."""
    assert (memory.threshold_for(100), memory.threshold_for(50_000)) == (4096.0, 50_000.0)


def test_profile_finds_the_leaking_router_and_clears_the_sound_one() -> None:
    """Profiled in this process, the leaking router is a leak, the plain NullRouter is not."""
    verdicts = {}
    for arch in (LEAKY, "null"):
        profile = run_child(arch, "light", "steady", 1, 5, 0.2, 200.0)
        verdicts[arch] = profile.verdict.leak
        assert profile.buffered_events > 0
        assert profile.top_sites
    assert verdicts == {LEAKY: True, "null": False}
