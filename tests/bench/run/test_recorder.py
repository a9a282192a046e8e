"""Completion stamps: the bench's handlers record successful deliveries only."""

from __future__ import annotations

import pytest

from bench.run.recorder import Recorder, noop_services, sim_services
from events import Category, Event

pytestmark = pytest.mark.anyio


def _event(seq: int) -> Event:
    return Event(id=f"e{seq}", subject="fs.file.created", category=Category.FILESYSTEM,
                 source="test", seq=seq)  # fmt: skip


async def test_noop_handler_records_each_call_in_order() -> None:
    """The floor's handler records every event it gets, stamps never decreasing."""
    recorder = Recorder()
    [(sub, handler)] = noop_services(recorder.record)
    for seq in (3, 1, 2):
        await handler(_event(seq))
    seqs, stamps = recorder.arrays(t0_ns=0)
    assert (sub.pattern, seqs.tolist(), len(recorder)) == (">", [3, 1, 2], 3)
    assert stamps.tolist() == sorted(stamps.tolist())


async def test_arrays_are_relative_to_the_start() -> None:
    """Completion times come back as nanoseconds after the run's t0."""
    recorder = Recorder()
    recorder.record(_event(0))
    t0 = recorder.stamps[0] - 5
    _, stamps = recorder.arrays(t0_ns=t0)
    assert stamps.tolist() == [5]


async def test_sim_handlers_record_through_the_recorder() -> None:
    """Every simulated service's handler stamps its successful calls with ``record``."""
    recorder = Recorder()
    services = sim_services("medium", 1, recorder.record)
    [audit] = [handler for sub, handler in services if sub.service == "audit"]
    for seq in range(3):
        await audit(_event(seq))
    assert recorder.seqs == [0, 1, 2]
