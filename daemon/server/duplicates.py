"""The duplicate-id window: an id accepted in the last ``window_s`` is not routed again.

Like JetStream's ``Nats-Msg-Id`` de-duplication window: a client that resends an
event (it timed out waiting for the 202, or retries after a crash) is answered
202 with the id under ``"duplicates"`` instead of having it delivered twice. Only
ids the router *accepted* enter the window, so an event refused with 503 can be
resent with the same id. The journal replay seeds the window with the stamps of
the events it replays, so the rule holds across a crash.

Memory is bounded twice: by ``max_ids`` entries and by ``max_bytes`` (an estimate
of the id string plus the bookkeeping per entry). When a bound is hit the oldest
ids are forgotten before their window ends; that is counted (``shortened``), since
a resend of one of them would then be routed again.

Pure synchronous state with an injectable wall clock (seconds): journal stamps are
wall-clock, and replay must compare them with the ingress's.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping

from events.model import Ack, Event

#: Bytes an entry costs besides its id's characters: a dict slot, a deque slot, a
#: float and a tuple, and the str header (measured with sys.getsizeof, rounded up).
ENTRY_OVERHEAD = 160


class DuplicateWindow:
    """Ids accepted within the last ``window_s`` seconds, oldest first, bounded."""

    def __init__(
        self,
        window_s: float,
        *,
        max_ids: int = 1_000_000,
        max_bytes: int = 128 * 1024 * 1024,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if window_s < 0:
            raise ValueError(f"window_s must be >= 0, got {window_s}")
        if max_ids < 1 or max_bytes < 1:
            raise ValueError("max_ids and max_bytes must be >= 1")
        self.window_s = window_s
        self.max_ids = max_ids
        self.max_bytes = max_bytes
        self.clock = clock
        self._at: dict[str, float] = {}
        #: The remembered ids, read-only for callers (the ingress checks the ids it makes).
        self.remembered: Mapping[str, float] = self._at
        # Two parallel deques, not one of tuples: a tuple per id would be a GC-tracked
        # allocation per accepted event, which the collector then keeps walking.
        self._times: deque[float] = deque()
        self._ids: deque[str] = deque()
        self.bytes = 0
        self.duplicates = 0  # resends refused (counted by the caller's metric)
        self.shortened = 0  # ids forgotten early because a bound was hit

    def __len__(self) -> int:
        return len(self._at)

    def _pop_oldest_nowait(self) -> None:
        at, event_id = self._times.popleft(), self._ids.popleft()
        self.bytes -= len(event_id) + ENTRY_OVERHEAD
        if self._at.get(event_id) == at:
            del self._at[event_id]

    def expire_nowait(self, now: float) -> None:
        """Forget ids accepted more than ``window_s`` before ``now``."""
        times, horizon = self._times, now - self.window_s
        while times and times[0] <= horizon:
            self._pop_oldest_nowait()

    def contains_nowait(self, event_id: str, now: float) -> bool:
        """True if ``event_id`` was accepted within the window before ``now``."""
        at = self._at.get(event_id)
        return at is not None and now - at < self.window_s

    def add_nowait(self, event_id: str, at: float) -> None:
        """Record ``event_id`` as accepted at ``at`` (evicting the oldest past a bound)."""
        self._at[event_id] = at
        self._times.append(at)
        self._ids.append(event_id)
        self.bytes += len(event_id) + ENTRY_OVERHEAD
        self._shorten_nowait()

    def _shorten_nowait(self) -> None:
        """Forget the oldest ids while a bound is exceeded, counting each as shortened."""
        while self.bytes > self.max_bytes or len(self._ids) > self.max_ids:
            self._pop_oldest_nowait()
            self.shortened += 1

    def forget_nowait(self, ids: Iterable[str]) -> None:
        """Let ``ids`` be accepted again (their acceptance did not become durable)."""
        for event_id in ids:
            self._at.pop(event_id, None)  # the deque entry expires on its own

    def __contains__(self, event_id: object) -> bool:
        """True if ``event_id`` is remembered at all (perhaps just past its window)."""
        return event_id in self._at

    def publish_one_nowait(self, event: Event, publish: Callable[[Event], Ack]) -> Ack | None:
        """Publish ``event`` unless its id is in the window; None: it is a duplicate."""
        now = self.clock()
        if self._times and self._times[0] <= now - self.window_s:
            self.expire_nowait(now)
        at = self._at.get(event.id)
        if at is not None and now - at < self.window_s:
            self.duplicates += 1
            return None
        ack = publish(event)
        if ack.ok:
            self.add_nowait(event.id, now)
        return ack

    def publish_new_nowait(self, event: Event, publish: Callable[[Event], Ack]) -> Ack:
        """Publish ``event``, whose id is in no window (the ingress made it), and record it.

        The window lookup is skipped: the ingress makes each id once and checks it
        against :attr:`remembered` first (a client may have sent it).
        """
        now = self.clock()
        if self._times and self._times[0] <= now - self.window_s:
            self.expire_nowait(now)
        ack = publish(event)
        if ack.ok:
            # add_nowait inlined: this runs once per single-event request.
            event_id = event.id
            self._at[event_id] = now
            self._times.append(now)
            self._ids.append(event_id)
            self.bytes += len(event_id) + ENTRY_OVERHEAD
            if self.bytes > self.max_bytes or len(self._ids) > self.max_ids:
                self._shorten_nowait()
        return ack

    def publish_nowait(
        self, events: list[Event], publish: Callable[[Event], Ack]
    ) -> tuple[list[Event], list[tuple[int, Ack]], list[Event]]:
        """Publish each event not seen within the window; record the accepted ones.

        Answers (accepted events, (index, ack) of those the router refused, events
        refused as duplicates, in order). A batch naming one id twice routes it once.
        """
        now = self.clock()
        self.expire_nowait(now)
        at, window_s = self._at, self.window_s
        times_append, ids_append = self._times.append, self._ids.append
        taken: list[Event] = []
        refused: list[tuple[int, Ack]] = []
        duplicates: list[Event] = []
        id_bytes = 0
        # add_nowait inlined, its bounds checked once after the loop: this runs per event.
        for index, event in enumerate(events):
            event_id = event.id
            seen = at.get(event_id)
            if seen is not None and now - seen < window_s:
                duplicates.append(event)
                continue
            ack = publish(event)
            if ack.ok:
                taken.append(event)
                at[event_id] = now
                times_append(now)
                ids_append(event_id)
                id_bytes += len(event_id)
            else:
                refused.append((index, ack))
        self.bytes += id_bytes + ENTRY_OVERHEAD * len(taken)
        while self.bytes > self.max_bytes or len(self._ids) > self.max_ids:
            self._pop_oldest_nowait()
            self.shortened += 1
        self.duplicates += len(duplicates)
        return taken, refused, duplicates
