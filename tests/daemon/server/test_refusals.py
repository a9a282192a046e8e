"""The readiness intake signal: refused share of ingress requests over a sliding span."""

from __future__ import annotations

from daemon.server.refusals import RefusalWindow, ingress_counts


def test_most_requests_refused_over_the_span_is_refusing_and_it_recovers() -> None:
    """Above the ratio with enough requests: a reason; once the span has passed: none."""
    window = RefusalWindow(span_s=10.0, ratio=0.5, min_requests=20)
    window.observe_nowait(0.0, 0, 0)
    window.observe_nowait(5.0, 100, 90)
    refusing = window.refusing_nowait()
    window.observe_nowait(16.0, 200, 90)  # 100 more, none refused, the old burst aged out
    recovered = window.refusing_nowait()
    assert ("90 of 100" in refusing, recovered) == (True, "")


def test_few_requests_or_a_minority_refused_is_not_refusing() -> None:
    """Under min_requests, or at most the ratio refused: no reason."""
    few = RefusalWindow(min_requests=20)
    few.observe_nowait(0.0, 0, 0)
    few.observe_nowait(1.0, 19, 19)
    half = RefusalWindow(ratio=0.5)
    half.observe_nowait(0.0, 0, 0)
    half.observe_nowait(1.0, 100, 50)
    assert (few.refusing_nowait(), half.refusing_nowait()) == ("", "")


def test_ingress_counts_only_the_intake_routes_and_refusal_codes() -> None:
    """429 and 503 on the event routes count as refused; 422 and other routes do not."""
    http = {("events", 202): 5, ("events", 503): 3, ("events:batch", 429): 2, ("events", 422): 4}
    http[("readyz", 503)] = 7
    assert ingress_counts(http, frozenset({"events", "events:batch"})) == (14, 5)
