"""One delivery's life, shared by both routers so they differ only in topology.

A :class:`Pipeline` holds one subscription's handler, breaker, retry policy and
counters (the coordinator keeps one per module it registers the subscription
in). :meth:`Pipeline.run` takes a delivery through breaker, attempts, timeout,
backoff and, when it gives up, the dead-letter store, and ends it exactly once.

Timeouts: wrapping every call in ``asyncio.timeout`` costs microseconds per
delivery (a timer handle each), more than routing itself. Instead a worker
stamps a deadline in its :class:`WorkerSlot` before awaiting the handler, and a
:class:`TimeoutWatchdog` ticking every ``tick_s`` cancels a worker whose
deadline passed. A timeout therefore fires between ``timeout_s`` and
``timeout_s + tick_s`` after the call began.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable

from events.backoff import backoff_delay, default_uniform
from events.breaker import Breaker
from events.errors import HandlerTimeout, Permanent
from events.model import DeadLetter, Event, SubscriptionStats
from events.subscription import Subscription

Handler = Callable[[Event], Awaitable[None]]

#: Dead-letter and drop reasons.
DL_FAILED = "failed"
DL_TIMEOUT = "timeout"
DL_PERMANENT = "permanent"
DL_BREAKER_OPEN = "breaker_open"
DL_OVERFLOW = "overflow"
DL_DRAIN_TIMEOUT = "drain_timeout"
DROP_OVERFLOW = "overflow"


class DeadLetterStore:
    """A bounded in-memory store; the oldest entry is evicted (and counted) when full.

    ``sink``, when set, is handed every entry as it is added (the daemon's
    dead-letter file), so the store itself need only be a view of recent ones.
    """

    def __init__(self, capacity: int = 10_000) -> None:
        if capacity < 1:
            raise ValueError(f"dead-letter capacity must be >= 1, got {capacity}")
        self.entries: deque[DeadLetter] = deque(maxlen=capacity)
        self.evicted = 0
        self.sink: Callable[[DeadLetter], None] | None = None

    def add(self, entry: DeadLetter) -> None:
        if len(self.entries) == self.entries.maxlen:
            self.evicted += 1
        self.entries.append(entry)
        if self.sink is not None:
            self.sink(entry)

    def __len__(self) -> int:
        return len(self.entries)


class WorkerSlot:
    """What the watchdog needs to know of one worker task: its deadline, if busy.

    ``deadline`` is 0.0 when idle, the clock time a handler must finish by, or
    ``-timeout_s`` for a delivery begun without reading the clock: the watchdog
    then stamps it (``now + timeout_s``) the first time it sees it.
    ``run`` numbers the worker's current run of deliveries (0 while it waits for
    work), for a router that proves deliveries ended without being told of each end.
    """

    __slots__ = ("deadline", "run", "task", "timed_out")

    def __init__(self) -> None:
        self.deadline = 0.0
        self.timed_out = False
        self.task: asyncio.Task[None] | None = None
        self.run = 0


class TimeoutWatchdog:
    """Cancels workers whose handler ran past its deadline. One per router."""

    def __init__(self, tick_s: float = 0.01, clock: Callable[[], float] = time.monotonic):
        self.tick_s = tick_s
        self.clock = clock
        self.slots: list[WorkerSlot] = []
        self.fired = 0

    def check_nowait(self) -> int:
        """Cancel every overdue worker now; return how many."""
        now = self.clock()
        fired = 0
        for slot in self.slots:
            deadline = slot.deadline
            if not deadline:
                continue
            if deadline < 0.0:
                # Unstamped (``-timeout_s``): the delivery began since the last look, at
                # ``now`` at the latest, so its timeout counts from now: never early, and
                # late by at most the time since it began (about a tick).
                slot.deadline = now - deadline
                continue
            if now >= deadline and not slot.timed_out:
                if slot.task is None or slot.task.done():
                    continue
                slot.timed_out = True
                slot.task.cancel()
                fired += 1
        self.fired += fired
        return fired

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.tick_s)
            self.check_nowait()


async def failed_attempt(exc: BaseException) -> None:
    """An attempt that already raised ``exc``: give it to :meth:`Pipeline.run` as ``first``.

    A worker that ran a first attempt inline (its hot path) hands a failure over
    this way, so the failure is judged by the one copy of the rules in ``run``.
    """
    raise exc


class Pipeline:
    """Breaker, attempts, timeout, backoff and counters of one subscription (copy)."""

    __slots__ = (
        "breaker",
        "clock",
        "dead_lettered",
        "dead_letters",
        "deliveries",
        "dropped",
        "handler",
        "module",
        "other_delivered",
        "retries",
        "sub",
        "timeout_s",
        "uniform",
    )

    def __init__(
        self,
        sub: Subscription,
        handler: Handler,
        dead_letters: DeadLetterStore,
        *,
        module: str = "",
        seed: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sub = sub
        self.timeout_s = sub.timeout_s
        self.handler = handler
        self.dead_letters = dead_letters
        self.module = module
        self.clock = clock
        self.breaker = Breaker(sub.breaker, clock)
        self.uniform = default_uniform(seed)
        self.deliveries = 0
        #: Deliveries ended delivered but not counted in ``breaker.closed_successes``
        #: (a success while the breaker was not closed, or a caller that counts
        #: ``delivered`` itself): see :attr:`delivered`.
        self.other_delivered = 0
        self.retries = 0
        self.dead_lettered: dict[str, int] = {}
        self.dropped: dict[str, int] = {}

    @property
    def delivered(self) -> int:
        """Deliveries ended delivered.

        A success while the breaker is closed is counted once, in
        ``breaker.closed_successes`` (which never decreases): the workers' hot path
        pays one counter for the breaker and ``delivered`` together. Every other
        success is in :attr:`other_delivered`. Assigning sets that part, so
        ``pipeline.delivered += 1`` counts one success of the other kind.
        """
        return self.other_delivered + self.breaker.closed_successes

    @delivered.setter
    def delivered(self, value: int) -> None:
        self.other_delivered = value - self.breaker.closed_successes

    @property
    def ended(self) -> int:
        return self.delivered + sum(self.dead_lettered.values()) + sum(self.dropped.values())

    def dead_letter_nowait(self, event: Event, reason: str, attempts: int, error: str = "") -> None:
        """End a delivery as dead-lettered."""
        self.dead_lettered[reason] = self.dead_lettered.get(reason, 0) + 1
        self.dead_letters.add(DeadLetter(event, self.sub.service, reason, attempts, error))

    def drop_nowait(self, reason: str) -> None:
        """End a delivery as dropped (the event itself is let go)."""
        self.dropped[reason] = self.dropped.get(reason, 0) + 1

    async def run(
        self, event: Event, slot: WorkerSlot, first: Awaitable[None] | None = None
    ) -> None:
        """Take one delivery to its end: delivered or dead-lettered, exactly once.

        A cancellation that is not the watchdog's (drain gave up) ends the
        delivery as ``drain_timeout`` (with the attempts made so far) and
        propagates. One coroutine, not two: a nested coroutine per delivery
        costs about as much as the breaker and the clock read together.

        ``first`` is a first attempt the caller already began (admitted by a
        closed breaker): it is awaited as attempt 1 instead of a new call.
        """
        attempt = 0
        try:
            sub = self.sub
            breaker = self.breaker
            max_attempts = sub.retry.attempts
            error: BaseException | None = None
            while attempt < max_attempts:
                # allow() is always true when closed; skip the call on the hot path.
                while first is None and breaker.state != "closed" and not breaker.allow():
                    if sub.breaker.on_open == "dead_letter":
                        self.dead_letter_nowait(event, DL_BREAKER_OPEN, attempt, "breaker open")
                        return
                    await asyncio.sleep(breaker.retry_after())
                attempt += 1
                slot.deadline = self.clock() + self.timeout_s
                try:
                    if first is None:
                        await self.handler(event)
                    else:
                        begun, first = first, None
                        await begun
                except asyncio.CancelledError as exc:
                    slot.deadline = 0.0
                    if slot.timed_out:
                        self.forgive_timeout(slot)
                        error = HandlerTimeout(f"handler ran past {sub.timeout_s}s")
                    else:
                        task = slot.task or asyncio.current_task()
                        if task is None or task.cancelling():
                            raise  # drain gave up on this worker
                        # Nobody cancelled us: the handler raised it itself, a failed attempt.
                        error = exc
                except Permanent as exc:
                    slot.deadline = 0.0
                    breaker.on_failure()
                    self.dead_letter_nowait(event, DL_PERMANENT, attempt, repr(exc))
                    return
                except Exception as exc:
                    slot.deadline = 0.0
                    error = exc
                else:
                    slot.deadline = 0.0
                    if slot.timed_out:
                        # The handler swallowed our cancellation and finished: it counts.
                        self.forgive_timeout(slot)
                    if breaker.state == "closed":
                        # on_success(), deferred; also counts it delivered (``delivered``).
                        breaker.closed_successes += 1
                    else:
                        breaker.on_success()
                        self.other_delivered += 1
                    return
                breaker.on_failure()
                if attempt < max_attempts:
                    self.retries += 1
                    await asyncio.sleep(backoff_delay(sub.retry, attempt, self.uniform))
            reason = DL_TIMEOUT if isinstance(error, HandlerTimeout) else DL_FAILED
            self.dead_letter_nowait(event, reason, attempt, repr(error))
        except asyncio.CancelledError:
            slot.deadline = 0.0
            self.dead_letter_nowait(event, DL_DRAIN_TIMEOUT, attempt, "cancelled while in flight")
            raise

    @staticmethod
    def forgive_timeout(slot: WorkerSlot) -> None:
        """A handler the watchdog cancelled finished anyway: take the cancellation back."""
        slot.timed_out = False
        if slot.task is not None:
            slot.task.uncancel()

    def stats(self, depth: int, in_flight: int) -> SubscriptionStats:
        return SubscriptionStats(
            service=self.sub.service,
            pattern=self.sub.pattern,
            module=self.module,
            depth=depth,
            in_flight=in_flight,
            breaker=self.breaker.state,
            deliveries=self.deliveries,
            delivered=self.delivered,
            dead_lettered=sum(self.dead_lettered.values()),
            dropped=sum(self.dropped.values()),
            retries=self.retries,
        )
