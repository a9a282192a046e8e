"""The duplicate-id window: resends within the window are not routed, memory stays bounded."""

from __future__ import annotations

from daemon.server.duplicates import ENTRY_OVERHEAD, DuplicateWindow
from events import Ack, Category, Event


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def ev(event_id: str) -> Event:
    return Event(id=event_id, subject="fs.a", category=Category.FILESYSTEM, source="t")


def test_a_resend_within_the_window_is_a_duplicate_and_after_it_is_routed() -> None:
    """Same id: refused as duplicate inside the window, routed again once it has passed."""
    clock = Clock()
    window = DuplicateWindow(10.0, clock=clock)
    routed: list[str] = []

    def publish(event: Event) -> Ack:
        routed.append(event.id)
        return Ack.accepted()

    first = window.publish_nowait([ev("a"), ev("b"), ev("a")], publish)
    clock.now += 9.0
    again = window.publish_nowait([ev("a")], publish)
    clock.now += 1.0
    later = window.publish_one_nowait(ev("a"), publish)
    assert ([e.id for e in first[0]], first[1], [e.id for e in first[2]]) == (["a", "b"], [], ["a"])
    assert ([e.id for e in again[0]], [e.id for e in again[2]]) == ([], ["a"])
    assert (later is not None and later.ok, routed, window.duplicates) == (True, ["a", "b", "a"], 2)


def test_a_refused_event_does_not_enter_the_window() -> None:
    """An id the router refused (503) can be resent and routed: only acceptance is remembered."""
    window = DuplicateWindow(10.0, clock=Clock())
    refused = window.publish_nowait([ev("a")], lambda e: Ack.rejected("overloaded"))
    taken = window.publish_nowait([ev("a")], lambda e: Ack.accepted())
    assert (
        [(i, ack.reason) for i, ack in refused[1]],
        [e.id for e in taken[0]],
    ) == ([(0, "overloaded")], ["a"])


def test_forgotten_ids_route_again() -> None:
    """An acceptance that did not become durable is forgotten: the resend is routed."""
    window = DuplicateWindow(10.0, clock=Clock())
    window.publish_nowait([ev("a")], lambda e: Ack.accepted())
    window.forget_nowait(["a"])
    assert [e.id for e in window.publish_nowait([ev("a")], lambda e: Ack.accepted())[0]] == ["a"]


def test_memory_is_bounded_by_entries_and_bytes_and_early_forgetting_is_counted() -> None:
    """Past max_ids or max_bytes the oldest ids go first, counted as shortened."""
    clock = Clock()
    by_ids = DuplicateWindow(100.0, max_ids=3, clock=clock)
    by_bytes = DuplicateWindow(100.0, max_bytes=2 * (ENTRY_OVERHEAD + 2), clock=clock)
    for window in (by_ids, by_bytes):
        window.publish_nowait([ev(f"e{i}") for i in range(5)], lambda e: Ack.accepted())
    assert (len(by_ids), by_ids.shortened, len(by_bytes), by_bytes.shortened) == (3, 2, 2, 3)
    assert (by_ids.contains_nowait("e1", clock.now), "e4" in by_bytes) == (False, True)


def test_expired_entries_leave_memory() -> None:
    """Ids older than the window are dropped at the next publish: size and bytes return to one."""
    clock = Clock()
    window = DuplicateWindow(1.0, clock=clock)
    window.publish_nowait([ev(f"e{i}") for i in range(100)], lambda e: Ack.accepted())
    clock.now += 2.0
    window.publish_nowait([ev("z")], lambda e: Ack.accepted())
    assert (len(window), window.bytes, window.shortened) == (1, ENTRY_OVERHEAD + 1, 0)


def test_a_server_made_id_is_remembered_once_accepted_and_not_when_refused() -> None:
    """publish_new_nowait (ids the ingress made, never looked up) still fills the window:
    an accepted id's resend is a duplicate, a refused id's resend is routed, bounds hold."""
    clock = Clock()
    window = DuplicateWindow(10.0, max_ids=2, clock=clock)
    answers = iter([Ack.accepted(), Ack.rejected("overloaded"), Ack.accepted(), Ack.accepted()])

    def publish(event: Event) -> Ack:
        return next(answers)

    acks = [window.publish_new_nowait(ev(i), publish) for i in ("m1", "m2", "m3")]
    resent_refused = window.publish_one_nowait(ev("m2"), publish)
    resent_accepted = window.publish_one_nowait(ev("m3"), publish)
    assert [a.ok for a in acks] == [True, False, True]
    assert (resent_refused, resent_accepted) == (Ack.accepted(), None)
    assert (len(window), window.shortened, "m1" in window) == (2, 1, False)
