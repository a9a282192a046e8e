"""The open-loop generator: publishes each pre-built event when its intended time comes.

Completions never pace sends (open loop). Every event whose intended time has
come is published, in batches of at most ``MAX_BATCH`` each stamped with its
dispatch time; the clock reading that ends one batch begins the next, one read
per batch. Then the generator waits for the next intended time: on a timerfd
when it has one (see :mod:`bench.run.waker`), otherwise a timed sleep when the next
event is more than ``SPIN_NS`` away; closer than that it polls the clock,
giving the event loop a ``sleep(0)`` turn at least every ``YIELD_EVERY_NS``.
Rejections are counted by reason and kept per event so phases can report them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

import numpy as np

from bench.run.histograms import Int64s
from bench.run.waker import TimerfdWaker
from events import Ack, Event

#: Closer than this, poll instead of sleeping (uvloop timers resolve ~1 ms).
SPIN_NS = 1_500_000
#: With a timerfd, a wake-up costs tens of microseconds; closer than this, poll
#: (polling burns CPU the run is charged for, so the window stays small).
TIMERFD_SPIN_NS = 20_000
#: While polling, the generator polls the clock and gives the event loop a turn
#: (``sleep(0)``) at least this often: a loop turn costs more than an event at
#: high rates, and the routers' workers still run every half millisecond.
YIELD_EVERY_NS = 500_000
#: A batch gets one dispatch stamp; a generator that fell behind would otherwise
#: stamp thousands of events with the time it started publishing them.
MAX_BATCH = 64


class GeneratorLog:
    """What the generator did; dispatch times are ns after the run's start ``t0_ns``."""

    def __init__(self, t0_ns: int) -> None:
        self.t0_ns = t0_ns
        self.batch_end: list[int] = []
        self.batch_t: list[int] = []
        self.rejected_seq: list[int] = []
        self.rejected: dict[str, int] = {}
        self.published = 0
        self.accepted = 0
        self.finished_ns = 0
        #: Time spent inside ``publish`` calls: the generator's busy time. With
        #: ``null`` and a handler that returns at once it is the harness's whole
        #: cost per event; divided by the window it is how loaded the loop was.
        self.publish_ns = 0

    def dispatch_ns(self) -> Int64s:
        """The dispatch time of every published event, by index."""
        ends = np.asarray(self.batch_end, dtype=np.int64)
        counts = np.diff(ends, prepend=0)
        return np.repeat(np.asarray(self.batch_t, dtype=np.int64), counts)

    def accepted_mask(self) -> np.ndarray:
        """True for each published event the router accepted."""
        mask = np.ones(self.published, dtype=bool)
        if self.rejected_seq:
            mask[np.asarray(self.rejected_seq, dtype=np.int64)] = False
        return mask


async def run_open_loop(
    publish: Callable[[Event], Ack],
    events: Sequence[Event],
    offsets: Sequence[int],
    t0_ns: int,
    waker: TimerfdWaker | None = None,
    log: GeneratorLog | None = None,
) -> GeneratorLog:
    """Publish ``events[i]`` at ``t0_ns + offsets[i]``; return the log (``log`` when
    given, so a monitor can watch it grow).

    ``offsets`` must be sorted; ``events[i].seq`` is assumed to be ``i``.
    """
    log = GeneratorLog(t0_ns) if log is None else log
    clock = time.perf_counter_ns
    batch_end = log.batch_end.append
    batch_t = log.batch_t.append
    rejected_seq = log.rejected_seq.append
    rejected = log.rejected
    spin_ns = TIMERFD_SPIN_NS if waker is not None else SPIN_NS
    n = len(events)
    i = 0
    busy = 0
    now = clock() - t0_ns
    last_yield = now
    while i < n:
        j = i
        limit = i + MAX_BATCH
        if limit > n:
            limit = n
        while j < limit and offsets[j] <= now:
            ack = publish(events[j])
            if not ack.ok:
                rejected_seq(j)
                rejected[ack.reason] = rejected.get(ack.reason, 0) + 1
            j += 1
        if j > i:
            batch_end(j)
            batch_t(now)
            i = j
            # The clock read that ends this batch also begins the next one.
            after = clock() - t0_ns
            busy += after - now
            now = after
            if i == n:
                break
        else:
            # Nothing was due at the last reading: read the clock again.
            now = clock() - t0_ns
        wait = offsets[i] - now
        if wait <= spin_ns:
            if now - last_yield < YIELD_EVERY_NS:
                continue  # microseconds away: poll the clock, not the whole loop
            await asyncio.sleep(0)
        elif waker is not None:
            await waker.wait_until(t0_ns + offsets[i])
        else:
            await asyncio.sleep((wait - SPIN_NS // 2) / 1e9)
        now = last_yield = clock() - t0_ns
    log.publish_ns = busy
    log.published = n
    log.accepted = n - len(log.rejected_seq)
    log.finished_ns = clock() - t0_ns
    return log
