"""The event-loop lag watchdog behind ``/healthz``: how late does a timed sleep wake?"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from daemon.server.config import HealthConfig


class LagWatchdog:
    """Sleeps ``tick_s`` in a loop and records the overshoot of each wake-up."""

    def __init__(self, config: HealthConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.clock = clock
        self.lag_s = 0.0
        self.max_lag_s = 0.0
        self.ticks = 0

    def observe_nowait(self, lag_s: float) -> None:
        self.lag_s = max(0.0, lag_s)
        self.max_lag_s = max(self.max_lag_s, self.lag_s)
        self.ticks += 1

    @property
    def healthy(self) -> bool:
        return self.lag_s <= self.config.lag_threshold_s

    async def run(self) -> None:
        while True:
            tick = self.config.tick_s
            start = self.clock()
            await asyncio.sleep(tick)
            self.observe_nowait(self.clock() - start - tick)
